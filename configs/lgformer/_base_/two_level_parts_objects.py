# A two-level part/object dataset as LGFormer trains on it (arXiv 2409.01353): the image, its
# part label map (fine, gt_sem_seg) and its object label map (coarse, gt_coarse_sem_seg) in
# parallel folders. Users bring the data as PNG label maps (label = class index, 255 = ignore):
#   <data_root>/images/{train,val}/<name>.jpg
#   <data_root>/parts/{train,val}/<name>.png     (0 = background)
#   <data_root>/objects/{train,val}/<name>.png   (0 = background)
# Training pipeline of the recipe: RandomResize 2048x512 x0.5-2.0, 512x512 crop with
# cat_max_ratio 0.75, flip, photometric distortion.
dataset_type = 'BaseSegDataset'
data_root = 'data/partimagenet'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='LoadExtraSegMap', replace=('parts', 'objects')),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(512, 512), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputsWithMaps'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='LoadExtraSegMap', replace=('parts', 'objects')),
    dict(type='PackSegInputsWithMaps'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        img_suffix='.jpg',
        seg_map_suffix='.png',
        data_prefix=dict(img_path='images/train', seg_map_path='parts/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        img_suffix='.jpg',
        seg_map_suffix='.png',
        data_prefix=dict(img_path='images/val', seg_map_path='parts/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

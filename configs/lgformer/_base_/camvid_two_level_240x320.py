# CamVid at two label levels for the CPU hierarchy runs: the 11 classes (fine) and 7
# Cityscapes-style categories (coarse) through mmsp.datasets.CAMVID_FINE_TO_COARSE (flat: Road,
# Pavement; construction: Building, Fence; object: Pole, SignSymbol; nature: Tree; sky: Sky;
# human: Pedestrian, Bicyclist; vehicle: Car). Images are used at half size, 320x240 (train:
# random scale x1-2 then 240x320 crops; val: the whole 320x240 image, metrics at 480x360), so
# that a stride-16 superpixel grid is 15x20 = 300 superpixels and the 1/4-side group grid 4x5 =
# 20 groups both in training and at test time. The scale range starts at 1 so that no crop needs
# padding (the data preprocessor pads gt_sem_seg only, not the coarse map).
# data_root is relative to the repository root, where the tools are run.
dataset_type = 'CamVidDataset'
data_root = '../shared/data/camvid'
crop_size = (240, 320)
# = mmsp.datasets.CAMVID_FINE_TO_COARSE and CAMVID_COARSE_CLASSES (a test checks it)
fine_to_coarse = (4, 1, 2, 0, 0, 3, 2, 1, 6, 5, 5, 255)
coarse_classes = ('flat', 'construction', 'object', 'nature', 'sky', 'human', 'vehicle')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='MapLabels', lut=fine_to_coarse),  # gt_coarse_seg_map, before any geometry
    dict(type='RandomResize', scale=(320, 240), ratio_range=(1.0, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputsWithMaps'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(320, 240), keep_ratio=True),
    # annotations are loaded after the resize: metrics are computed at the original size
    dict(type='LoadAnnotations'),
    dict(type='MapLabels', lut=fine_to_coarse),
    dict(type='PackSegInputsWithMaps'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/train', seg_map_path='labels/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/val', seg_map_path='labels/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader  # the shared CamVid copy has no separate test split
# Fine mIoU; the coarse level of a one-level model (pred_coarse_from_fine = LUT of the fine
# prediction, keys lut_coarse/...); the superpixels against the fine labels (sp/...).
# Two-level models add their own coarse and group metrics (./lgformer-t_*.py).
val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU']),
    dict(
        type='CoarseIoUMetric',
        classes=coarse_classes,
        pred_key='pred_coarse_from_fine',
        prefix='lut_coarse'),
    dict(type='SuperpixelMetric'),
]
test_evaluator = val_evaluator

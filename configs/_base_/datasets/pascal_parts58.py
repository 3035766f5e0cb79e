# Pascal-Parts-58 (GMNet's 58-class Pascal-Part labelling) for zero-shot superpixel evaluation.
# Users bring the data, laid out as (see mmsp.datasets.PascalParts58Dataset):
#   data/pascal_parts58/{JPEGImages/<id>.jpg, SegmentationPart58/<id>.png, ImageSets/val.txt}
# Which split SPFormer evaluated on is not stated in the paper; this config uses val.txt.
dataset_type = 'PascalParts58Dataset'
data_root = 'data/pascal_parts58'
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationPart58'),
        ann_file='ImageSets/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='SuperpixelMetric', miou_mode='dataset', ignore_index=255)
test_evaluator = val_evaluator

# BSDS500 (BSR release) for superpixel evaluation: val split (100 images, 4-9 annotators each).
# One sample per image carrying every annotation (A, H, W); SuperpixelMetric averages the
# ground-truth scores over the (image, annotation) pairs (SEAL convention, Tu et al., CVPR 2018).
# The region ids are instances, not classes: sp_mIoU/sp_mAcc use miou_mode='image'.
# The shared copy has no test split: testing uses val. data_root is relative to the repo root.
dataset_type = 'BSDS500Dataset'
data_root = '../shared/data/bsds500'
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadBSDSAnnotations'),
    dict(type='PackMultiAnnotationInputs'),
]
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        annotation_mode='all',
        data_prefix=dict(img_path='images/val', seg_map_path='groundTruth/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='SuperpixelMetric',
    miou_mode='image',
    ignore_index=None,
    boundary_convention='stutz',
    boundary_tolerance=0.0025,  # fraction of the diagonal: 1 px on 481x321
    tolerance_mode='diagonal')
test_evaluator = val_evaluator

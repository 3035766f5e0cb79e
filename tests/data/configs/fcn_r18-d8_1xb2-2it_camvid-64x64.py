# End-to-end smoke config: a light stock mmseg model (ResNetV1c-18 at 1/4 width + FCNHead)
# trained for 2 iterations on 64x64 crops of CamVid, then tested on 4 validation images. It
# exercises the mmsp plugin path (custom_imports, CamVidDataset, safe checkpoint loading) in
# seconds on a CPU. Used by tools/run_demo.sh and tests/test_tools; not a useful model.
_base_ = [
    'mmseg::_base_/models/fcn_r50-d8.py',
    '../../../configs/_base_/datasets/camvid.py',
    'mmseg::_base_/default_runtime.py',
    '../../../configs/_base_/mmsp_runtime.py',
]
crop_size = (64, 64)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,  # the base points at an open-mmlab:// URL; this config trains from scratch
    # a quarter of ResNet-18's widths (stages 16/32/64/128 channels): ~0.7M parameters
    backbone=dict(depth=18, stem_channels=16, base_channels=16, norm_cfg=norm_cfg),
    decode_head=dict(
        in_channels=128,
        channels=32,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.0,  # no dropout: resumed and uninterrupted runs match exactly
        num_classes=11,
        norm_cfg=norm_cfg),
    auxiliary_head=None)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(96, 72), ratio_range=(0.75, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 72), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=train_pipeline, indices=8))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=test_pipeline, indices=4))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4),
    clip_grad=None)
max_iters = 2
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='mmseg.AtomicCheckpointHook', by_epoch=False, interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
randomness = dict(seed=0)

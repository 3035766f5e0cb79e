# Run A (flat: SPFormer + per-superpixel linear head)
# at the CPU budget of a 2-core machine shared with other jobs: CamVid at a
# quarter of its size (train: random scale x1-2 of 160x120, then 120x160 crops; val: the whole
# 160x120 image, metrics at 480x360), batch 2, 400 iterations (40 warm-up), and SPFormer-T cut
# to 1 + 5 blocks of width 96 (pixel width 32, 3 heads); a superpixel stride of 8 (stride-4
# stem, 2x2-pixel cells) keeps the 15x20 = 300 superpixels of the 240x320 setting.
_base_ = ['./spformer-t_sp-linear_1xb4-300it_camvid-240x320.py']
crop_size = (120, 160)
fine_to_coarse = (4, 1, 2, 0, 0, 3, 2, 1, 6, 5, 5, 255)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='MapLabels', lut=fine_to_coarse),
    dict(type='RandomResize', scale=(160, 120), ratio_range=(1.0, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputsWithMaps'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(160, 120), keep_ratio=True),
    dict(type='LoadAnnotations'),  # metrics at the original 480x360
    dict(type='MapLabels', lut=fine_to_coarse),
    dict(type='PackSegInputsWithMaps'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
max_iters = 400
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=40),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=40, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(type='mmseg.AtomicCheckpointHook', interval=max_iters))
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=dict(
            _delete_=True, pixel_dims=32, embed_dims=96, depths=(1, 5), num_heads=3,
            sp_heads=2),
        superpixel_stride=8,
        stem_type='cc4',
        img_size=crop_size,
        out_indices=(5, )),
    decode_head=dict(in_channels=(32, 96), channels=96, cell_size=2))

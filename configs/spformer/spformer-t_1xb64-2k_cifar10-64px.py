# SPFormer-T trained from scratch on the CIFAR-10 folder subset (10k train / 3k test images),
# upsampled to 64 px: superpixel stride 16 -> 16 pixel-branch pixels per side, 4x4 = 16
# superpixels. A CPU-sized schedule (2000 iterations of 64 images, ~13 epochs) that logs the
# training loss every 10 iterations and the test accuracy every 250 iterations
# (work_dirs/<cfg>/<time>/vis_data/scalars.json holds the learning curve).
_base_ = [
    '../_base_/datasets/cifar10_folder_64px.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/mmsp_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmseg.SPFormer',
        arch='tiny',
        superpixel_stride=16,
        img_size=64,
        out_type='avg_featmap',
        drop_path_rate=0.1),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=192,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02)),
)

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={'.pos_embed': dict(decay_mult=0.0)}),
    clip_grad=dict(max_norm=5.0))
max_iters = 2000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=100, end=max_iters)
]
train_cfg = dict(by_epoch=False, max_iters=max_iters, val_interval=250)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(
        type='mmseg.AtomicCheckpointHook', by_epoch=False, interval=500, max_keep_ckpts=2))
log_processor = dict(by_epoch=False, window_size=10)
randomness = dict(seed=0)

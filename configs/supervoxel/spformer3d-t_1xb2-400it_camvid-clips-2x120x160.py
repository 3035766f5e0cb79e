# A CPU-sized training run of SPFormer3D-T from scratch on CamVid train clips: 2 frames 1 s apart
# (the train split is sampled at 1 Hz), random 160x120 crops of frames resized to 320x240, batch 2
# clips, 400 iterations of AdamW; cross-entropy on every labelled frame, no supervoxel
# supervision (the supervoxels are the argmax of the last learned association). Validation / test:
# the 12 val clips of 8 frames at 15 Hz (320x240 input), per-frame mIoU and the LIBSVX supervoxel
# metrics (SupervoxelMetric) at the original 480x360.
_base_ = [
    './_base_/spformer3d_t_fcn.py',
    './_base_/camvid_clips.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/mmsp_runtime.py',
]
model = dict(data_preprocessor=dict(size=(120, 160), size_divisor=None))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={'pos_embed': dict(decay_mult=0.0)}),
    clip_grad=dict(max_norm=1.0))
max_iters = 400
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=40),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=40, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)

# SPFormer-S + UPerHead on Pascal Context (59 classes), 480x480 crops, 80k iterations,
# sliding-window test (480, stride 320). Same optimiser as the ADE20K config.
_base_ = [
    '../_base_/models/spformer_upernet.py',
    'mmseg::_base_/datasets/pascal_context_59.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
    '../_base_/mmsp_runtime.py',
]
crop_size = (480, 480)
checkpoint = 'work_dirs/spformer-s_8xb128_in1k/epoch_300.pth'  # noqa
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        img_size=crop_size,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    decode_head=dict(num_classes=59),
    auxiliary_head=dict(num_classes=59),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(320, 320)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={'.pos_embed': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=80000, by_epoch=False)
]

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader

# checkpoints written atomically (mmsp.engine.hooks.AtomicCheckpointHook; same arguments)
default_hooks = dict(checkpoint=dict(type='mmseg.AtomicCheckpointHook'))

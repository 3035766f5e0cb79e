# SPFormer-B on ImageNet-1k: 87M params, 196 superpixels at 224 px. DeiT-B recipe from
# mmpretrain (incl. its EMA hook) with the paper's drop path 0.6 ("SPFormer-B*" in
# arXiv 2401.02931).
_base_ = ['mmpretrain::deit/deit-base_16xb64_in1k.py', '../_base_/mmsp_runtime.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmseg.SPFormer',
        arch='base',
        superpixel_stride=16,
        img_size=224,
        out_type='avg_featmap',
        drop_path_rate=0.6),
    head=dict(
        type='LinearClsHead',
        in_channels=768,
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02)),
)

train_dataloader = dict(batch_size=128)  # 8 x 128 = 1024 (DeiT-B: 16 x 64)

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300)
]

# checkpoints written atomically (mmsp.engine.hooks.AtomicCheckpointHook; same arguments)
default_hooks = dict(checkpoint=dict(type='mmseg.AtomicCheckpointHook'))

# SPFormer-S on ImageNet-1k: 22M params, 196 superpixels at 224 px (superpixel stride 16).
# DeiT recipe (as SPFormer, arXiv 2401.02931, trains) inherited from mmpretrain's DeiT-S config:
# AdamW (lr 1e-3 at batch 1024,
# wd 0.05, no decay on norms/biases/LayerScale/pos_embed), 300 epochs cosine, RandAugment,
# Mixup 0.8 / CutMix 1.0, label smoothing 0.1, random erasing 0.25, drop path 0.1.
_base_ = ['mmpretrain::deit/deit-small_4xb256_in1k.py', '../_base_/mmsp_runtime.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmseg.SPFormer',  # registered in mmseg; the scope prefix reaches it from mmpretrain
        arch='small',
        superpixel_stride=16,
        img_size=224,
        out_type='avg_featmap',  # token mean + fc_norm, as in the paper
        drop_path_rate=0.1),
    head=dict(
        type='LinearClsHead',
        in_channels=384,
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02)),
)

# 8 GPUs x 128 images = 1024, the batch the inherited lr (5e-4 * 1024 / 512) is set for.
train_dataloader = dict(batch_size=128)

# DeiT: 5 warm-up epochs (the inherited Swin schedule uses 20), cosine to 1e-5.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300)
]

# checkpoints written atomically (mmsp.engine.hooks.AtomicCheckpointHook; same arguments)
default_hooks = dict(checkpoint=dict(type='mmseg.AtomicCheckpointHook'))

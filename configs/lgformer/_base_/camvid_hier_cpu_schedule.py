# The CamVid CPU schedule of configs/sp_head (AdamW lr 1e-3, wd 0.01, grad clip 1, linear
# warm-up then poly decay, seed 0) at the budget of the hierarchy runs: 300 iterations of batch
# 4 (50 warm-up), one validation at the end; no weight decay on position embeddings either.
_base_ = ['../../sp_head/_base_/camvid_cpu_schedule.py']
max_iters = 300
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'superpixel_queries': dict(decay_mult=0.0),
            'gamma': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.0),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=50, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(type='mmseg.AtomicCheckpointHook', interval=max_iters))

# M1 at the wall-clock of an SP-MAE run: 320 iterations of batch 32 (an SP-MAE step costs 1.6x
# a patch-MAE step, README.md's cost table), otherwise mae_vit-t-p8_1xb32-200it_cifar10-64px.py.
_base_ = ['./mae_vit-t-p8_1xb32-200it_cifar10-64px.py']
max_iters = 320
warmup_iters = 32
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0, end=warmup_iters),
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters - warmup_iters,
        eta_min=0.,
        by_epoch=False,
        begin=warmup_iters,
        end=max_iters)
]
train_cfg = dict(max_iters=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))

# The CPU budget actually run for the README's CamVid comparison:
# ./sp-head_r50_1xb4-1k_camvid-240x320.py cut to 200 iterations
# (warm-up 50, then poly decay), everything else identical for both heads.
_base_ = ['./sp-head_r50_1xb4-1k_camvid-240x320.py']
max_iters = 200
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=50, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))

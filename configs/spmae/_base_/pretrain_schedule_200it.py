# The CPU-sized equal-budget recipe: 200 iterations (of batch 32, set by the run configs: 6.4k
# images, 0.64 passes over the 10k CIFAR-10 subset), 20 linear warm-up iterations then cosine to
# 0, one checkpoint at the end.
# Every run of the CPU comparison (README.md) sees the same number of images. The model base sets
# the AdamW optimiser. Includes mmpretrain's default runtime and the mmsp plugin import.
_base_ = ['mmpretrain::_base_/default_runtime.py', '../../_base_/mmsp_runtime.py']
max_iters = 200
warmup_iters = 20
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
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(
        type='mmseg.AtomicCheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False, window_size=10)
randomness = dict(seed=0)

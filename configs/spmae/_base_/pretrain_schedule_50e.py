# The equal-budget pre-training recipe: 50 epochs of batch 64, 5 linear warm-up epochs then
# cosine to 0 (per iteration), one checkpoint at the end. The model base sets the AdamW optimiser
# (lr 1e-3; the {3e-4, 1e-3} sweep on the patch MAE has not been run). Includes
# mmpretrain's default runtime and the mmsp plugin import.
_base_ = ['mmpretrain::_base_/default_runtime.py', '../../_base_/mmsp_runtime.py']
max_epochs = 50
warmup_epochs = 5
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=0.,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='mmseg.AtomicCheckpointHook', interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)

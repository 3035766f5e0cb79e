# E2 fine-tuning (and training from scratch): the supervised CIFAR-10 recipe of
# ../spformer/spformer-t_1xb64-2k_cifar10-64px.py (AdamW 1e-3, label smoothing, drop path 0.1,
# RandomCrop + flip, 64 px) with the backbone of the SP-MAE runs (SPFormer-T/8: cc4 stem, 8x8
# tokens), 30 epochs. From a pre-training checkpoint (SP-MAE or any runner checkpoint with
# backbone.* keys), e.g. in a config that inherits this one:
#   model = dict(backbone=dict(init_cfg=dict(
#       _delete_=True, type='Pretrained', checkpoint='epoch_50.pth', prefix='backbone.')))
_base_ = ['../spformer/spformer-t_1xb64-2k_cifar10-64px.py']
max_epochs = 30
model = dict(backbone=dict(superpixel_stride=8, stem_type='cc4'))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 1,
        eta_min=1e-5,
        by_epoch=True,
        begin=1,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='mmseg.AtomicCheckpointHook', by_epoch=True, interval=max_epochs, max_keep_ckpts=1))
log_processor = dict(by_epoch=True, window_size=50)

# S, CPU-sized: SPFormer-T/8 supervised from scratch on the CIFAR-10 subset for the CPU
# pre-training budget (200 iterations of batch 32, the images of every run of the CPU
# comparison): the supervised control of the linear probe and the zero-shot superpixels
# (README.md). Validation (top-1 on the 3k test images) once, at the end.
_base_ = ['./spformer-t-s8_1xb64-30e_cifar10-64px.py']
max_iters = 200
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=20, end=max_iters)
]
train_dataloader = dict(batch_size=32)
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(
        type='mmseg.AtomicCheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False, window_size=10)

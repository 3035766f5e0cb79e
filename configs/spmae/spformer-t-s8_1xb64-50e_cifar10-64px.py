# S: SPFormer-T/8 supervised from scratch on the CIFAR-10 subset for the pre-training budget
# (50 epochs of batch 64): the supervised control of E1 / E3 (README.md).
_base_ = ['./spformer-t-s8_1xb64-30e_cifar10-64px.py']
max_epochs = 50
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
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=max_epochs))

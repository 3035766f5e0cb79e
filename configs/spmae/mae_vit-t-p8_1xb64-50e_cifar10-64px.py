# M1: mmpretrain's patch MAE, ViT-T/8 (64 patches), on the unlabelled CIFAR-10 subset at 64 px,
# 50 epochs of batch 64. The control of the equal-budget comparison (README.md).
_base_ = [
    './_base_/mae_vit-t-p8.py',
    './_base_/pretrain_cifar10-64px.py',
    './_base_/pretrain_schedule_50e.py',
]

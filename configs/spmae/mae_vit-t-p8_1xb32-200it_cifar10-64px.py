# M1, CPU-sized: mmpretrain's patch MAE ViT-T/8 on the unlabelled CIFAR-10 subset at 64 px,
# 200 iterations of batch 32 (the budget of every run of the CPU comparison, README.md).
_base_ = [
    './_base_/mae_vit-t-p8.py',
    './_base_/pretrain_cifar10-64px.py',
    './_base_/pretrain_schedule_200it.py',
]
train_dataloader = dict(batch_size=32)

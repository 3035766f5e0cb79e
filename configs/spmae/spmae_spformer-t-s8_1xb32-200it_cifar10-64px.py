# M3, CPU-sized: SP-MAE with SPFormer-T/8 (64 superpixel tokens), masks of the EMA teacher's
# superpixels dilated by 2 px, on the unlabelled CIFAR-10 subset at 64 px, 200 iterations of
# batch 32 (the budget of every run of the CPU comparison, README.md).
_base_ = [
    './_base_/spmae_spformer-t-s8.py',
    './_base_/pretrain_cifar10-64px.py',
    './_base_/pretrain_schedule_200it.py',
]
train_dataloader = dict(batch_size=32)

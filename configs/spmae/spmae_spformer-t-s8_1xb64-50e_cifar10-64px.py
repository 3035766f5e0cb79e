# M3: SP-MAE, SPFormer-T/8 (64 superpixel tokens), masks of the EMA teacher's superpixels dilated
# by 2 px, on the unlabelled CIFAR-10 subset at 64 px, 50 epochs of batch 64.
_base_ = [
    './_base_/spmae_spformer-t-s8.py',
    './_base_/pretrain_cifar10-64px.py',
    './_base_/pretrain_schedule_50e.py',
]

# M3 with 90 % of the tokens masked instead of 75 % (the high end of the mask-ratio sweep).
# CPU-sized budget (200 iterations of batch 32).
_base_ = ['./spmae_spformer-t-s8_1xb32-200it_cifar10-64px.py']
model = dict(mask_ratio=0.9)

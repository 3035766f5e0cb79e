# M2: SP-MAE with the grid partition (8x8-px cells, decoded through their own cell): patch
# masking with the SPFormer encoder, which isolates the architecture from the superpixel masks.
_base_ = ['./spmae_spformer-t-s8_1xb64-50e_cifar10-64px.py']
model = dict(partition='grid')

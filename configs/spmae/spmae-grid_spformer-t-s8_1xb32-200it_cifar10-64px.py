# M2, CPU-sized: SP-MAE with the grid partition (8x8-px cells): patch masking with the SPFormer
# encoder, which isolates the architecture from the superpixel masks.
_base_ = ['./spmae_spformer-t-s8_1xb32-200it_cifar10-64px.py']
model = dict(partition='grid')

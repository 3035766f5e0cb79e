# M4, CPU-sized: M3 without dilation of the pixel mask (the outline of the masked region follows
# the teacher's superpixel boundaries exactly).
_base_ = ['./spmae_spformer-t-s8_1xb32-200it_cifar10-64px.py']
model = dict(dilation=0)

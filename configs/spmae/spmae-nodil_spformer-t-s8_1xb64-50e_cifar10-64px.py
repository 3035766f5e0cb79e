# M4: M3 without dilation of the pixel mask: the outline of the masked region follows the
# teacher's superpixel boundaries exactly (the deliberate leak that M3's dilation blurs).
_base_ = ['./spmae_spformer-t-s8_1xb64-50e_cifar10-64px.py']
model = dict(dilation=0)

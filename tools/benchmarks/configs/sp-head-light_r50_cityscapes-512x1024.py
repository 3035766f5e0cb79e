# Head-cost benchmark: a lighter SP head whose pixel branch (fusion, association keys and
# values) is 128 channels wide instead of 256, SPFormer-style (narrow pixels, wide superpixels:
# tokens stay 256). Same ResNet-50 features as ./sp-head_r50_cityscapes-512x1024.py.
_base_ = ['./sp-head_r50_cityscapes-512x1024.py']
model = dict(decode_head=dict(pixel_channels=128))

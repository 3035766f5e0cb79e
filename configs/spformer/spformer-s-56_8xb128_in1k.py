# SPFormer-S /56: three 3x3/2 convs (16, 32, 64), 7x7 cells -> 4x4 = 16 superpixels at 224 px.
_base_ = './spformer-s_8xb128_in1k.py'

model = dict(backbone=dict(superpixel_stride=56))

# SPFormer-S /32: stride-8 conv stem, 4x4 cells -> 7x7 = 49 superpixels at 224 px (1.2 GFLOPs).
_base_ = './spformer-s_8xb128_in1k.py'

model = dict(backbone=dict(superpixel_stride=32))

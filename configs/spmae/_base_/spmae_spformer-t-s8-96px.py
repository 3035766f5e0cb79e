# spmae_spformer-t-s8.py at 96 px (12x12 = 144 superpixel tokens): the model of the
# natural-image runs (96-px crops of BSDS500 + CamVid).
_base_ = ['./spmae_spformer-t-s8.py']
img_size = 96
model = dict(backbone=dict(img_size=img_size), neck=dict(grid_size=img_size // 8))

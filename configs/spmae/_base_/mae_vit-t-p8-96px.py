# mae_vit-t-p8.py at 96 px (12x12 = 144 patches): the patch MAE of the natural-image runs.
_base_ = ['./mae_vit-t-p8.py']
img_size = 96
model = dict(backbone=dict(img_size=img_size), neck=dict(num_patches=(img_size // 8)**2))

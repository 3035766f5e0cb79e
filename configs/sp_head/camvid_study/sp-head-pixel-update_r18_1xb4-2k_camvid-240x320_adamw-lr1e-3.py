# Ablation (pixel update) of ./sp-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py:
# the SCA layers also update the pixel features (all but the last, whose pixel output is unused).
_base_ = ['./sp-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py']
model = dict(decode_head=dict(update_pixels=True))

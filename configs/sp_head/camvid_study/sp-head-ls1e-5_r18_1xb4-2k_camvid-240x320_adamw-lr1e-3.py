# Ablation (LayerScale init) of ./sp-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py:
# SCA residuals start at LayerScale 1e-5 (SPFormer's value) instead of 1.0.
_base_ = ['./sp-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py']
model = dict(decode_head=dict(layer_scale_init=1e-5))

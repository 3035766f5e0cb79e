# Ablation of ./sp-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py:
# superpixel logits resized bilinearly to the pixel map instead of projected through the
# association (the superpixels are still learned and scored; only the logits' path differs).
_base_ = ['./sp-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py']
model = dict(decode_head=dict(upsample_mode='bilinear'))

# Ablation (upsampling) of ../sp-head_r50_8xb2-80k_cityscapes-512x1024.py: superpixel logits
# resized bilinearly to the pixel map instead of projected through the association.
_base_ = ['../sp-head_r50_8xb2-80k_cityscapes-512x1024.py']
model = dict(decode_head=dict(upsample_mode='bilinear'))

# Ablation (output resolution) of ../sp-head_r50_8xb2-80k_cityscapes-512x1024.py: association
# logits upsampled 4x inside each superpixel window, so the head's logits come out at image
# resolution (stride 1) instead of stride 4 (no bilinear resize of the logits at all).
_base_ = ['../sp-head_r50_8xb2-80k_cityscapes-512x1024.py']
model = dict(decode_head=dict(association_upsample=4))

# Ablation (global self-attention) of ../sp-head_r50_8xb2-80k_cityscapes-512x1024.py: no MHSA+FFN
# layers over the superpixels (classifier directly on the tokenised superpixels).
_base_ = ['../sp-head_r50_8xb2-80k_cityscapes-512x1024.py']
model = dict(decode_head=dict(num_layers=0))

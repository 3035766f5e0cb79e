# Ablation (tokenisation depth) of ./sp-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py:
# one superpixel cross-attention (SCA) layer instead of 3.
_base_ = ['./sp-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py']
model = dict(decode_head=dict(num_iterations=1))

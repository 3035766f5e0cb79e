# Ablation (iterations) of ../sp-head_r50_8xb2-80k_cityscapes-512x1024.py: a single tokenisation
# (local cross-attention) iteration instead of 3.
_base_ = ['../sp-head_r50_8xb2-80k_cityscapes-512x1024.py']
model = dict(decode_head=dict(num_iterations=1))

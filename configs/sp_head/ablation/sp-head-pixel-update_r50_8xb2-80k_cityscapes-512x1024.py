# Ablation (pixel update) of ../sp-head_r50_8xb2-80k_cityscapes-512x1024.py: the tokenisation
# layers also update the pixel features (the last layer never does). Costs ~19 GFLOPs
# more at 1024x2048.
_base_ = ['../sp-head_r50_8xb2-80k_cityscapes-512x1024.py']
model = dict(decode_head=dict(update_pixels=True))

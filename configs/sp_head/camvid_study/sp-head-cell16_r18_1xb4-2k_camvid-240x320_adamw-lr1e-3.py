# Ablation (number of superpixels) of ./sp-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py:
# 16x16 cells at stride 4 = 64-px superpixels, 1/4 as many (4x5 per crop, 6x8 per val image).
_base_ = ['./sp-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py']
model = dict(decode_head=dict(cell_size=16, query_grid=(4, 5)))

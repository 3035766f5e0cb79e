# Ablation (number of superpixels) of ./sp-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py:
# 4x4 cells at stride 4 = 16-px superpixels, 4x as many (15x20 per crop, 23x30 per val image).
_base_ = ['./sp-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py']
model = dict(decode_head=dict(cell_size=4, query_grid=(15, 20)))

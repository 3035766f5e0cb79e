# Ablation (number of superpixels) of ../sp-head_r50_8xb2-80k_cityscapes-512x1024.py: 8x8 cells at
# stride 4 (32-px superpixels): 4x as many, 32x64 at 1024x2048 (16x32 queries for the 512x1024
# crops).
_base_ = ['../sp-head_r50_8xb2-80k_cityscapes-512x1024.py']
model = dict(decode_head=dict(cell_size=8, query_grid=(16, 32)))

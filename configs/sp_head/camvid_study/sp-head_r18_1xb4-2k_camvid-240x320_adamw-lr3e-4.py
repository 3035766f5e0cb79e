# LR sweep of ./sp-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py: AdamW lr 3e-4 (the lr of
# the paper-recipe SP-head configs, ../_base_/sp_head_adamw.py).
_base_ = ['./sp-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py']
optim_wrapper = dict(optimizer=dict(lr=3e-4))

# LR sweep of ./segformer-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py: AdamW lr 3e-4.
_base_ = ['./segformer-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py']
optim_wrapper = dict(optimizer=dict(lr=3e-4))

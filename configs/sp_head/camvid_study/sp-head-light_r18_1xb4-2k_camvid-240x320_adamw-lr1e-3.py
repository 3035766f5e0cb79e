# Head study, light SP head: the default SP head with a 128-channel pixel branch (fusion,
# association keys/values) instead of 256; superpixel tokens stay 256 wide (as
# ../bench/sp-head-light_r50_cityscapes-512x1024.py). AdamW lr 1e-3.
_base_ = ['./sp-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py']
model = dict(decode_head=dict(pixel_channels=128))

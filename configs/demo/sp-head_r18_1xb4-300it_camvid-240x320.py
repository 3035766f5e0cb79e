# Main-job (tools/run_demo.sh) budget of the CamVid SP-head run: a ResNet-18 (ResNetV1c, from
# scratch) + SPTransformerHead (128 channels, 2 global layers, 32-px superpixels) on the real
# CamVid train split, 300 iterations of 240x320 crops, then mIoU and the superpixel metrics of
# the superpixels the head learned (no superpixel supervision) on the 101 val images.
_base_ = ['../sp_head/sp-head_r50_1xb4-1k_camvid-240x320.py']
max_iters = 300
model = dict(
    backbone=dict(depth=18),
    decode_head=dict(in_channels=[64, 128, 256, 512], channels=128, num_layers=2,
                     num_attn_heads=4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=50, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))

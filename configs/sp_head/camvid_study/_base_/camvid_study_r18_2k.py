# Shared settings of the CamVid head study (README.md one folder up): every run trains the SAME
# ResNet-18 (ResNetV1c, no dilation, from scratch: no ImageNet weights can be downloaded) on
# CamVid train (367 images) with the data, augmentation, 240x320 crops and batch 4 of
# ../../sp-head_r50_1xb4-1k_camvid-240x320.py, for 2k iterations of AdamW (weight decay 0.01,
# none on norms / superpixel queries / LayerScale, gradient clipping at 1.0) with 200 warm-up
# iterations, then linear decay to 0. Logged every 50 iterations; validated on the 101 val
# images (mIoU, aAcc, superpixel metrics) at 1k and at 2k (the reported number).
# The model is the default SP head (256 channels, 3 SCA layers, 6 global layers, 8x8 cells at
# stride 4 = 32-px superpixels) on R18's C2-C5. Only the head and the learning rate differ
# between the study's configs. Second seed: --cfg-options randomness.seed=1.
_base_ = ['../../sp-head_r50_1xb4-1k_camvid-240x320.py']
max_iters = 2000
warmup_iters = 200
model = dict(
    backbone=dict(depth=18),
    decode_head=dict(in_channels=[64, 128, 256, 512]))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=warmup_iters, end=max_iters,
         by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=1000)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=max_iters))
randomness = dict(seed=0)

# Baseline for ./sp-head_r50_1xb4-1k_camvid-240x320.py: the SAME ResNet-50 (ResNetV1c, no
# dilation, from scratch), data, crop, batch and schedule, with mmseg's FCNHead (2 convs, 512
# channels, concat input) on the stride-32 C5 map instead of the SP head. No auxiliary head
# (the SP head has none). SPEncoderDecoder with superpixel_source='grid' attaches a regular
# 32-px grid (the "patch" baseline) so that SuperpixelMetric scores a reference next to the
# superpixels the SP head learns. Stock dilated FCN: ./fcn_r50-d8_1xb4-1k_camvid-240x320.py.
_base_ = ['./sp-head_r50_1xb4-1k_camvid-240x320.py']
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    superpixel_source='grid',
    grid_size=32,
    decode_head=dict(
        _delete_=True,
        type='FCNHead',
        in_channels=2048,
        in_index=3,
        channels=512,
        num_convs=2,
        concat_input=True,
        dropout_ratio=0.1,
        num_classes=11,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))

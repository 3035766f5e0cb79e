# SPFormer-S + MultiLevelNeck + UPerHead (the stock head used for mmseg's ViT baselines).
# Backbone outputs: the pixel branch (64 ch, stride 4) and the superpixel maps after blocks
# 4, 8 and 12 (384 ch, stride 16). The neck resizes them to strides 4, 8, 16 and 32.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        type='SPFormer',
        arch='small',
        superpixel_stride=16,
        img_size=512,
        out_indices=(3, 7, 11),
        out_type='featmap',
        out_pixels=True,
        drop_path_rate=0.1,
        norm_eval=False),
    neck=dict(
        type='MultiLevelNeck',
        in_channels=[64, 384, 384, 384],
        out_channels=384,
        scales=[1, 2, 1, 0.5]),
    decode_head=dict(
        type='UPerHead',
        in_channels=[384, 384, 384, 384],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=512,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=384,
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

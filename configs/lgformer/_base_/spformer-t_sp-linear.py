# SPFormer-T (from scratch, 240x320 crops) with a per-superpixel linear head: the flat model of
# the hierarchy comparison. The head re-associates the final tokens with the pixel map by one
# SCA layer and projects the superpixel logits to pixels through it (SPLinearHead); the
# segmentor adds pred_superpixels and the coarse prediction as the LUT of the fine one.
# Drop path is off: the CPU budget is a few hundred iterations.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(240, 320))
model = dict(
    type='HierSPEncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='SPFormer',
        arch='tiny',
        superpixel_stride=16,
        img_size=(240, 320),
        out_indices=(11, ),
        out_pixels=True,
        drop_path_rate=0.0),
    decode_head=dict(
        type='SPLinearHead',
        in_channels=(32, 192),
        channels=192,
        cell_size=4,
        association_heads=2,
        num_classes=11,
        dropout_ratio=0.1,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, loss_name='loss_fine')),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

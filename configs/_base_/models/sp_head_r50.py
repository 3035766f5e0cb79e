# SPTransformerHead (IROS 2023 superpixel-transformer head) on a ResNetV1c-50 without dilation
# (strides 4/8/16/32), inside SPEncoderDecoder so that predictions also carry pred_superpixels.
# Head defaults (see mmsp.models.decode_heads.SPTransformerHead and docs/advanced/sp_head.md):
# hypercolumn fusion of C2-C5 to 256 channels at stride 4, 16x16-pixel cells (64-px superpixels), 3
# tokenisation iterations with 2 association heads, 6 global MHSA+FFN layers (8 heads, FFN x4),
# per-superpixel classifier, logits projected to pixels through the association.
# query_grid must be set by the dataset config to the training grid ceil(crop / 64).
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='SPEncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://resnet50_v1c',
    backbone=dict(
        type='ResNetV1c',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 1, 1),
        strides=(1, 2, 2, 2),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True),
    decode_head=dict(
        type='SPTransformerHead',
        in_channels=[256, 512, 1024, 2048],
        in_index=[0, 1, 2, 3],
        channels=256,
        pixel_level=0,
        cell_size=16,
        query_grid=(8, 16),
        num_iterations=3,
        association_heads=2,
        update_pixels=False,
        num_layers=6,
        num_attn_heads=8,
        ffn_ratio=4.0,
        drop_path_rate=0.0,
        upsample_mode='association',
        association_upsample=1,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    superpixel_source='auto',
    slide_superpixels='whole',
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

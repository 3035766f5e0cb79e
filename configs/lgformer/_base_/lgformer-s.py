# LGFormer on a ViT-S trunk (Xie et al., arXiv 2409.01353, ECCV 2024), as the authors' released
# configuration sets it up at a 512x512 crop:
# - pixels: two 3x3 stride-2 convs (32, 64 channels; stem 'cc4') -> 64 x 128 x 128;
# - superpixels: 4x4-pixel cells (superpixel stride 16) -> 32 x 32 = 1024 tokens of width 384;
#   2 SCA layers per stage, 2 association heads; 2 + 10 ViT blocks (6 heads);
# - groups: a GCA layer after each of the last three global blocks (9, 10, 11): 8 x 8 = 64 groups
#   from a 1/4-side pool, 6 heads, one ViT block on the groups, no ungrouping LayerScale;
# - HierSPHead: parts (fine) from the superpixel tokens, objects (coarse) from the groups carried
#   back to the superpixels, each projected to pixels through its own final SCA association;
#   cross-entropy 1.0 / 1.0.
# Drop path 0.1 is this config's choice (the released configuration was not read on it).
crop_size = (512, 512)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=crop_size)
model = dict(
    type='HierSPEncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        type='SPFormer',
        arch='small',
        superpixel_stride=16,
        stem_type='cc4',
        img_size=crop_size,
        out_indices=(11, ),
        out_pixels=True,
        drop_path_rate=0.1,
        group_cfg=dict(
            after_blocks=(9, 10, 11),
            num_heads=6,
            pool_ratio=4,
            group_block_depth=1,
            ungroup_layer_scale=None),
        out_groups=True),
    decode_head=dict(
        type='HierSPHead',
        in_channels=(64, 384),
        channels=384,
        cell_size=4,
        association_heads=2,
        num_classes=41,
        num_coarse_classes=159,
        dropout_ratio=0.1,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, loss_name='loss_fine'),
        loss_coarse=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
            loss_name='loss_coarse')),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(512, 512)),
    slide_superpixels='whole')

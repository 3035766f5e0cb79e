# SPFormer3D-T (arXiv 2401.02931's SPFormer-T over clips: 2-frame x 16x16-pixel supervoxel cells,
# 27-candidate association) with a per-frame linear classifier (FCNHead without convs) on the
# supervoxel features unfolded to every frame's stride-4 pixel map, in SPVideoEncoderDecoder:
# per-frame pred_sem_seg and the clip's pred_supervoxels.
model = dict(
    type='SPVideoEncoderDecoder',
    data_preprocessor=dict(
        type='ClipSegDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size_divisor=16,
        test_cfg=dict(size_divisor=16)),
    backbone=dict(
        type='SPFormer3D',
        arch='tiny',
        superpixel_stride=(2, 16, 16),
        img_size=(2, 120, 160),
        unfold_outputs=True,
        drop_path_rate=0.1),
    decode_head=dict(
        type='FCNHead',
        in_channels=192,
        channels=192,
        num_convs=0,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=11,
        norm_cfg=None,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

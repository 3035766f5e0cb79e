# Head-cost benchmark: mmseg FCNHead (2 convs, 512 channels, concat input) on the stride-32 C5
# map of the same (non-dilated) ResNet-50 as ./sp-head_r50_cityscapes-512x1024.py. Note that
# mmseg's FCN normally runs on a dilated R50-D8, where the head works at stride 8 and costs ~16x
# more; here every head sees the same features.
_base_ = ['./sp-head_r50_cityscapes-512x1024.py']
model = dict(
    # tensor-mode cost is that of EncoderDecoder; 'grid' only matters for predict()
    superpixel_source='grid',
    decode_head=dict(
        _delete_=True,
        type='FCNHead',
        in_channels=2048,
        in_index=3,
        channels=512,
        num_convs=2,
        concat_input=True,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))

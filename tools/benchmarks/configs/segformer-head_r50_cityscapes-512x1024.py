# Head-cost benchmark: mmseg SegformerHead (all-MLP, 256 channels, fuses C2-C5 at stride 4) on
# the same ResNet-50 features as ./sp-head_r50_cityscapes-512x1024.py.
_base_ = ['./sp-head_r50_cityscapes-512x1024.py']
model = dict(
    # tensor-mode cost is that of EncoderDecoder; 'grid' only matters for predict()
    superpixel_source='grid',
    decode_head=dict(
        _delete_=True,
        type='SegformerHead',
        in_channels=[256, 512, 1024, 2048],
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))

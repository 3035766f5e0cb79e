# Head-cost benchmark: mmseg UPerHead (PPM + FPN, 512 channels, as in mmseg's UPerNet-R50) on
# the same ResNet-50 features as ./sp-head_r50_cityscapes-512x1024.py.
_base_ = ['./sp-head_r50_cityscapes-512x1024.py']
model = dict(
    # tensor-mode cost is that of EncoderDecoder; 'grid' only matters for predict()
    superpixel_source='grid',
    decode_head=dict(
        _delete_=True,
        type='UPerHead',
        in_channels=[256, 512, 1024, 2048],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=512,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))

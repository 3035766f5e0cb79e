# Head study, baseline: mmseg UPerHead (PPM on C5 + FPN over C2-C5, 512 channels, as mmseg's
# UPerNet-R18) on the study's R18, no auxiliary head, with a 32-px grid as its superpixels (see
# ./fcn-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py). AdamW lr 1e-3.
_base_ = ['./_base_/camvid_study_r18_2k.py']
model = dict(
    superpixel_source='grid',
    grid_size=32,
    decode_head=dict(
        _delete_=True,
        type='UPerHead',
        in_channels=[64, 128, 256, 512],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=512,
        num_classes=11,
        # mmseg's decode-head defaults otherwise, as the SP head: dropout 0.1, cross-entropy
        norm_cfg={{_base_.norm_cfg}}))

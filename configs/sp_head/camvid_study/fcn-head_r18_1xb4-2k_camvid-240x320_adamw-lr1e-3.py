# Head study, baseline: mmseg FCNHead (2 3x3 convs of 512 channels, concat input, as
# ../fcn_r50_1xb4-1k_camvid-240x320.py) on the stride-32 C5 map of the study's R18; no auxiliary
# head (the SP head has none). AdamW lr 1e-3, like every head (README.md: why not SGD).
# superpixel_source='grid': a regular 32-px grid, the SP head's superpixel size, is scored by
# SuperpixelMetric as the reference for the learned superpixels.
_base_ = ['./_base_/camvid_study_r18_2k.py']
model = dict(
    superpixel_source='grid',
    grid_size=32,
    decode_head=dict(
        _delete_=True,
        type='FCNHead',
        in_channels=512,
        in_index=3,
        channels=512,
        num_convs=2,
        concat_input=True,
        num_classes=11,
        # mmseg's decode-head defaults otherwise, as the SP head: dropout 0.1, cross-entropy
        norm_cfg={{_base_.norm_cfg}}))

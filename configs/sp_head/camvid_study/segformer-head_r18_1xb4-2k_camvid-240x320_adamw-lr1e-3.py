# Head study, baseline: mmseg SegformerHead (all-MLP: C2-C5 each to 256 channels, resized to
# stride 4, fused by a 1x1 conv; 256 channels as for MiT-B0) on the study's R18, with a 32-px
# grid as its superpixels (see ./fcn-head_r18_1xb4-2k_camvid-240x320_adamw-lr1e-3.py).
# AdamW lr 1e-3 (SegFormer trains with AdamW; its 10x head lr is for a pretrained encoder).
_base_ = ['./_base_/camvid_study_r18_2k.py']
model = dict(
    superpixel_source='grid',
    grid_size=32,
    decode_head=dict(
        _delete_=True,
        type='SegformerHead',
        in_channels=[64, 128, 256, 512],
        in_index=[0, 1, 2, 3],
        channels=256,
        num_classes=11,
        # mmseg's decode-head defaults otherwise, as the SP head: dropout 0.1, cross-entropy
        norm_cfg={{_base_.norm_cfg}}))

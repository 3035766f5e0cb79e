# SP-Transformer head on ConvNeXt-L (mmpretrain, ImageNet-22k pre-trained; 4 levels
# 192/384/768/1536 at strides 4-32) on Cityscapes 512x1024, 8 GPUs x 2 images, 80k iterations.
# Paper (IROS 2023): 202M params / 1,557 GFLOPs / 83.1 mIoU at 1024x2048.
_base_ = ['./sp-head_r50_8xb2-80k_cityscapes-512x1024.py']
custom_imports = dict(imports=['mmsp', 'mmpretrain.models'], allow_failed_imports=False)
checkpoint_file = 'https://download.openmmlab.com/mmclassification/v0/convnext/downstream/convnext-large_3rdparty_in21k_20220301-e6e0ea0a.pth'  # noqa
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ConvNeXt',
        arch='large',
        out_indices=[0, 1, 2, 3],
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        gap_before_final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    decode_head=dict(in_channels=[192, 384, 768, 1536]))

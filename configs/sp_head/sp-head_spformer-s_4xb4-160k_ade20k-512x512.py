# SP-Transformer head on SPFormer-S (stride-4 pixel branch + superpixel tokens of blocks
# 4/6/8/12), same data and schedule as the ResNet-50 config it inherits. Set backbone.init_cfg to
# an ImageNet SPFormer-S checkpoint (prefix='backbone.') for real runs.
_base_ = ['./sp-head_r50_4xb4-160k_ade20k-512x512.py']
crop_size = (512, 512)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='SPFormer',
        arch='small',
        img_size=crop_size,
        out_indices=(3, 5, 7, 11),
        out_pixels=True,
        drop_path_rate=0.1),
    decode_head=dict(in_channels=[64, 384, 384, 384, 384], in_index=[0, 1, 2, 3, 4]))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'pos_embed': dict(lr_mult=0.1, decay_mult=0.0)}))

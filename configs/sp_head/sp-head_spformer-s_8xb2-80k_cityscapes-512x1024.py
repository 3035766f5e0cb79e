# SP-Transformer head on SPFormer-S (mmsp backbone) on Cityscapes 512x1024, 8 GPUs x 2 images,
# 80k iterations. The backbone returns its stride-4 pixel branch (64 ch, out_pixels=True) and the
# superpixel tokens of blocks 4/6/8/12 as stride-16 maps (384 ch); the head fuses them at
# stride 4. Both the backbone and the head provide superpixels; SPEncoderDecoder's 'auto' source
# takes the head's (set superpixel_source='backbone' to evaluate SPFormer's own superpixels).
# Set backbone.init_cfg to an ImageNet SPFormer-S checkpoint (prefix='backbone.') for real runs;
# none is published with mmsp, so by default the backbone starts from its random init.
_base_ = ['./sp-head_r50_8xb2-80k_cityscapes-512x1024.py']
crop_size = (512, 1024)
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
# ViT-style backbone: no weight decay on its position embeddings either
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'pos_embed': dict(lr_mult=0.1, decay_mult=0.0)}))

# E2 for the patch MAE (M1): ViT-T/8 (mmpretrain VisionTransformer, deit-tiny, 64 patches at
# 64 px) with the supervised CIFAR-10 recipe of spformer-t-s8_1xb64-30e_cifar10-64px.py, global
# average pooling + LayerNorm (MAE's fine-tuning head), 30 epochs. MAE checkpoints load with
#   model = dict(backbone=dict(
#       init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')))
# (their final norm ln1 is not used with out_type='avg_featmap', final_norm=False, as in MAE).
_base_ = ['./spformer-t-s8_1xb64-30e_cifar10-64px.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='VisionTransformer',
        arch='deit-tiny',
        img_size=64,
        patch_size=8,
        drop_path_rate=0.1,
        out_type='avg_featmap',
        final_norm=False))
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            '.pos_embed': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0)
        }))

# mmpretrain's own MAE (MAEViT + MAEPretrainDecoder + MAEPretrainHead, as in its
# configs/_base_/models/mae_vit-base-p16.py) sized to match spmae_spformer-t-s8.py: ViT-T
# (deit-tiny, 192 wide, 12 blocks) with 8x8 patches, 64 tokens at 64 px; the same decoder size
# (128 wide, 2 blocks, 4 heads); norm_pix target per 8x8 patch; L2 on the masked patches.
img_size = 64
model = dict(
    type='MAE',
    backbone=dict(
        type='MAEViT', arch='deit-tiny', img_size=img_size, patch_size=8, mask_ratio=0.75),
    neck=dict(
        type='MAEPretrainDecoder',
        num_patches=(img_size // 8)**2,
        patch_size=8,
        in_chans=3,
        embed_dim=192,
        decoder_embed_dim=128,
        decoder_depth=2,
        decoder_num_heads=4,
        mlp_ratio=4.),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size=8,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))

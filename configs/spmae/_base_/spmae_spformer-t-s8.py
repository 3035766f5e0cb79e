# SP-MAE with SPFormer-T at superpixel stride 8 (cc4 stem: r = 4, s = 2): 8x8 = 64 tokens at 64 px,
# the same token count as MAE's ViT-T/8 (mae_vit-t-p8.py). Decoder: 128 wide, 2 blocks, 4 heads,
# frozen 2-D sin-cos position embedding; pixel head through the teacher association with a 32-d
# in-cell position embedding; MAE's norm_pix target per 8x8 cell; L2 on the masked pixels.
# The backbone is built with out_type='avg_featmap' so that its keys are those of the classifier
# (spformer-t-s8_1xb64-30e_cifar10-64px.py): the mask token and fill colour live in SPMAE.
img_size = 64
model = dict(
    type='SPMAE',
    mask_ratio=0.75,
    partition='teacher',
    dilation=None,  # a quarter of the 8-px cell: 2 px (see SPMAE's docstring)
    backbone=dict(
        type='mmseg.SPFormer',
        arch='tiny',
        superpixel_stride=8,
        stem_type='cc4',
        img_size=img_size,
        out_type='avg_featmap',
        drop_path_rate=0.),
    neck=dict(
        type='SPMAEDecoder',
        grid_size=img_size // 8,
        embed_dims=192,
        decoder_embed_dims=128,
        decoder_depth=2,
        decoder_num_heads=4),
    head=dict(
        type='SPMAEPretrainHead',
        embed_dims=128,
        patch_size=8,
        norm_pix=True,
        loss=dict(type='PixelReconstructionLoss', criterion='L2', channel=3)))

# AdamW (0.9, 0.95), wd 0.05; no decay on norms, biases, 1-D parameters (LayerScale, fill
# colour), position embeddings and mask tokens (MAE's exclusions)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.)
        }))

# Optimiser of the LGFormer recipes (arXiv 2409.01353, the authors' configuration): AdamW lr 2e-4,
# betas (0.9, 0.999), weight decay 0.05 (none on norms, position embeddings and LayerScale), lr
# x0.1 on the pretrained parts (stem, superpixel init, SCA layers and ViT blocks of the trunk);
# the GCA layers and the head train at the full rate. Step decay x0.1 at 90 % and 95 % of the
# iterations (set by the dataset configs).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        custom_keys={
            'backbone.stem': dict(lr_mult=0.1),
            'backbone.superpixel_init': dict(lr_mult=0.1),
            'backbone.stages.0': dict(lr_mult=0.1),
            'backbone.stages.1.sca': dict(lr_mult=0.1),
            'backbone.stages.1.blocks': dict(lr_mult=0.1),
            'backbone.stages.1.pos_embed': dict(lr_mult=0.1, decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.0),
            'gamma': dict(decay_mult=0.0),
        }))

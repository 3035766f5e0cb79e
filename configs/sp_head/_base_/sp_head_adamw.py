# Optimiser of the SP-head configs (the authors' deeplab2 kMaX-DeepLab-style recipe): AdamW lr 3e-4,
# weight decay 0.05, backbone at 0.1x lr; no weight decay on norms, on the head's learnable
# superpixel queries and on LayerScale gammas; gradient clipping at 1.0. The sp_head_adamw_<N>k.py
# schedules use it as their `optim_wrapper` (a plain name here: mmengine refuses the same key in two
# bases) and add mmseg's loops/hooks and the learning-rate policy.
sp_head_optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=3e-4, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=1.0, norm_type=2),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        custom_keys={
            'backbone': dict(lr_mult=0.1),
            'superpixel_queries': dict(decay_mult=0.0),
            'gamma': dict(decay_mult=0.0),
        }))

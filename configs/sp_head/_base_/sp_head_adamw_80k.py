# 80k-iteration schedule of the SP-head configs: mmseg's schedule_80k (loops, hooks, checkpoint
# and validation intervals) with the optimiser replaced (spec B7, deeplab2 kMaX-style): AdamW
# lr 3e-4, weight decay 0.05, backbone at 0.1x lr; no weight decay on norms, on the head's
# learnable superpixel queries and on LayerScale gammas; gradient clipping at 1.0; linear
# warm-up over 1.5k iterations, then poly decay (power 1) to 0 at 80k.
_base_ = ['mmseg::_base_/schedules/schedule_80k.py']
optim_wrapper = dict(
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
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=80000, by_epoch=False),
]

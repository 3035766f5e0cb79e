# 160k-iteration schedule of the SP-head configs: mmseg's schedule_160k (loops, hooks, checkpoint
# and validation intervals) with the AdamW optimiser of ./sp_head_adamw.py; linear warm-up over
# 1.5k iterations, then poly decay (power 1) to 0 at 160k.
_base_ = ['mmseg::_base_/schedules/schedule_160k.py', './sp_head_adamw.py']
optim_wrapper = {{_base_.sp_head_optim_wrapper}}
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]

# checkpoints written atomically (mmsp.engine.hooks.AtomicCheckpointHook; same arguments)
default_hooks = dict(checkpoint=dict(type='mmseg.AtomicCheckpointHook'))

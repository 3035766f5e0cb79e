# Reference DeiT-S from mmpretrain (unchanged model and recipe, batch 8 x 128 = 1024 like the
# SPFormer configs), as a config file for tools that take file paths
# (tools/analysis_tools/benchmark.py,
# tools/analysis_tools/get_flops.py): the SPFormer-S vs DeiT-S speed and FLOPs comparisons.
_base_ = ['mmpretrain::deit/deit-small_4xb256_in1k.py', '../_base_/mmsp_runtime.py']

train_dataloader = dict(batch_size=128)

# checkpoints written atomically (mmsp.engine.hooks.AtomicCheckpointHook; same arguments)
default_hooks = dict(checkpoint=dict(type='mmseg.AtomicCheckpointHook'))

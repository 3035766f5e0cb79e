# LGFormer ViT-S on PartImageNet, the recipe of arXiv 2409.01353 as the authors configure it:
# 41 part classes (40 + background) and 159 object classes (158 + background), 512x512 crops,
# 8 GPUs x batch 4 x 4 accumulation steps = 128 images per step, 50k optimiser steps, slide test
# 512/512. Build-only here (no PartImageNet copy): see README.md for its parameters and FLOPs.
# The authors start from a checkpoint whose content is not stated; set model.backbone.init_cfg
# to an ImageNet SPFormer-S checkpoint (prefix='backbone.') for a real run.
_base_ = [
    './_base_/lgformer-s.py',
    './_base_/two_level_parts_objects.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/lgformer_adamw.py',
    '../_base_/mmsp_runtime.py',
]
num_parts, num_objects = 41, 159
model = dict(decode_head=dict(num_classes=num_parts, num_coarse_classes=num_objects))
metainfo = dict(classes=tuple(['background'] + [f'part_{i}' for i in range(1, num_parts)]))
object_classes = tuple(['background'] + [f'object_{i}' for i in range(1, num_objects)])
train_dataloader = dict(dataset=dict(data_root='data/partimagenet', metainfo=metainfo))
val_dataloader = dict(dataset=dict(data_root='data/partimagenet', metainfo=metainfo))
test_dataloader = val_dataloader
optim_wrapper = dict(accumulative_counts=4)
max_iters = 50000 * 4  # iterations of one GPU batch: 4 per optimiser step
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(0.9 * max_iters), int(0.95 * max_iters)], gamma=0.1)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters // 10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    checkpoint=dict(type='mmseg.AtomicCheckpointHook', by_epoch=False, interval=max_iters // 10))
val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU']),
    dict(type='CoarseIoUMetric', classes=object_classes, prefix='object'),
    dict(type='SuperpixelMetric', pred_key='pred_groups', gt_key='gt_coarse_sem_seg',
         prefix='groups'),
]
test_evaluator = val_evaluator

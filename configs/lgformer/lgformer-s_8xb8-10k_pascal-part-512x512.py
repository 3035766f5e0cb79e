# LGFormer ViT-S on Pascal-Part, the recipe of arXiv 2409.01353 as the authors configure it: 55
# part classes and 17 object classes, 512x512 crops, 8 GPUs x batch 8 x 2 accumulation steps =
# 128 images per step, 10k optimiser steps, slide test 512/512. Build-only here (no Pascal-Part
# copy with object maps); the data layout is that of ./_base_/two_level_parts_objects.py.
_base_ = ['./lgformer-s_8xb4-50k_partimagenet-512x512.py']
num_parts, num_objects = 55, 17
model = dict(decode_head=dict(num_classes=num_parts, num_coarse_classes=num_objects))
metainfo = dict(classes=tuple(['background'] + [f'part_{i}' for i in range(1, num_parts)]))
object_classes = tuple(['background'] + [f'object_{i}' for i in range(1, num_objects)])
train_dataloader = dict(
    batch_size=8, dataset=dict(data_root='data/pascal_part', metainfo=metainfo))
val_dataloader = dict(dataset=dict(data_root='data/pascal_part', metainfo=metainfo))
test_dataloader = val_dataloader
optim_wrapper = dict(accumulative_counts=2)
max_iters = 10000 * 2
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(0.9 * max_iters), int(0.95 * max_iters)], gamma=0.1)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters // 10)
default_hooks = dict(
    checkpoint=dict(type='mmseg.AtomicCheckpointHook', by_epoch=False, interval=max_iters // 10))
val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU']),
    dict(type='CoarseIoUMetric', classes=object_classes, prefix='object'),
    dict(type='SuperpixelMetric', pred_key='pred_groups', gt_key='gt_coarse_sem_seg',
         prefix='groups'),
]
test_evaluator = val_evaluator

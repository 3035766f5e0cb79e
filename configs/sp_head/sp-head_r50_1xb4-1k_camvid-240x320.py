# CPU-sized real-data run: SP-Transformer head + ResNet-50 (ResNetV1c, no dilation, from scratch:
# no ImageNet weights can be downloaded here) on CamVid train (367 images), 240x320 crops, batch
# 4, 1k iterations; evaluated on CamVid val (101 images, 480x360, whole image) with mIoU and the
# superpixel metrics of the superpixels the head learned (no superpixel supervision).
# CamVid images are ~1/11 of a Cityscapes image, so the cells are 8x8 stride-4 pixels (32-px
# superpixels, 12x15 = 180 per val image) instead of the Cityscapes default of 64 px.
# Compare with ./fcn_r50_1xb4-1k_camvid-240x320.py (same backbone, data and schedule).
_base_ = [
    '../_base_/models/sp_head_r50.py',
    '../_base_/datasets/camvid.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/camvid_cpu_schedule.py',
    '../_base_/mmsp_runtime.py',
]
crop_size = (240, 320)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(norm_cfg=norm_cfg),
    decode_head=dict(cell_size=8, query_grid=(8, 10), num_classes=11, norm_cfg=norm_cfg))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(480, 360), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_evaluator = [dict(type='IoUMetric', iou_metrics=['mIoU']), dict(type='SuperpixelMetric')]
test_evaluator = val_evaluator

# draw the predicted superpixels next to the segmentation (tools/test.py --show-dir,
# MMSegInferencer)
visualizer = dict(type='SuperpixelSegLocalVisualizer')

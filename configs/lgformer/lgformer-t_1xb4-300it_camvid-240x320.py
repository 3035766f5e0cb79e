# Run B of the hierarchy comparison (README.md): SPFormer-T with three GCA layers + HierSPHead
# on CamVid, fine (11 classes) and coarse (7 categories) labels, from scratch; same data, seed
# and schedule as run A (./spformer-t_sp-linear_1xb4-300it_camvid-240x320.py).
_base_ = [
    './_base_/lgformer-t.py',
    './_base_/camvid_two_level_240x320.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/camvid_hier_cpu_schedule.py',
    '../_base_/mmsp_runtime.py',
]
model = dict(fine_to_coarse={{_base_.fine_to_coarse}})
# fine mIoU; coarse mIoU of the head (coarse/..., with the fine/coarse consistency) and of the
# LUT of the fine prediction (lut_coarse/...); superpixels against the fine labels (sp/...);
# the hard groups against the coarse labels (groups/...) and against the fine ones
# (groups_fine/...)
val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU']),
    dict(
        type='CoarseIoUMetric',
        classes={{_base_.coarse_classes}},
        fine_to_coarse={{_base_.fine_to_coarse}}),
    dict(
        type='CoarseIoUMetric',
        classes={{_base_.coarse_classes}},
        pred_key='pred_coarse_from_fine',
        prefix='lut_coarse'),
    dict(type='SuperpixelMetric'),
    dict(type='SuperpixelMetric', pred_key='pred_groups', gt_key='gt_coarse_sem_seg',
         prefix='groups'),
    dict(type='SuperpixelMetric', pred_key='pred_groups', prefix='groups_fine'),
]
test_evaluator = val_evaluator
# tools/test.py --show-dir: prediction | superpixel boundaries [| groups]
visualizer = dict(type='SuperpixelSegLocalVisualizer')

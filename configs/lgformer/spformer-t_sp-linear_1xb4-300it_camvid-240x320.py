# Run A of the hierarchy comparison (README.md): flat SPFormer-T + per-superpixel linear head on
# CamVid fine labels only, from scratch; its coarse prediction is the look-up of the fine one.
_base_ = [
    './_base_/spformer-t_sp-linear.py',
    './_base_/camvid_two_level_240x320.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/camvid_hier_cpu_schedule.py',
    '../_base_/mmsp_runtime.py',
]
model = dict(fine_to_coarse={{_base_.fine_to_coarse}})
# tools/test.py --show-dir: prediction | superpixel boundaries [| groups]
visualizer = dict(type='SuperpixelSegLocalVisualizer')

# Runtime of the zero-shot superpixel evaluations: test/val loops only (nothing is trained).
_base_ = ['mmseg::_base_/default_runtime.py', '../../_base_/mmsp_runtime.py']
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    # draw=True (or tools/visualization/visualize_superpixels.py) to save boundary /
    # mean-colour panels
    visualization=dict(type='SuperpixelVisualizationHook', draw=False, interval=50))

# draw the predicted superpixels next to the segmentation (tools/test.py --show-dir,
# MMSegInferencer)
visualizer = dict(type='SuperpixelSegLocalVisualizer')

# Zero-shot supervoxels of an image SPFormer-T inflated to SPFormer3D-T, on the 12 CamVid val clips
# of 8 frames at 15 Hz (input 320x240; scores at the original 480x360). Give the image model's
# checkpoint (any file whose state has the SPFormer under `backbone.`, e.g. from an mmseg or
# mmpretrain SPFormer-T config) as the checkpoint of tools/test.py: loading it into SPFormer3D
# inflates every 2-D kernel to the centre slice of a zero 3-D one and starts the temporal position
# embedding at zero, so the 27-candidate association needs no new weights. Only the supervoxels
# are scored (the decode head is not trained).
_base_ = [
    './_base_/spformer3d_t_fcn.py',
    './_base_/camvid_clips.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/mmsp_runtime.py',
]
model = dict(backbone=dict(img_size=(8, 240, 320), drop_path_rate=0.0))
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
val_dataloader = None
val_cfg = None
val_evaluator = None
test_evaluator = [dict(type='SupervoxelMetric')]
test_cfg = dict(type='TestLoop')

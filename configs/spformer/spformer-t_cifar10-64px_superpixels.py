# Hard superpixels of the CIFAR-10 SPFormer-T (spformer-t_1xb64-2k_cifar10-64px.py) for
# tools/visualization/visualize_superpixels.py: the image is resized to 64x64
# (4x4 = 16 superpixels), the
# final-stage association is upsampled to image resolution, arg-maxed and resized back.
# The runner checkpoint's backbone.* keys load into this model (load_prefix; they must match it
# exactly, the classifier's head.* keys are not used):
#   python tools/visualization/visualize_superpixels.py IMG ... \
#     --method configs/spformer/spformer-t_cifar10-64px_superpixels.py \
#     --method configs/spformer/spformer-t_cifar10-64px_superpixels.py \
#              work_dirs/spformer-t_1xb64-2k_cifar10-64px/iter_2000.pth
_base_ = ['mmseg::_base_/default_runtime.py', '../_base_/mmsp_runtime.py']

load_prefix = 'backbone.'
model = dict(
    type='SuperpixelPredictor',
    backbone=dict(
        type='SPFormer',
        arch='tiny',
        superpixel_stride=16,
        img_size=64,
        drop_path_rate=0.,
        out_type='avg_featmap',  # the classifier's backbone (with fc_norm), as in its checkpoint
        init_cfg=None),
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[125.307, 122.961, 113.8575],
        std=[51.5865, 50.847, 51.255],
        bgr_to_rgb=True))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='BaseSegDataset', data_root='', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))

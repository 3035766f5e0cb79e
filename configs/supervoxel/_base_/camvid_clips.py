# CamVid clips (SegNet release) for clip models such as SPFormer3D: CamVidClipDataset groups the
# frames of a split by sequence and frame number into runs of consecutive frames and cuts clips of
# `clip_len` frames from them. ClipTransform runs the usual per-image transforms on every frame
# with one random draw per clip; PackClipSegInputs packs (3, T, H, W) images and (T, H, W) labels
# (255 = unlabelled). Frames are 480x360; label 11 ("Unlabelled") becomes 255.
# * train: runs at 1 Hz (frame step 30: max_step=30); clips of 2 frames 1 s apart, all starting
#   points (clip_stride=1); resized to 320x240 and cropped to 160x120.
# * val: the one 15-Hz run of 101 frames (0016E5_07959 .. 08159, step 2: max_step=2), 12
#   non-overlapping clips of 8 frames at 320x240; labels loaded after the resize, so the metrics
#   are computed at the original 480x360, as mmseg does for images.
# data_root is relative to the repository root, where the tools are run.
dataset_type = 'CamVidClipDataset'
data_root = '../shared/data/camvid'
crop_size = (120, 160)
train_pipeline = [
    dict(
        type='ClipTransform',
        transforms=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='RandomResize', scale=(320, 240), ratio_range=(0.75, 1.5),
                 keep_ratio=True),
            dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PhotoMetricDistortion'),
        ]),
    dict(type='PackClipSegInputs'),
]
test_pipeline = [
    dict(
        type='ClipTransform',
        transforms=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(320, 240), keep_ratio=True),
            dict(type='LoadAnnotations'),
        ]),
    dict(type='PackClipSegInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/train', seg_map_path='labels/train'),
        clip_len=2,
        clip_stride=1,
        max_step=30,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/val', seg_map_path='labels/val'),
        clip_len=8,
        clip_stride=8,
        max_step=2,
        pipeline=test_pipeline))
# the shared CamVid copy has no separate test split: testing uses val
test_dataloader = val_dataloader
val_evaluator = [dict(type='IoUMetric', iou_metrics=['mIoU']), dict(type='SupervoxelMetric')]
test_evaluator = val_evaluator

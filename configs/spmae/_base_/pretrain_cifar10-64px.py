# Unlabelled pre-training images: the CIFAR-10 folder subset (10k train images; the class folders
# are not used), upsampled to 64 px by RandomResizedCrop(64, 0.2-1.0) + flip (MAE's pipeline).
# data_root resolves from the repository root (../shared/data/cifar10; never copied into it).
data_root = '../shared/data/cifar10'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[125.307, 122.961, 113.8575],  # RGB, CIFAR-10 statistics (as the supervised config)
    std=[51.5865, 50.847, 51.255],
    to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=64,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        with_label=False,
        pipeline=train_pipeline))

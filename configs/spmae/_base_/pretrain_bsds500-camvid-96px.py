# Unlabelled natural images: BSDS500 train (200) + CamVid train (367) = 567 images, no
# annotation read. RandomResizedCrop(96) of 8-50 % of the image area: crops of about 140-340 px
# of a 481x321 image resized to 96 px, i.e. about the scale of the zero-shot evaluation (whole
# image at 224 px). An epoch is 6 passes over the 567 images (RepeatDataset); batch 256, so that
# the 50-epoch recipe is 700 iterations of 256 crops (170k crops seen). ImageNet mean/std
# (the zero-shot config spformer-t-s8-natural_zeroshot-224_bsds500-val.py uses the same).
# data_root: from the repository root.
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=96,
        crop_ratio_range=(0.08, 0.5),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=256,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='RepeatDataset',
        times=6,
        dataset=dict(
            type='ConcatDataset',
            datasets=[
                dict(
                    type='CustomDataset',
                    data_root='../shared/data/bsds500',
                    data_prefix='images/train',
                    with_label=False,
                    pipeline=train_pipeline),
                dict(
                    type='CustomDataset',
                    data_root='../shared/data/camvid',
                    data_prefix='images/train',
                    with_label=False,
                    pipeline=train_pipeline),
            ])))

# CIFAR-10 from an image-folder tree (mmpretrain CustomDataset layout, one folder per class):
# ../shared/data/cifar10/{train,test}/<class>/*.jpg (a 1000 + 300 images-per-class subset).
# The 32 px images are upsampled to 64 px so that a superpixel stride of 16 gives 4x4 = 16
# superpixels. Paths resolve from the repository root, where the tools run.
dataset_type = 'CustomDataset'
data_root = '../shared/data/cifar10'
data_preprocessor = dict(
    num_classes=10,
    mean=[125.307, 122.961, 113.8575],  # RGB, CIFAR-10 statistics
    std=[51.5865, 50.847, 51.255],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='Resize', scale=64, interpolation='bicubic'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=64, interpolation='bicubic'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=0,  # decoding 32 px JPEGs is cheap; keep the shared CPU for the model
    persistent_workers=False,
    dataset=dict(
        type=dataset_type, data_root=data_root, data_prefix='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=100,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type, data_root=data_root, data_prefix='test', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# Pascal VOC 2012 val (1,449 images, 21 classes, void 255) for zero-shot superpixel evaluation (as
# in SPFormer, arXiv 2401.02931): images at their original size; models that need another input size
# (SPFormer: 224x224) resize inside their own config and predict superpixels back at the original
# size. Standard mmseg layout, prepared by the user (not redistributed):
#   data/VOCdevkit/VOC2012/{JPEGImages,SegmentationClass,ImageSets/Segmentation/val.txt}
dataset_type = 'PascalVOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# paper protocol: majority-label painting scored with one confusion matrix over the dataset
val_evaluator = dict(type='SuperpixelMetric', miou_mode='dataset', ignore_index=255)
test_evaluator = val_evaluator

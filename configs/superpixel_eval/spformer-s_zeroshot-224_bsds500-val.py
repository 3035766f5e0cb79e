_base_ = [
    '../_base_/datasets/bsds500.py', './_base_/spformer-s_zeroshot-224.py',
    './_base_/sp_eval_runtime.py'
]
# the model sees 224x224; annotations are loaded after the resize, so scores are computed at
# the original size against pred_superpixels resized back by the model
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale={{_base_.zero_shot_input_size}}, keep_ratio=False),
    dict(type='LoadBSDSAnnotations'),
    dict(type='PackMultiAnnotationInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

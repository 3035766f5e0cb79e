# Zero-shot SPFormer-S superpixels (the zero-shot evaluation of arXiv 2401.02931): the
# ImageNet-trained backbone (no training on the target data) sees the image resized to 224x224
# (14x14 = 196 superpixels at superpixel stride 16); the final-stage association logits are
# upsampled x4 to stride 1 inside each superpixel window, hard-assigned by argmax and the id map is
# resized (nearest) back to the original size. Load the ImageNet checkpoint with
# tools/eval_superpixels.py --method CFG CKPT (or tools/test.py CFG CKPT): its `backbone.*` keys
# must match this model exactly (the tools refuse a mismatch); the classifier's `head.*` keys are
# not used (load_prefix).
zero_shot_input_size = (224, 224)  # used by tools/eval_superpixels.py --dataset
load_prefix = 'backbone.'
model = dict(
    type='SuperpixelPredictor',
    backbone=dict(
        type='SPFormer',
        arch='small',
        superpixel_stride=16,
        img_size=224,
        out_type='avg_featmap',  # the classifier's backbone (with fc_norm), as in its checkpoint
        drop_path_rate=0.,
        init_cfg=None),
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True))

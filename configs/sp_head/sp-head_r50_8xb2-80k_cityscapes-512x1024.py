# SP-Transformer head + ResNet-50 (ResNetV1c, no dilation) on Cityscapes, 512x1024 crops,
# 8 GPUs x 2 images, 80k iterations, whole-image inference at 1024x2048 (superpixels need it).
# Paper (IROS 2023, arXiv 2309.16889): 29M params / 253 GFLOPs / 80.4 mIoU at 1024x2048.
# Not the paper's recipe: the optimiser is the authors' deeplab2 (kMaX-DeepLab-style) AdamW, but
# the crop, batch, iteration count and warm-up are mmseg's Cityscapes 80k schedule (512x1024
# crops, 8x2 images, 80k iterations, 1.5k warm-up), a deviation from the authors' training.
_base_ = [
    '../_base_/models/sp_head_r50.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/sp_head_adamw_80k.py',
    '../_base_/mmsp_runtime.py',
]
crop_size = (512, 1024)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    # query grid = training grid: ceil(512 / 64) x ceil(1024 / 64); 16x32 at 1024x2048 test
    decode_head=dict(query_grid=(8, 16), num_classes=19))

# draw the predicted superpixels next to the segmentation (tools/test.py --show-dir,
# MMSegInferencer)
visualizer = dict(type='SuperpixelSegLocalVisualizer')

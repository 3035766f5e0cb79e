# SP-Transformer head + ResNet-50 on Pascal Context (59 classes), 480x480 crops, 4 GPUs x 4
# images, 40k iterations.
_base_ = [
    '../_base_/models/sp_head_r50.py',
    'mmseg::_base_/datasets/pascal_context_59.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/sp_head_adamw_40k.py',
    '../_base_/mmsp_runtime.py',
]
crop_size = (480, 480)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    # query grid = training grid ceil(crop / 64); other test sizes interpolate it
    decode_head=dict(query_grid=(8, 8), num_classes=59))
train_dataloader = dict(batch_size=4)

# draw the predicted superpixels next to the segmentation (tools/test.py --show-dir,
# MMSegInferencer)
visualizer = dict(type='SuperpixelSegLocalVisualizer')

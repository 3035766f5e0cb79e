# Stock mmseg FCN baseline (ResNetV1c-50 with dilated stages 3-4, output stride 8; FCNHead with
# 2 convs of 512 channels; no auxiliary head), from scratch, same data, crop, batch and schedule
# as ./sp-head_r50_1xb4-1k_camvid-240x320.py. About 4x the training time per
# iteration of the non-dilated R50 on a CPU.
_base_ = ['./fcn_r50_1xb4-1k_camvid-240x320.py']
model = dict(backbone=dict(dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1)))

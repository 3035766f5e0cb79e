# E3 for the SPFormer-T/8 pre-trained on unlabelled BSDS500 + CamVid crops (96 px, ImageNet
# normalisation): the same protocol as spformer-t-s8_zeroshot-224_bsds500-val.py.
_base_ = ['./spformer-t-s8_zeroshot-224_bsds500-val.py']
model = dict(
    backbone=dict(img_size=96),
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]))

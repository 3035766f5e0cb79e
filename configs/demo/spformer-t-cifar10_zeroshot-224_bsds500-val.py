# Zero-shot superpixels of the main job's CIFAR-10 SPFormer-T on BSDS500 val: no training on
# BSDS. The model was trained at 64 px (4x4 superpixels); here it sees the image resized to
# 224x224, i.e. the same 16-px superpixel stride and 14x14 = 196 superpixels (its position
# embeddings are resized), compared with the 14x14 patch grid and SLIC asked for 196.
# Like SLIC (connectivity on), the learned superpixels go through the connectivity pass: pieces
# below 48 px (~0.06x the mean superpixel area at 481x321, SSN's post-processing rule) merge
# into a neighbour; the table reports the count actually returned.
_base_ = ['../superpixel_eval/spformer-s_zeroshot-224_bsds500-val.py']
model = dict(
    connectivity_min_size=48,
    backbone=dict(arch='tiny', img_size=64, out_norm_cfg=None),
    data_preprocessor=dict(mean=[125.307, 122.961, 113.8575], std=[51.5865, 50.847, 51.255]))

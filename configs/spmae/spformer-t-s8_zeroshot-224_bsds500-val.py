# E3: zero-shot superpixels of an SPFormer-T/8 trained on the CIFAR-10 subset at 64 px (SP-MAE,
# supervised, or random init without a checkpoint) on BSDS500 val at 224x224: 28x28 = 784 cells;
# the last stage's association, upsampled, arg-maxed, resized back, connectivity pass (pieces
# < 48 px merged; the returned count is reported). CIFAR-10 normalisation (as its training).
#   python tools/eval_superpixels.py \
#       --method configs/spmae/spformer-t-s8_zeroshot-224_bsds500-val.py CKPT
_base_ = ['../superpixel_eval/spformer-s_zeroshot-224_bsds500-val.py']
model = dict(
    connectivity_min_size=48,
    backbone=dict(
        arch='tiny', superpixel_stride=8, stem_type='cc4', img_size=64, out_norm_cfg=None),
    data_preprocessor=dict(mean=[125.307, 122.961, 113.8575], std=[51.5865, 50.847, 51.255]))

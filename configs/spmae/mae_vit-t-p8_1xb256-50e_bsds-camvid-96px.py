# M1 on unlabelled natural images (BSDS500 train + CamVid train, 96-px crops): patch MAE ViT-T/8.
_base_ = [
    './_base_/mae_vit-t-p8-96px.py',
    './_base_/pretrain_bsds500-camvid-96px.py',
    './_base_/pretrain_schedule_50e.py',
]

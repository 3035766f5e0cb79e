# M3 on unlabelled natural images (BSDS500 train + CamVid train, 96-px crops: 12x12 tokens).
_base_ = [
    './_base_/spmae_spformer-t-s8-96px.py',
    './_base_/pretrain_bsds500-camvid-96px.py',
    './_base_/pretrain_schedule_50e.py',
]

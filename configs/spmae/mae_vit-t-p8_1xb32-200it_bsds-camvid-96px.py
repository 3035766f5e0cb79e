# M1 on unlabelled natural images, CPU-sized: patch MAE ViT-T/8 on the 96-px crops of the
# natural-image recipe, 200 iterations of batch 32 (the budget of the CPU comparison).
_base_ = [
    './_base_/mae_vit-t-p8-96px.py',
    './_base_/pretrain_bsds500-camvid-96px.py',
    './_base_/pretrain_schedule_200it.py',
]
train_dataloader = dict(batch_size=32)

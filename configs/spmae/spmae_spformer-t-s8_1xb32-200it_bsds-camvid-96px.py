# M3 on unlabelled natural images, CPU-sized: the crops of the natural-image recipe (BSDS500 train
# + CamVid train, 96 px: 12x12 tokens) at the budget of the CPU comparison, 200 iterations of
# batch 32 (6,400 crops; the 50-epoch recipe sees 170k).
_base_ = [
    './_base_/spmae_spformer-t-s8-96px.py',
    './_base_/pretrain_bsds500-camvid-96px.py',
    './_base_/pretrain_schedule_200it.py',
]
train_dataloader = dict(batch_size=32)

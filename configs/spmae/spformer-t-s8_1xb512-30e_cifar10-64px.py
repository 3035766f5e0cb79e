# E2 fine-tuning at batch 512 (the recipe of the GPU runs in README.md): the 30-epoch supervised
# CIFAR-10 recipe of spformer-t-s8_1xb64-30e_cifar10-64px.py (AdamW 1e-3, label smoothing, drop
# path 0.1, RandomCrop + flip, 64 px) with 8x the batch, the same learning rate and epochs:
# 600 iterations instead of 4.7k. From a pre-training checkpoint, in a config that inherits
# this one:
#   model = dict(backbone=dict(init_cfg=dict(
#       type='Pretrained', checkpoint='iter_200.pth', prefix='backbone.')))
_base_ = ['./spformer-t-s8_1xb64-30e_cifar10-64px.py']
train_dataloader = dict(batch_size=512, num_workers=2, persistent_workers=True)
default_hooks = dict(logger=dict(interval=20))
log_processor = dict(window_size=20)

# E2 fine-tuning at batch 512 for the patch MAE (M1) and its random-init control: ViT-T/8 with
# the recipe of spformer-t-s8_1xb512-30e_cifar10-64px.py (vit-t-p8_1xb64-30e_cifar10-64px.py
# at 8x the batch, the same learning rate and epochs).
_base_ = ['./vit-t-p8_1xb64-30e_cifar10-64px.py']
train_dataloader = dict(batch_size=512, num_workers=2, persistent_workers=True)
default_hooks = dict(logger=dict(interval=20))
log_processor = dict(window_size=20)

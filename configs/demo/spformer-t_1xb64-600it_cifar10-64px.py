# Main-job (tools/run_demo.sh) budget of ../spformer/spformer-t_1xb64-2k_cifar10-64px.py:
# SPFormer-T (16 superpixels at 64 px) on the real CIFAR-10 subset, 600 iterations of batch 64
# (~4 epochs of the 10k-image subset), validated at 300 and 600 on the 3k test images.
_base_ = ['../spformer/spformer-t_1xb64-2k_cifar10-64px.py']
max_iters = 600
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=50, end=max_iters)
]
train_cfg = dict(by_epoch=False, max_iters=max_iters, val_interval=300)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(
        type='mmseg.AtomicCheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1))

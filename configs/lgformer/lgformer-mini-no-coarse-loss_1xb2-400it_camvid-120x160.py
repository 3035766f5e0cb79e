# Run C at the CPU budget: run B (./lgformer-mini_1xb2-400it_camvid-120x160.py) with the
# coarse loss weight 0: the groups get no coarse labels.
_base_ = ['./lgformer-mini_1xb2-400it_camvid-120x160.py']
model = dict(decode_head=dict(loss_coarse=dict(loss_weight=0.0)))

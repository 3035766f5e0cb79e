# Run C of the hierarchy comparison (README.md): run B with the coarse loss weight 0, so that
# the groups get no coarse labels (they are shaped by the fine loss through the ungrouping
# only); the coarse head is still evaluated (untrained: its classifier sees no gradient).
_base_ = ['./lgformer-t_1xb4-300it_camvid-240x320.py']
model = dict(decode_head=dict(loss_coarse=dict(loss_weight=0.0)))

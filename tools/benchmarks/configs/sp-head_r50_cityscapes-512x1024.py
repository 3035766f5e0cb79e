# Head-cost benchmark (model only, no data): the SP head on ResNet-50 (ResNetV1c, no dilation)
# features, 19 classes. Compare with the sibling configs, which put mmseg's SegformerHead,
# UPerHead and FCNHead on the SAME backbone and features:
#   python tools/benchmark.py --part decode_head --shape 512 1024 \
#       --configs configs/sp_head/bench/*.py
#   python tools/get_flops.py configs/sp_head/bench/<config>.py --shape 512 1024
_base_ = [
    '../../_base_/models/sp_head_r50.py',
    'mmseg::_base_/default_runtime.py',
    '../../_base_/mmsp_runtime.py',
]
model = dict(pretrained=None)

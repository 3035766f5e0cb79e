# Head-cost benchmark (model only, no data): the SP head on ResNet-50 (ResNetV1c, no dilation)
# features, 19 classes. Compare with the sibling configs, which put mmseg's SegformerHead,
# UPerHead and FCNHead on the SAME backbone and features:
#   python tools/analysis_tools/benchmark.py --part decode_head --shape 512 1024 \
#       --configs tools/benchmarks/configs/*.py
#   python tools/analysis_tools/get_flops.py tools/benchmarks/configs/<config>.py --shape 512 1024
_base_ = [
    '../../../configs/_base_/models/sp_head_r50.py',
    'mmseg::_base_/default_runtime.py',
    '../../../configs/_base_/mmsp_runtime.py',
]
model = dict(pretrained=None)

"""Params and FLOPs of the SPFormer ImageNet configs vs the paper (spec 3.7).

Tolerances (documented in docs/spformer.md):

* params: within 1% of the analytic count of spec 3.7 (4 SCA layers, with the 1000-class
  head) and within 5% of the paper. The paper prints SPFormer-T as "5M" although DeiT-T, which
  it also prints as 5M, has 5.72M: for T the 5% bound is taken against DeiT-T's count.
* FLOPs: mmengine's counter (multiply-accumulates) with the self-attention matmuls of the fused
  SDPA kernel added (``flops_sdpa``) within 10% of the paper. That is the convention of the
  paper's reference numbers: DeiT-S is 4.61G with them and 4.25G without, the paper prints 4.6G.
  The paper's count is of the reference code, which projects every pixel's q/k: it is compared
  with the count in that form (``projected=True``); what the absorbed-key layers execute is
  never more (for S/56, 0.44G against 0.46G, -11.6% from the paper's 0.5G).
  The SPFormer-S / DeiT-S ratio of the same counter (with and without the attention matmuls)
  is within 10% of the paper's 4.9 / 4.6.
"""
import mmpretrain.models  # noqa: F401  (a required package: missing is a failure)
import pytest
from spformer_complexity import build_classifier, complexity

#: config, analytic params with head (spec 3.7, M), paper params (M), paper GFLOPs
CASES = {
    'SPFormer-T': ('configs/spformer/spformer-t_8xb128_in1k.py', 5.74, 5.72, 1.3),
    'SPFormer-S': ('configs/spformer/spformer-s_8xb128_in1k.py', 22.33, 22., 4.9),
    'SPFormer-S/32': ('configs/spformer/spformer-s-32_8xb128_in1k.py', 22.23, 22., 1.2),
    'SPFormer-S/56': ('configs/spformer/spformer-s-56_8xb128_in1k.py', 22.22, 22., 0.5),
}


@pytest.mark.parametrize('name', list(CASES))
def test_params_and_flops_match_paper(name):
    config, analytic, paper_params, paper_flops = CASES[name]
    model = build_classifier(config)
    c = complexity(model, 224, check_info=name == 'SPFormer-S')
    p = complexity(model, 224, projected=True)
    assert abs(c['params'] / analytic - 1) < 0.01, (name, c)
    assert abs(c['params'] / paper_params - 1) < 0.05, (name, c)
    assert abs(p['flops_sdpa'] / paper_flops - 1) < 0.10, (name, p)
    assert c['flops_sdpa'] >= c['flops']
    assert c['flops_sdpa'] <= p['flops_sdpa'], (c, p)  # absorbing keys never adds work


def test_base_params_match_paper():
    model = build_classifier('configs/spformer/spformer-b_8xb128_in1k.py')
    params = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(params / 87.6 - 1) < 0.01 and abs(params / 88. - 1) < 0.05, params


@pytest.mark.slow
def test_flops_ratio_to_deit_small():
    spformer = complexity(build_classifier('configs/spformer/spformer-s_8xb128_in1k.py'), 224,
                          projected=True)
    deit = complexity(build_classifier('mmpretrain::deit/deit-small_4xb256_in1k.py'), 224)
    assert abs(deit['params'] - 22.05) < 0.01  # the counter sees the reference model we expect
    ratio = spformer['flops'] / deit['flops']
    assert abs(ratio / (4.9 / 4.6) - 1) < 0.10, ratio
    ratio_all = spformer['flops_sdpa'] / deit['flops_sdpa']
    assert abs(ratio_all / (4.9 / 4.6) - 1) < 0.10, ratio_all

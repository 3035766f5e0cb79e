"""Folded eval-mode ConvModules (mmsp.ops.fast.conv_module) equal the configured modules, in
HypercolumnFusion (both implementations) against the recipe written out."""
import pytest
import torch
import torch.nn.functional as F

from mmsp.models.utils import HypercolumnFusion
from mmsp.ops.fast import fast_path, use_fast_path
from mmsp.ops.fast.conv_module import fold_conv_module as _fold

FAST_OFF = pytest.mark.skipif(not use_fast_path(), reason='MMSP_FAST=0: fast paths are off')


def _randomise_norms(fusion):
    torch.manual_seed(3)
    for m in fusion.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            if m.affine:
                m.weight.data.normal_()
                m.bias.data.normal_()


def _reference(fusion, inputs):
    """Project, resize to the target level, sum: written out with the configured modules."""
    size = inputs[fusion.target_level].shape[2:]
    out = 0
    for x, lateral in zip(inputs, fusion.lateral):
        if x.shape[2:] == size:
            out = out + lateral(x)
        elif x.shape[2] >= size[0] and x.shape[3] >= size[1]:
            out = out + lateral(F.adaptive_avg_pool2d(x, size))
        else:
            out = out + F.interpolate(lateral(x), size=size, mode='bilinear',
                                      align_corners=fusion.align_corners)
    return out


@FAST_OFF
@pytest.mark.parametrize('norm_cfg', [dict(type='BN'), dict(type='SyncBN'),
                                      dict(type='BN', affine=False), None])
@pytest.mark.parametrize('act_cfg', [dict(type='ReLU'), None])
@pytest.mark.parametrize('batch', [1, 2])
def test_eval_folding_matches_modules(norm_cfg, act_cfg, batch):
    fusion = HypercolumnFusion([8, 16, 32], 12, target_level=1, norm_cfg=norm_cfg,
                               act_cfg=act_cfg).double()
    _randomise_norms(fusion)
    fusion.eval()
    assert all(_fold(lateral) is not None for lateral in fusion.lateral)
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randn(batch, 8, 20, 30, generator=g, dtype=torch.float64),
              torch.randn(batch, 16, 10, 15, generator=g, dtype=torch.float64),
              torch.randn(batch, 32, 5, 8, generator=g, dtype=torch.float64)]
    inputs[1] = inputs[1].contiguous(memory_format=torch.channels_last)  # both input layouts
    with torch.no_grad():
        out = fusion(inputs)
        ref = _reference(fusion, inputs)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=1e-12)
    assert out.is_contiguous(memory_format=torch.channels_last)
    # gradients flow through the folded path too (eval mode, e.g. fine-tuning frozen BN)
    out = fusion([x.requires_grad_() for x in inputs])
    out.sum().backward()
    assert all(p.grad is not None for p in fusion.parameters() if p.requires_grad)


@pytest.mark.parametrize('fast', [False, True])
def test_plain_form_matches_the_recipe(fast):
    with fast_path(fast):
        fusion = HypercolumnFusion([8, 16, 32], 12, target_level=1,
                                   norm_cfg=dict(type='BN')).double()
    _randomise_norms(fusion)
    inputs = [torch.randn(2, 8, 20, 30, dtype=torch.float64),
              torch.randn(2, 16, 10, 15, dtype=torch.float64),
              torch.randn(2, 32, 5, 8, dtype=torch.float64)]
    for mode in (fusion.train, fusion.eval):
        mode()
        with torch.no_grad():
            torch.testing.assert_close(fusion(inputs), _reference(fusion, inputs))


@FAST_OFF
def test_training_mode_and_unfoldable_modules_run_as_configured():
    fusion = HypercolumnFusion([8, 8], 4, norm_cfg=dict(type='BN')).double()
    assert _fold(fusion.lateral[0]) is None  # training: BN uses batch statistics
    fusion.eval()
    gelu = HypercolumnFusion([8, 8], 4, norm_cfg=dict(type='GN', num_groups=2),
                             act_cfg=dict(type='GELU')).double().eval()
    assert _fold(gelu.lateral[0]) is None  # GN statistics span the map
    inputs = [torch.randn(2, 8, 6, 6, dtype=torch.float64),
              torch.randn(2, 8, 3, 3, dtype=torch.float64)]
    with torch.no_grad():
        torch.testing.assert_close(gelu(inputs), _reference(gelu, inputs))
    fusion.train()
    torch.testing.assert_close(fusion(inputs), _reference(fusion, inputs))

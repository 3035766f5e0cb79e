"""CPUAmpOptimWrapper (bf16 autocast on CPU) and enable_amp (the --amp switch)."""
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS, DefaultScope

from mmsp.utils import CPUAmpOptimWrapper, enable_amp


def _wrapper():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    return model, CPUAmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


def test_forward_in_bf16_and_fp32_update():
    model, wrapper = _wrapper()
    x = torch.randn(5, 4)
    with wrapper.optim_context(model):
        out = model(x)
    assert out.dtype == torch.bfloat16
    assert model(x).dtype == torch.float32  # only inside the context
    before = model.weight.detach().clone()
    wrapper.update_params(out.float().pow(2).mean())
    assert model.weight.dtype == torch.float32 and not torch.equal(model.weight, before)
    # the bf16 step is close to the float32 step
    ref_model = torch.nn.Linear(4, 3)
    ref_model.load_state_dict({'weight': before, 'bias': _wrapper()[0].bias.detach()})
    ref = OptimWrapper(optimizer=torch.optim.SGD(ref_model.parameters(), lr=0.1))
    ref.update_params(ref_model(x).pow(2).mean())
    torch.testing.assert_close(model.weight, ref_model.weight, rtol=0, atol=2e-2)


def test_only_bfloat16():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match='bfloat16'):
        CPUAmpOptimWrapper(dtype='float16', optimizer=torch.optim.SGD(model.parameters(), lr=1))


def test_registered_and_reachable_from_any_scope():
    model = torch.nn.Linear(2, 2)
    for scope in ('mmseg', 'mmpretrain'):
        with DefaultScope.overwrite_default_scope(scope):
            wrapper = OPTIM_WRAPPERS.build(
                dict(type='mmseg.CPUAmpOptimWrapper', dtype='bfloat16',
                     optimizer=torch.optim.SGD(model.parameters(), lr=1)))
        assert isinstance(wrapper, CPUAmpOptimWrapper)


def test_enable_amp():
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD'))))
    assert enable_amp(cfg, cuda=False) == 'mmseg.CPUAmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    assert enable_amp(cfg, cuda=False) == 'mmseg.CPUAmpOptimWrapper'  # idempotent
    cfg = Config(dict(optim_wrapper=dict(optimizer=dict(type='SGD'))))
    assert enable_amp(cfg, cuda=True) == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    with pytest.raises(ValueError, match='OptimWrapper'):
        enable_amp(Config(dict(optim_wrapper=dict(type='ApexOptimWrapper'))), cuda=False)
    with pytest.raises(ValueError, match='optim_wrapper'):
        enable_amp(Config(dict()), cuda=False)

"""HostStepCosineEMA: equal to mmpretrain's CosineEMA (up to the float32 rounding of CosineEMA's
momentum), its step count on the host."""
import copy
import math

import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.models.utils import CosineEMA
from torch import nn

from mmsp.models.selfsup import HostStepCosineEMA


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))


def _perturb(model: nn.Module, step: int) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1 * (step + 1))
        model[1].running_mean.add_(1.0)


@pytest.mark.parametrize('interval', [1, 2])
def test_equal_to_cosine_ema(interval):
    MessageHub.get_current_instance().update_info('max_iters', 7)
    student = _model(0)
    ours = HostStepCosineEMA(student, momentum=0.3, end_momentum=0.05, interval=interval)
    ref = CosineEMA(copy.deepcopy(student), momentum=0.3, end_momentum=0.05, interval=interval)
    for step in range(6):
        torch.manual_seed(100 + step)
        _perturb(student, step)
        ours.update_parameters(student)
        ref.update_parameters(student)
        for (name, a), (_, b) in zip(ours.module.state_dict().items(),
                                     ref.module.state_dict().items()):
            assert torch.allclose(a, b, rtol=1e-6, atol=1e-7), (step, name)
        assert int(ours.steps) == int(ref.steps) == step + 1


def test_momentum_schedule_and_host_count():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    student = _model(1)
    ema = HostStepCosineEMA(student, momentum=0.2, end_momentum=1.0)
    # m_k = m_end - (m_end - m_start) (cos(pi k / K) + 1) / 2, written out by hand
    for k in (0, 5, 10):
        expected = 1.0 - (1.0 - 0.2) * (math.cos(math.pi * k / 10) + 1) / 2
        assert abs(ema.momentum_at(k) - expected) < 1e-12
    ema.update_parameters(student)  # step 0: a copy
    before = {k: v.clone() for k, v in ema.module.named_parameters()}
    ema.steps.fill_(1000)  # not read again: the host counts (step 1 here)
    _perturb(student, 0)
    ema.update_parameters(student)
    m = ema.momentum_at(1)
    for name, p in ema.module.named_parameters():
        src = dict(student.named_parameters())[name]
        assert torch.allclose(p, (1 - m) * before[name] + m * src, atol=1e-6), name
    assert int(ema.steps) == 1001


def test_loading_a_checkpoint_rereads_the_step():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    student = _model(2)
    ema = HostStepCosineEMA(student)
    ema.update_parameters(student)
    state = copy.deepcopy(ema.state_dict())
    state['steps'] = torch.tensor([4])
    ema.load_state_dict(state)
    assert ema._host_steps is None
    ema.update_parameters(student)
    assert ema._host_steps == 5 and int(ema.steps) == 5


def test_missing_max_iters_is_named():
    MessageHub.get_current_instance().update_info('max_iters', None)
    ema = HostStepCosineEMA(_model(3))
    with pytest.raises(RuntimeError, match='max_iters'):
        ema.momentum_at(1)
    MessageHub.get_current_instance().update_info('max_iters', 10)

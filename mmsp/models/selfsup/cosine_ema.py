"""BYOL's cosine-momentum moving average with its step count on the host."""
from math import cos, pi
from typing import Optional

import torch
from mmengine.logging import MessageHub
from mmpretrain.models.utils import CosineEMA
from torch import nn

__all__ = ['HostStepCosineEMA']


class HostStepCosineEMA(CosineEMA):
    """mmpretrain's :class:`CosineEMA` that reads its step count once, not once per parameter.

    The average follows BYOL (Grill et al., arXiv 2006.07733: the target update of Sec. 3.1,
    Eq. 1, and the cosine schedule of its decay rate in Sec. 3.2, written with mmpretrain's
    start / end momenta ``m = 1 - tau``): after step ``k`` of ``K`` (``max_iters`` of the
    message hub)

    ``m_k = m_end - (m_end - m_start) (cos(pi k / K) + 1) / 2``,
    ``theta_avg <- (1 - m_k) theta_avg + m_k theta``.

    :class:`CosineEMA` keeps ``k`` in a device buffer and evaluates ``cos`` of it for every
    parameter, and ``update_parameters`` compares it with 0 and the interval: each of these
    reads stops the host until the accelerator has caught up. Here ``k`` is read from the
    buffer once (the first update, and the first after a checkpoint is loaded) and then counted
    on the host; the buffer is still advanced, so checkpoints are those of :class:`CosineEMA`.
    The parameters are updated with the same two operations (``mul_``, ``add_``), batched over
    all parameters. The result equals :class:`CosineEMA`'s up to the rounding of the momentum:
    :class:`CosineEMA` evaluates ``pi k / K`` in float32 (a tensor), this class in float64.

    Args:
        model (nn.Module): the model to average.
        momentum (float): start momentum ``m_start``. Defaults to 0.004.
        end_momentum (float): end momentum ``m_end``. Defaults to 0.
        interval (int): update every ``interval`` steps. Defaults to 1.
        device (torch.device, optional): where the average is kept. Defaults to the model's.
        update_buffers (bool): average the buffers too. Defaults to False.
    """

    def __init__(self,
                 model: nn.Module,
                 momentum: float = 0.004,
                 end_momentum: float = 0.,
                 interval: int = 1,
                 device: Optional[torch.device] = None,
                 update_buffers: bool = False) -> None:
        super().__init__(model, momentum, end_momentum, interval, device, update_buffers)
        self._host_steps: Optional[int] = None

    def momentum_at(self, step: int) -> float:
        """The momentum ``m_k`` of step ``k`` (``max_iters`` from the message hub)."""
        max_iters = MessageHub.get_current_instance().get_info('max_iters')
        if not max_iters:
            raise RuntimeError('HostStepCosineEMA: the message hub has no max_iters (set by the '
                               'runner; outside it: MessageHub.get_current_instance()'
                               '.update_info("max_iters", N))')
        annealing = (cos(pi * step / float(max_iters)) + 1) / 2
        return self.end_momentum - (self.end_momentum - self.momentum) * annealing

    def update_parameters(self, model: nn.Module) -> None:
        """One step of the moving average towards ``model``.

        Args:
            model (nn.Module): the averaged model's source (same parameter names).
        """
        if self._host_steps is None:
            self._host_steps = int(self.steps)  # the one read of the device buffer
        step = self._host_steps
        source = model.state_dict() if self.update_buffers else dict(model.named_parameters())
        if step == 0:
            for name, avg in self.avg_parameters.items():
                avg.data.copy_(source[name].data)
        elif step % self.interval == 0:
            pairs = [(avg.data, source[name].data.to(avg.device))
                     for name, avg in self.avg_parameters.items() if avg.dtype.is_floating_point]
            if pairs:
                averaged, new = (list(t) for t in zip(*pairs))
                momentum = self.momentum_at(step)
                torch._foreach_mul_(averaged, 1 - momentum)
                torch._foreach_add_(averaged, new, alpha=momentum)
        if not self.update_buffers:  # keep the buffers equal to the source's
            for avg, src in zip(self.module.buffers(), model.buffers()):
                avg.data.copy_(src.data.to(avg.device))
        self.steps += 1
        self._host_steps = step + 1

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._host_steps = None  # read the loaded step count at the next update

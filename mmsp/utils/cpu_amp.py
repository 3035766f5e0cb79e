"""bfloat16 mixed precision for CPU training (what ``tools/train.py --amp`` uses without a GPU)."""
from contextlib import contextmanager
from typing import Iterator, Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmseg.registry import OPTIM_WRAPPERS

__all__ = ['CPUAmpOptimWrapper']


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """:class:`~mmengine.optim.OptimWrapper` that runs forward and loss under CPU bf16 autocast.

    mmengine's ``AmpOptimWrapper`` asserts a CUDA/NPU/MLU device, so it cannot be used for CPU
    runs. bfloat16 keeps float32's exponent range, so no loss scaling is needed: backward and
    the optimizer step are the plain float32 ones of :class:`OptimWrapper` (parameters and
    gradients stay float32; autocast only lowers the precision of matmul/conv inputs).

    Use from any config scope as ``optim_wrapper=dict(type='mmseg.CPUAmpOptimWrapper', ...)``.

    Args:
        dtype (str | torch.dtype): autocast dtype; only ``'bfloat16'`` is supported (CPU
            autocast has no float16 matmul kernels worth using). Defaults to ``'bfloat16'``.
        **kwargs: :class:`~mmengine.optim.OptimWrapper` arguments (``optimizer``, ``clip_grad``,
            ``accumulative_counts``).

    Raises:
        ValueError: any other ``dtype``.
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16', **kwargs) -> None:
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError(f'CPUAmpOptimWrapper supports dtype bfloat16 only, got {dtype!r}')
        super().__init__(**kwargs)
        self.cast_dtype = torch.bfloat16

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """The parent's context (gradient-accumulation no_sync) plus CPU bf16 autocast."""
        with super().optim_context(model), torch.autocast(
                device_type='cpu', dtype=self.cast_dtype):
            yield

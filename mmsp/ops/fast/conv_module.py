"""An eval-mode 1x1 conv + BatchNorm + ReLU (mmcv ``ConvModule``) as one GEMM.

The standard inference folding of a norm with running statistics into the conv before it:
``BN(W x + c) = (g / s) * (W x + c - mu) + beta`` with ``s = sqrt(var + eps)``. The GEMM
writes a channels-last map, read in place from an NCHW or channels-last input.
"""
from typing import NamedTuple, Optional

import torch
from mmcv.cnn import ConvModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['FoldedConvModule', 'fold_conv_module']


class FoldedConvModule(NamedTuple):
    """An eval-mode 1x1 ``ConvModule`` as one affine map: ``act(x @ weight^T + bias)``."""
    weight: Tensor  # (O, I), the norm's running statistics and affine folded in
    bias: Optional[Tensor]  # (O, )
    relu: bool

    def __call__(self, x: Tensor) -> Tensor:
        """(B, I, H, W) -> (B, O, H, W) in channels-last memory format, as one GEMM.

        An NCHW input is read in place as the transposed operand of a batched GEMM whose output
        is already channels-last: no layout copy before or after, and the norm costs nothing.
        """
        b, c, height, width = x.shape
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            rows = x.permute(0, 2, 3, 1).reshape(b, height * width, c)
        else:
            rows = x.contiguous().view(b, c, height * width).transpose(1, 2)
        # bmm, then the bias in place: the same passes as baddbmm, and FLOP counters see bmm
        y = torch.bmm(rows, self.weight.to(x.dtype).t().expand(b, -1, -1))
        if self.bias is not None:
            y = y.add_(self.bias.to(x.dtype))
        if self.relu:
            y = y.relu_()
        return y.view(b, height, width, -1).permute(0, 3, 1, 2)


def fold_conv_module(module: ConvModule) -> Optional[FoldedConvModule]:
    """The affine map of an eval-mode 1x1 ``ConvModule`` (conv, BN, ReLU), None if not foldable.

    Foldable: a plain ``nn.Conv2d`` 1x1 (stride 1, no padding, one group), then no norm or a
    ``_BatchNorm`` (BN, SyncBN) using running statistics, then no activation or ReLU, in the
    default order. ``BN(W x + c) = (g / s) * (W x + c - mu) + beta`` with
    ``s = sqrt(var + eps)``: the same function up to float rounding (tested).
    """
    conv = module.conv
    if module.training or type(conv) is not nn.Conv2d or conv.kernel_size != (1, 1) or \
            conv.stride != (1, 1) or conv.padding != (0, 0) or conv.groups != 1 or \
            tuple(module.order) != ('conv', 'norm', 'act'):
        return None
    if module.with_activation and type(module.activate) is not nn.ReLU:
        return None
    weight, bias = conv.weight.flatten(1), conv.bias
    if module.with_norm:
        norm = module.norm
        if not isinstance(norm, _BatchNorm) or norm.running_mean is None:
            return None
        scale = torch.rsqrt(norm.running_var + norm.eps)
        if norm.affine:
            scale = scale * norm.weight
        shift = -norm.running_mean if bias is None else bias - norm.running_mean
        bias = shift * scale + (norm.bias if norm.affine else 0)
        weight = weight * scale[:, None]
    return FoldedConvModule(weight, bias, module.with_activation)

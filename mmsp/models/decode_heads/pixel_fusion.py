"""Light multi-level fusion of backbone features into one pixel map (spec B2, hypercolumn)."""
from typing import Dict, List, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['HypercolumnFusion']


class _FoldedProjection(NamedTuple):
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


def _fold(module: ConvModule) -> Optional[_FoldedProjection]:
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
    return _FoldedProjection(weight, bias, module.with_activation)


class HypercolumnFusion(BaseModule):
    """Project every level to ``C`` channels with a 1x1 conv, bring it to one size and sum.

    This is the SPFormer-style hypercolumn of spec B2: one ``ConvModule`` (1x1 conv + norm +
    activation) per level, then a resize to the *target* level's size, then a sum. To keep the
    cost low the order depends on the level:

    * levels coarser than (or as coarse as) the target are projected first and then upsampled
      bilinearly;
    * levels finer than the target are first average-pooled to the target size
      (``adaptive_avg_pool2d``, which also handles sizes that do not divide) and then projected.

    In eval mode each projection (1x1 conv, BN with running statistics, ReLU) is folded into
    one GEMM that writes a channels-last map (the layout the superpixel tokeniser works in):
    the same function up to float rounding, without the separate norm pass and layout copies
    (~2x faster at 512x1024 on CPU). Other convs, norms or activations run as configured.

    Args:
        in_channels (Sequence[int]): channels of each input level.
        channels (int): output channels ``C``.
        target_level (int): index into the inputs of the level whose spatial size is used.
        conv_cfg (dict, optional): conv config of the projections.
        norm_cfg (dict, optional): norm config of the projections.
        act_cfg (dict, optional): activation config of the projections.
        align_corners (bool): ``align_corners`` of the bilinear upsampling.
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        - inputs: list of (B, C_i, H_i, W_i)
        - output: (B, C, H_t, W_t) with ``(H_t, W_t)`` the size of ``inputs[target_level]``
          (channels-last memory format when the target level's projection is folded).
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 channels: int,
                 target_level: int = 0,
                 conv_cfg: Optional[Dict] = None,
                 norm_cfg: Optional[Dict] = None,
                 act_cfg: Optional[Dict] = dict(type='ReLU'),
                 align_corners: bool = False,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = [int(c) for c in in_channels]
        if not self.in_channels:
            raise ValueError('HypercolumnFusion: in_channels must name at least one level')
        if not 0 <= target_level < len(self.in_channels):
            raise ValueError(f'HypercolumnFusion: target_level={target_level} is not an index of '
                             f'the {len(self.in_channels)} input levels {self.in_channels}')
        self.channels, self.target_level, self.align_corners = channels, target_level, align_corners
        self.lateral = nn.ModuleList(
            ConvModule(c, channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for c in self.in_channels)

    def _project(self, index: int, x: Tensor) -> Tensor:
        """Lateral ``index`` of ``x``: folded into one channels-last GEMM in eval mode if it can."""
        lateral = self.lateral[index]
        folded = _fold(lateral)
        return lateral(x) if folded is None else folded(x)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'{type(self).__name__}: got {len(inputs)} levels, expected '
                             f'{len(self.in_channels)} with channels {self.in_channels}')
        for i, (x, c) in enumerate(zip(inputs, self.in_channels)):
            if x.dim() != 4 or x.shape[1] != c:
                raise ValueError(f'{type(self).__name__}: level {i} should be (B, {c}, H, W) as '
                                 f'in_channels says, got {tuple(x.shape)}')
        size = tuple(inputs[self.target_level].shape[2:])
        out, owned = None, False
        for i, x in enumerate(inputs):
            if tuple(x.shape[2:]) == size:
                y = self._project(i, x)
            elif x.shape[2] >= size[0] and x.shape[3] >= size[1]:
                y = self._project(i, F.adaptive_avg_pool2d(x, size))
            else:
                y = F.interpolate(self._project(i, x), size=size, mode='bilinear',
                                  align_corners=self.align_corners)
            if out is None:
                out = y
            elif owned:  # a sum made here: nothing saved it for backward, add in place
                out += y
            else:  # ``out`` may be a lateral output that autograd saved (in-place ReLU)
                out, owned = out + y, True
        return out

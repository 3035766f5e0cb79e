"""Light multi-level fusion of backbone features into one pixel map (a hypercolumn)."""
from typing import Dict, List, Optional, Sequence

import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmsp.ops.fast import use_fast_path
from mmsp.ops.fast.conv_module import fold_conv_module

__all__ = ['HypercolumnFusion']


class HypercolumnFusion(BaseModule):
    """Project every level to ``C`` channels with a 1x1 conv, bring it to one size and sum.

    A hypercolumn (the pixel features of the superpixel-transformer head): one ``ConvModule``
    (1x1 conv + norm + activation) per level, then a resize to the *target* level's size, then
    a sum. To keep the cost low the order depends on the level:

    * levels coarser than (or as coarse as) the target are projected first and then upsampled
      bilinearly;
    * levels finer than the target are first average-pooled to the target size
      (``adaptive_avg_pool2d``, which also handles sizes that do not divide) and then projected.

    With the fast path (:mod:`mmsp.ops.fast`), each eval-mode projection (1x1 conv, BN with
    running statistics, ReLU) runs as one GEMM with the norm folded in
    (:func:`mmsp.ops.fast.conv_module.fold_conv_module`; the same function).

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
        self.fast_path = use_fast_path()

    def _project(self, index: int, x: Tensor) -> Tensor:
        """Lateral ``index`` of ``x``."""
        lateral = self.lateral[index]
        folded = fold_conv_module(lateral) if self.fast_path else None
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

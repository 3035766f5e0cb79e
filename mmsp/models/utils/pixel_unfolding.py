"""Pixel unfolding: superpixel features scattered back to the pixel branch (SPFormer)."""
from typing import Dict, Tuple, Union

import torch
from torch import Tensor, nn

from mmsp.ops import SuperpixelGrid, unfold_with_logits
from .norm import build_norm

_CONVS = {2: nn.Conv2d, 3: nn.Conv3d}


class PixelUnfolding(nn.Module):
    """``X <- X + gamma_u * U``, ``U_p = sum_n softmax_n(A_p)_n P_{c_n(p)}`` (SPFormer, arXiv
    2401.02931): after the ViT blocks of a non-final stage, the superpixel features return to
    the pixel branch through the association, so that the next stage can correct them.

    ``P = LN2d(Conv1x1_{Cs->Cp}(Z))`` (no activation) is split into the association's ``M``
    channel groups, and ``A`` is the stage's last SCA association, normalised over each pixel's
    candidates.

    Args:
        superpixel_channels (int): ``Cs``.
        pixel_channels (int): ``Cp``; divisible by the number of association heads.
        stride (int | tuple[int]): superpixel cell size.
        norm_cfg (dict): norm after the projection. Defaults to ``LN2d`` (eps 1e-6).
        layer_scale_init (float): initial ``gamma_u``. Defaults to 1e-5.
        spatial_dims (int): 2 (images) or 3 (clips).
        causal (bool): clips only: no candidate in the next temporal cell
            (:class:`~mmsp.ops.SuperpixelGrid`).

    Shapes:
        x: (B, Cp, *size); z: (B, Cs, *grid); association: (B, M, K, *size) with ``M`` dividing
        ``Cp`` -> (B, Cp, *size), in the memory format of ``x``.
    """

    def __init__(self,
                 superpixel_channels: int,
                 pixel_channels: int,
                 stride: Union[int, Tuple[int, ...]],
                 norm_cfg: Dict = dict(type='LN2d', eps=1e-6),
                 layer_scale_init: float = 1e-5,
                 spatial_dims: int = 2,
                 causal: bool = False) -> None:
        super().__init__()
        if causal and spatial_dims != 3:
            raise ValueError(f'PixelUnfolding: causal=True needs clips (spatial_dims=3), got '
                             f'spatial_dims={spatial_dims}')
        self.stride, self.spatial_dims, self.causal = stride, spatial_dims, bool(causal)
        self.proj = _CONVS[spatial_dims](superpixel_channels, pixel_channels, 1)
        self.norm = build_norm(norm_cfg, pixel_channels)
        self.gamma = nn.Parameter(torch.full((pixel_channels, ), float(layer_scale_init)))

    def forward(self, x: Tensor, z: Tensor, association: Tensor) -> Tensor:
        grid = SuperpixelGrid.from_tensors(x, z, self.stride, type(self).__name__)
        heads = association.shape[1] if association.dim() == x.dim() + 1 else 0
        if (association.dim() != x.dim() + 1 or association.shape[0] != x.shape[0]
                or association.shape[2] != grid.num_candidates
                or tuple(association.shape[3:]) != tuple(x.shape[2:]) or heads < 1
                or x.shape[1] % heads or x.shape[1] != self.proj.out_channels):
            raise ValueError(f'{type(self).__name__}: association {tuple(association.shape)} '
                             f'must be (B, M, {grid.num_candidates}, *{tuple(x.shape[2:])}) for '
                             f'pixels {tuple(x.shape)} with M dividing '
                             f'{self.proj.out_channels} channels')
        values = self.norm(self.proj(z))  # (B, Cp, *grid)
        channels_last = not x.is_contiguous() and x.dim() == 4 and \
            x.is_contiguous(memory_format=torch.channels_last)
        update = unfold_with_logits(association, values, self.stride, channels_last,
                                    self.causal)
        return x + self.gamma.view(-1, *(1, ) * self.spatial_dims) * update.to(x.dtype)


__all__ = ['PixelUnfolding']

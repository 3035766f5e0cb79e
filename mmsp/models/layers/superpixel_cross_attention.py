"""Superpixel Cross Attention (SCA): one iteration of the asymmetric pixel<->superpixel layer."""
import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from mmsp.ops import (SuperpixelGrid, block_logits, block_superpixel_update, block_unfold,
                      blocks_to_association, from_blocks, heads_to_grid)
from mmsp.ops.association import candidate_softmax
from mmsp.ops.cell_layout import cell_heads, grid_to_cells, to_cells
from .norm import LayerNorm2d, build_norm2d


def _project(xc: Tensor, nchw: Tensor, grid: Optional[SuperpixelGrid], conv: nn.Conv2d,
             norm: nn.Module) -> Tensor:
    """Bias-free 1x1 ``conv`` + ``norm`` on channels-last ``xc`` (B, ..., C_in) -> (B, ..., C_out).

    ``LayerNorm2d`` (and no norm) run channels-last: ``F.linear`` with the conv weight
    (O, I, 1, 1) viewed as (O, I), then a last-dim ``F.layer_norm``, the same per-position
    computation. Any other norm (BN, GN, ... whose statistics span the map) runs in NCHW on
    ``nchw`` exactly as configured, then moves to the layout of ``xc`` (``to_cells`` with
    ``grid``, or channels-last superpixels when ``grid`` is None).
    """
    if isinstance(norm, (LayerNorm2d, nn.Identity)):
        y = F.linear(xc, conv.weight.flatten(1))
        if isinstance(norm, LayerNorm2d):
            y = F.layer_norm(y, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        return y
    y = norm(conv(nchw))
    return to_cells(y, grid) if grid is not None else grid_to_cells(y)


class SuperpixelCrossAttention(BaseModule):
    """One SCA layer (= one iteration): ``(X, Z) -> (X', Z', A)``.

    Follows SPFormer (spec section 3.3): depthwise-conv position encoding on both branches;
    one bias-free 1x1 conv per branch producing the concatenated q/k/v, one LayerNorm2d over
    them, then a split; queries/keys live in the narrow pixel width ``Cp``. Both updates are
    computed *in parallel* from the same inputs (spec A3):

    * superpixel update (superpixels query pixels, softmax over each superpixel's 3x3-cell
      window): ``Z' = Z + gamma_s * dZ`` with pixel values lifted to ``Cs``;
    * pixel update (pixels query their 9 candidates, softmax over the 9):
      ``X' = X + gamma_p * dX`` with superpixel values reduced to ``Cp``.

    LayerScale gammas start at ``layer_scale_init`` (1e-5). No output projection, FFN or
    dropout. The exported association is the superpixel-update logits seen from the pixel side.

    Implementation: the pixel map is moved once into the channels-last cell layout
    (:mod:`mmsp.ops.cell_layout`), where the 1x1 projection is one ``F.linear`` with the conv
    weight and LN2d a last-dim ``F.layer_norm``; both logit sets come from one batched matmul
    and the wide pixel values are read in place (strided per-head views). Norms other than
    LN2d (statistics over the map) are applied in NCHW exactly as configured. Parameters are
    the same as with plain convs (checkpoints load unchanged).

    Args:
        pixel_channels (int): ``Cp``.
        superpixel_channels (int): ``Cs``.
        num_heads (int): association heads ``M``; must divide ``Cp`` and ``Cs``.
        stride (int): superpixel cell size ``s`` in pixels of the pixel map.
        norm_cfg (dict): norm after the qkv projections. Defaults to ``LN2d`` (eps 1e-6).
        layer_scale_init (float): initial LayerScale. Defaults to 1e-5.
        pos_embed (bool): depthwise 3x3 conditional position encoding. Defaults to True.
        update_pixels (bool): compute the pixel update. Defaults to True.
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        - x: (B, Cp, H, W); z: (B, Cs, ceil(H/s), ceil(W/s)).
        - returns x' (same as x), z' (same as z), association logits (B, M, 9, H, W)
          (``-inf`` at candidates outside the grid).
    """

    def __init__(self,
                 pixel_channels: int,
                 superpixel_channels: int,
                 num_heads: int = 1,
                 stride: int = 4,
                 norm_cfg: Optional[Dict] = dict(type='LN2d', eps=1e-6),
                 layer_scale_init: float = 1e-5,
                 pos_embed: bool = True,
                 update_pixels: bool = True,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_heads < 1 or pixel_channels % num_heads or superpixel_channels % num_heads:
            raise ValueError(f'SuperpixelCrossAttention: num_heads={num_heads} must divide '
                             f'pixel_channels={pixel_channels} and '
                             f'superpixel_channels={superpixel_channels}')
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(f'SuperpixelCrossAttention: stride must be an int >= 1, got {stride}')
        cp, cs = pixel_channels, superpixel_channels
        self.pixel_channels, self.superpixel_channels = cp, cs
        self.num_heads, self.stride, self.update_pixels = num_heads, stride, update_pixels
        self.scale = 1.0 / math.sqrt(cp // num_heads)
        self.pixel_pe = nn.Conv2d(cp, cp, 3, padding=1, groups=cp) if pos_embed else None
        self.superpixel_pe = nn.Conv2d(cs, cs, 3, padding=1, groups=cs) if pos_embed else None
        # superpixel side: q, k (width Cp), v (width Cp: feeds pixels)
        self.superpixel_qkv = nn.Conv2d(cs, 3 * cp if update_pixels else cp, 1, bias=False)
        self.superpixel_norm = build_norm2d(norm_cfg, 3 * cp if update_pixels else cp)
        # pixel side: q (Cp), k (Cp), v (width Cs: feeds superpixels)
        pixel_out = 2 * cp + cs if update_pixels else cp + cs
        self.pixel_qkv = nn.Conv2d(cp, pixel_out, 1, bias=False)
        self.pixel_norm = build_norm2d(norm_cfg, pixel_out)
        self.gamma_superpixel = nn.Parameter(torch.full((cs, ), float(layer_scale_init)))
        self.gamma_pixel = (nn.Parameter(torch.full((cp, ), float(layer_scale_init)))
                            if update_pixels else None)

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is not None:
            return
        for conv in (self.superpixel_qkv, self.pixel_qkv):
            trunc_normal_(conv.weight, std=0.02)

    def forward(self, x: Tensor, z: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        grid = SuperpixelGrid.from_tensors(x, z, self.stride, type(self).__name__)
        if x.shape[1] != self.pixel_channels or z.shape[1] != self.superpixel_channels:
            raise ValueError(f'{type(self).__name__}: expected {self.pixel_channels} pixel and '
                             f'{self.superpixel_channels} superpixel channels, got '
                             f'{tuple(x.shape)} and {tuple(z.shape)}')
        cp, m = self.pixel_channels, self.num_heads
        xe = x + self.pixel_pe(x) if self.pixel_pe is not None else x
        ze = z + self.superpixel_pe(z) if self.superpixel_pe is not None else z
        # Channels-last cell layout (mmsp.ops.cell_layout): the narrow pixel map moves once,
        # the projections are GEMMs there and every per-head tensor is a strided view.
        px = _project(to_cells(xe, grid), xe, grid, self.pixel_qkv, self.pixel_norm)
        sp = _project(grid_to_cells(ze), ze, None, self.superpixel_qkv, self.superpixel_norm)
        # px: (B, h, w, s*s, [q,] k, v) and sp: (B, h, w, q[, k, v]), channels last
        if self.update_pixels:
            # Both logit sets in one batched matmul and one neighbour gather: 2M "heads"
            # pairing pixel [q | k] with superpixel [k | q].
            both = block_logits(cell_heads(px[..., :2 * cp], 2 * m),
                                cell_heads(torch.cat([sp[..., cp:2 * cp], sp[..., :cp]], -1),
                                           2 * m), grid, self.scale)
            pixel_logits, logits = both[:, :m], both[:, m:]
            px_v = px[..., 2 * cp:]
        else:
            logits = block_logits(cell_heads(px[..., :cp], m), cell_heads(sp, m), grid,
                                  self.scale)
            px_v = px[..., cp:]

        # superpixel update: superpixel queries vs pixel keys, softmax over each window
        dz = heads_to_grid(block_superpixel_update(logits, cell_heads(px_v, m), grid))
        z = z + self.gamma_superpixel.view(1, -1, 1, 1) * dz.to(z.dtype)

        if self.update_pixels:
            # pixel update: pixel queries vs candidate superpixel keys, softmax over the 9
            dx = block_unfold(candidate_softmax(pixel_logits), cell_heads(sp[..., 2 * cp:], m))
            x = x + self.gamma_pixel.view(1, -1, 1, 1) * from_blocks(dx, grid).to(x.dtype)
        return x, z, blocks_to_association(logits, grid)

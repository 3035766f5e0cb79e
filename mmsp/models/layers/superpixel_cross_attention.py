"""Superpixel Cross Attention (SCA): one iteration of the asymmetric pixel<->superpixel layer."""
import math
from typing import Dict, Optional, Tuple

import torch
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from mmsp.ops import (SuperpixelGrid, block_logits, block_superpixel_update, block_unfold,
                      blocks_to_association, from_blocks, grid_to_heads, heads_to_grid, to_blocks)
from .norm import build_norm2d


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
        cp, cs, m = self.pixel_channels, self.superpixel_channels, self.num_heads
        xe = x + self.pixel_pe(x) if self.pixel_pe is not None else x
        ze = z + self.superpixel_pe(z) if self.superpixel_pe is not None else z
        sp = self.superpixel_norm(self.superpixel_qkv(ze))
        px = self.pixel_norm(self.pixel_qkv(xe))
        if self.update_pixels:
            sp_q, sp_k, sp_v = sp.split([cp, cp, cp], dim=1)
            px_q, px_k, px_v = px.split([cp, cp, cs], dim=1)
        else:
            sp_q = sp
            px_k, px_v = px.split([cp, cs], dim=1)

        # superpixel update: superpixel queries vs pixel keys, softmax over each window
        logits = block_logits(to_blocks(px_k, grid, m), grid_to_heads(sp_q, m), grid, self.scale)
        dz = heads_to_grid(block_superpixel_update(logits, to_blocks(px_v, grid, m), grid))
        z = z + self.gamma_superpixel.view(1, -1, 1, 1) * dz.to(z.dtype)

        if self.update_pixels:
            # pixel update: pixel queries vs candidate superpixel keys, softmax over the 9
            pixel_logits = block_logits(to_blocks(px_q, grid, m), grid_to_heads(sp_k, m), grid,
                                        self.scale)
            dx = block_unfold(torch.softmax(pixel_logits, dim=-1), grid_to_heads(sp_v, m))
            x = x + self.gamma_pixel.view(1, -1, 1, 1) * from_blocks(dx, grid).to(x.dtype)
        return x, z, blocks_to_association(logits, grid)

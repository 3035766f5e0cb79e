"""Slow, obviously-correct dense references of the association operators.

They build the full pixel x superpixel attention matrix ``(B, M, H*W, h*w)`` and mask every
pair that is not a 3x3-cell neighbour. Memory is ``O(N * M_sp)``: use them for tests and as
the baseline of ``tools/benchmarks/benchmark_association.py``, never in models.
"""
import math
from typing import Tuple

import torch
from torch import Tensor

from .grid import SuperpixelGrid

__all__ = ['neighbor_pair_mask', 'dense_association_logits', 'dense_superpixel_update',
           'dense_unfold', 'global_attention']


def neighbor_pair_mask(grid: SuperpixelGrid, device=None) -> Tensor:
    """(H*W, h*w) bool: pixel ``p`` may see superpixel ``j`` (their cells are 3x3 neighbours)."""
    cy = (torch.arange(grid.height, device=device) // grid.stride).repeat_interleave(grid.width)
    cx = (torch.arange(grid.width, device=device) // grid.stride).repeat(grid.height)
    jy = torch.arange(grid.rows, device=device).repeat_interleave(grid.cols)
    jx = torch.arange(grid.cols, device=device).repeat(grid.rows)
    return ((cy[:, None] - jy[None]).abs() <= 1) & ((cx[:, None] - jx[None]).abs() <= 1)


def _dense_logits(pixels: Tensor, superpixels: Tensor, stride: int,
                  num_heads: int) -> Tuple[Tensor, Tensor]:
    b, c, height, width = pixels.shape
    grid = SuperpixelGrid.of((height, width), stride)
    d = c // num_heads
    p = pixels.reshape(b, num_heads, d, height * width)
    s = superpixels.reshape(b, num_heads, d, -1)
    logits = torch.einsum('bmdp,bmdj->bmpj', p, s) / math.sqrt(d)
    mask = neighbor_pair_mask(grid, pixels.device)
    return logits.masked_fill(~mask, float('-inf')), mask


def dense_association_logits(pixels: Tensor, superpixels: Tensor, stride: int,
                             num_heads: int = 1) -> Tensor:
    """Masked global logits, gathered into the (B, M, 9, H, W) candidate layout."""
    b, _, height, width = pixels.shape
    grid = SuperpixelGrid.of((height, width), stride)
    logits, _ = _dense_logits(pixels, superpixels, stride, num_heads)
    cell = grid.cell_ids(pixels.device).reshape(-1)
    out = logits.new_full((b, num_heads, 9, height * width), float('-inf'))
    cy, cx = cell // grid.cols, cell % grid.cols
    for n in range(9):
        dy, dx = n // 3 - 1, n % 3 - 1
        ok = (cy + dy >= 0) & (cy + dy < grid.rows) & (cx + dx >= 0) & (cx + dx < grid.cols)
        j = ((cy + dy) * grid.cols + cx + dx).clamp(0, grid.num_superpixels - 1)
        vals = logits.gather(3, j.view(1, 1, -1, 1).expand(b, num_heads, -1, 1))[..., 0]
        out[:, :, n] = torch.where(ok, vals, out[:, :, n])
    return out.reshape(b, num_heads, 9, height, width)


def dense_superpixel_update(pixel_key: Tensor, superpixel_query: Tensor, pixel_value: Tensor,
                            stride: int, num_heads: int = 1) -> Tensor:
    """Superpixel-side softmax over all masked pixels, then the weighted mean of values."""
    b, c, height, width = pixel_value.shape
    logits, _ = _dense_logits(pixel_key, superpixel_query, stride, num_heads)
    attn = torch.softmax(logits, dim=2)  # over pixels
    v = pixel_value.reshape(b, num_heads, c // num_heads, height * width)
    out = torch.einsum('bmpj,bmdp->bmdj', attn, v)
    return out.reshape(b, c, *superpixel_query.shape[2:])


def dense_unfold(pixel_query: Tensor, superpixel_key: Tensor, superpixel_value: Tensor,
                 stride: int, num_heads: int = 1) -> Tensor:
    """Pixel-side softmax over the masked superpixels, then the weighted sum of their values."""
    b, c = superpixel_value.shape[:2]
    height, width = pixel_query.shape[2:]
    logits, _ = _dense_logits(pixel_query, superpixel_key, stride, num_heads)
    attn = torch.softmax(logits, dim=3)  # over superpixels
    v = superpixel_value.reshape(b, num_heads, c // num_heads, -1)
    return torch.einsum('bmpj,bmdj->bmdp', attn, v).reshape(b, c, height, width)


def global_attention(pixel_query: Tensor, superpixel_key: Tensor, superpixel_value: Tensor,
                     num_heads: int = 1) -> Tensor:
    """Plain (unmasked) global pixel->superpixel attention: the cost baseline.

    Images (B, C, H, W) against superpixels (B, C, h, w), or clips (B, C, T, H, W) against
    supervoxels (B, C, t, h, w): every pixel attends to every superpixel. Returns (B, C', *size).
    """
    b, c = pixel_query.shape[:2]
    d = c // num_heads
    q = pixel_query.reshape(b, num_heads, d, -1).transpose(-1, -2)
    k = superpixel_key.reshape(b, num_heads, d, -1).transpose(-1, -2)
    v = superpixel_value.reshape(b, num_heads, superpixel_value.shape[1] // num_heads,
                                 -1).transpose(-1, -2)
    out = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1) @ v
    return out.transpose(-1, -2).reshape(b, -1, *pixel_query.shape[2:])

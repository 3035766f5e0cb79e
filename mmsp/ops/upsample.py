"""Association logits at a finer pixel stride (interpolation inside every window)."""
import math
from typing import Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .association import association_to_blocks, blocks_to_association, mask_outside
from .grid import SuperpixelGrid, shift_to_pixels, shift_to_superpixels

__all__ = ['upsample_association']

_MODES = {1: 'linear', 2: 'bilinear', 3: 'trilinear'}


def _per_dim(value: Union[int, Sequence[int]], ndim: int, name: str) -> Tuple[int, ...]:
    values = (value, ) * ndim if isinstance(value, int) else tuple(value)
    if len(values) != ndim or any(
            not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values):
        raise ValueError(f'upsample_association: {name} must be an int >= 1 or {ndim} of them, '
                         f'got {value!r}')
    return values


def upsample_association(logits: Tensor,
                         stride: Union[int, Sequence[int]],
                         factor: Union[int, Sequence[int]],
                         causal: bool = False) -> Tensor:
    """Upsample association logits by integer factors (bi-/trilinear inside every window).

    Neighbouring pixels point their candidate ``n`` at *different* superpixels when they lie in
    different cells, so the logits cannot be interpolated in the pixel-side layout. Instead each
    superpixel's logit field over its ``3 ** D``-cell window is interpolated on its own
    (superpixel-side layout, as the SPFormer code does), then read back from the pixel side.
    Interpolation is normalised by the valid entries (padding and cells outside the grid carry
    no weight) rather than filling ``-inf`` with a large constant, so values near the border
    stay meaningful. The border mask is re-applied afterwards. A factor of 1 along a dimension
    leaves that dimension untouched (clips upsampled by ``(1, r, r)`` are interpolated frame by
    frame).

    Args:
        logits (Tensor): (B, M, K, *size) association logits (``-inf`` = invalid candidate),
            ``K = 3 ** D``: (B, M, 9, H, W) for images, (B, M, 27, T, H, W) for clips.
        stride (int | tuple[int]): superpixel cell size in pixels of ``logits``.
        factor (int | tuple[int]): integer upsampling factor ``f >= 1`` (per dimension).
        causal (bool): the grid is causal (:class:`~mmsp.ops.grid.SuperpixelGrid`).

    Returns:
        Tensor: (B, M, K, *(size * f)) logits whose cell size is ``stride * f``; float32 or
        wider.
    """
    ndim = logits.dim() - 3
    if ndim not in _MODES or logits.shape[2] != 3**ndim:
        raise ValueError(f'upsample_association: expected (B, M, 3 ** D, *size) with D in 1..3, '
                         f'got {tuple(logits.shape)}')
    cell = _per_dim(stride, ndim, 'stride')
    factors = _per_dim(factor, ndim, 'factor')
    if all(f == 1 for f in factors):
        return logits
    b, m, k = logits.shape[:3]
    size = tuple(int(n) for n in logits.shape[3:])
    grid = SuperpixelGrid.of(size, cell, causal)
    fine_cell = tuple(c * f for c, f in zip(cell, factors))
    fine = SuperpixelGrid.of(tuple(n * f for n, f in zip(size, factors)), fine_cell, causal)
    lead = 2 + ndim
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    # padding slots and candidates outside the grid are -inf: no weight in the interpolation
    blocks = mask_outside(association_to_blocks(logits, grid, fill=float('-inf')), grid)
    # superpixel side: window cell of candidate n of cell c lies at -offset(n) from c + offset(n)
    # (B, M, *shape, K, P); flipping n orders the window's cells row-major
    windows = shift_to_superpixels(blocks.transpose(-1, -2), ndim, fill=float('-inf'))
    windows = windows.flip(lead).reshape(-1, *(3, ) * ndim, *cell)
    order = (0, ) + tuple(v for i in range(ndim) for v in (1 + i, 1 + ndim + i))
    windows = windows.permute(order).reshape(-1, 1, *(3 * c for c in cell))  # (.., 3c1, 3c2, ..)
    valid = torch.isfinite(windows)
    values = torch.where(valid, windows, torch.zeros_like(windows))
    out_size = tuple(3 * c for c in fine_cell)
    mode = _MODES[ndim]
    num = F.interpolate(values, size=out_size, mode=mode, align_corners=False)
    den = F.interpolate(valid.to(values.dtype), size=out_size, mode=mode, align_corners=False)
    up = torch.where(den > 0, num / den.clamp_min(1e-12), torch.full_like(num, float('-inf')))
    up = up.reshape(b, m, *grid.shape, *(v for c in fine_cell for v in (3, c)))
    order = tuple(range(lead)) + tuple(lead + 2 * i for i in range(ndim)) + tuple(
        lead + 2 * i + 1 for i in range(ndim))
    up = up.permute(order).reshape(b, m, *grid.shape, k, math.prod(fine_cell)).flip(lead)
    # (B, M, *shape, fine P, K)
    fine_blocks = shift_to_pixels(up, ndim, fill=float('-inf')).transpose(-1, -2)
    return blocks_to_association(mask_outside(fine_blocks, fine), fine)

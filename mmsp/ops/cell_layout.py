"""Block (cell) layout: the pixels of one superpixel cell contiguous.

A pixel map ``(B, C, *size)`` becomes ``(B, *grid_shape, P, C)`` with ``P`` the pixels of a
cell (:func:`to_cells`, channels innermost); the per-head view ``(B, M, *grid_shape, P, d)``
(:func:`cell_heads`, no copy) is the *block layout* the association operators of
:mod:`mmsp.ops.association` take. Cells at the end of a dimension that the map covers only in
part are padded with zero slots (:meth:`~mmsp.ops.grid.SuperpixelGrid.pixel_mask` tells them
apart). Any number of grid dimensions works (images and clips).
"""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .grid import Size, SuperpixelGrid, known_equal

__all__ = [
    'to_cells', 'from_cells', 'cell_heads', 'grid_to_cells', 'to_blocks', 'from_blocks',
    'cell_mean', 'crop'
]


def to_cells(x: Tensor, grid: SuperpixelGrid) -> Tensor:
    """Pixel map (B, C, *size) to cell layout (B, *shape, P, C); padding slots are zero."""
    b, c = x.shape[:2]
    if not known_equal(x.shape[2:], grid.padded_size):  # pad the last cells to whole cells
        pad = []
        for n, padded in zip(reversed(x.shape[2:]), reversed(grid.padded_size)):
            pad += [0, padded - n]
        x = F.pad(x, pad)
    split = [v for g, s in zip(grid.shape, grid.cell) for v in (g, s)]  # g1, c1, g2, c2, ...
    x = x.reshape(b, c, *split)
    d = grid.ndim
    order = (0, ) + tuple(range(2, 2 + 2 * d, 2)) + tuple(range(3, 3 + 2 * d, 2)) + (1, )
    return x.permute(order).reshape(b, *grid.shape, grid.cell_pixels, c)


def from_blocks(xb: Tensor, grid: SuperpixelGrid, channels_last: bool = False) -> Tensor:
    """Inverse of :func:`to_blocks`: (B, M, *shape, P, d) to (B, M * d, *size), padding cropped.

    The result is contiguous, in channels-last memory format if ``channels_last`` (the same
    values; 2-D and 3-D maps).
    """
    b, m, d = xb.shape[0], xb.shape[1], xb.shape[-1]
    nd = grid.ndim
    x = xb.reshape(b, m, *grid.shape, *grid.cell, d)
    # (B, g1, c1, g2, c2, ..., M, d): heads, cells and cell rows permuted at once
    order = (0, ) + tuple(v for i in range(nd) for v in (2 + i, 2 + nd + i)) + (1, 2 + 2 * nd)
    x = x.permute(order).reshape(b, *grid.padded_size, m * d).movedim(-1, 1)
    if grid.is_padded:
        x = crop(x, grid.size)
    if channels_last and x.dim() in (4, 5):
        fmt = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
        return x.contiguous(memory_format=fmt)
    return x.contiguous()


def crop(x: Tensor, size: Sequence[Size]) -> Tensor:
    """The leading ``size`` entries of the trailing ``len(size)`` dimensions of ``x``.

    A slice (a view) in eager mode. While traced (``torch.export``, ``torch.compile``) it is a
    gather, a new tensor: whether a cropped *view* is contiguous depends on the sizes, and the
    tracer would specialise a dynamic size to answer that.
    """
    first = x.dim() - len(size)
    if not torch.compiler.is_compiling():
        return x[(slice(None), ) * first + tuple(slice(0, n) for n in size)]
    for dim, n in enumerate(size, first):
        x = x.index_select(dim, torch.arange(n, device=x.device))
    return x


def from_cells(xc: Tensor, grid: SuperpixelGrid, channels_last: bool = False) -> Tensor:
    """Inverse of :func:`to_cells`: (B, *shape, P, C) to (B, C, *size), padding cropped."""
    return from_blocks(xc.unsqueeze(1), grid, channels_last)


def cell_heads(xc: Tensor, num_heads: int) -> Tensor:
    """View (B, *shape, P, M * d) as the head-leading (B, M, *shape, P, d) (no copy).

    Also works for channels-last superpixel maps (B, *shape, M * d) -> (B, M, *shape, d).
    """
    *lead, c = xc.shape
    return xc.reshape(*lead, num_heads, c // num_heads).movedim(-2, 1)


def grid_to_cells(z: Tensor) -> Tensor:
    """Superpixel map (B, C, *shape) to channels-last (B, *shape, C) (a view)."""
    return z.movedim(1, -1)


def to_blocks(x: Tensor, grid: SuperpixelGrid, num_heads: int = 1) -> Tensor:
    """Pixel map (B, C, *size) to the head-leading block layout (B, M, *shape, P, C // M)."""
    return cell_heads(to_cells(x, grid), num_heads)


def cell_mean(xc: Tensor, grid: SuperpixelGrid) -> Tensor:
    """Mean over the real pixels of every cell: (B, *shape, P, C) -> (B, *shape, C).

    Partial cells at the end of a dimension (also cells larger than the map, e.g. a two-frame
    cell of a one-frame clip) are averaged over the pixels they hold, never over padding.
    """
    if not grid.is_padded:
        return xc.mean(-2)
    valid = grid.pixel_mask(xc.device)  # (*shape, P)
    total = xc.masked_fill(~valid[..., None], 0.).sum(-2)
    return total / valid.sum(-1, keepdim=True).to(xc.dtype)

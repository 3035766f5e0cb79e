"""Channels-last cell layout: the fast path of the SCA layer on CPU.

The block layout of :mod:`mmsp.ops.grid` is head-leading, ``(B, M, h, w, s*s, d)``. Moving a
wide ``(B, C, H, W)`` map into it costs two strided copies of the whole map. The *cell layout*
keeps the channels innermost instead: ``(B, h, w, s*s, C)``, the pixels of one cell contiguous
and each pixel's channels contiguous. A narrow map is moved into it once; 1x1 projections then
run there as plain ``F.linear`` (one GEMM), ``LayerNorm`` over channels is a contiguous
last-dim ``F.layer_norm``, and the per-head views ``(B, M, h, w, s*s, d)`` the block operators of
:mod:`mmsp.ops.association` take are free strided views (:func:`cell_heads`).
"""
import torch
import torch.nn.functional as F
from torch import Tensor

from .grid import NEIGHBOR_OFFSETS, SuperpixelGrid

__all__ = [
    'to_cells', 'from_cells', 'cell_heads', 'grid_to_cells', 'fold_to_superpixels', 'to_blocks',
    'from_blocks'
]


def to_cells(x: Tensor, grid: SuperpixelGrid) -> Tensor:
    """Pixel map (B, C, H, W) to cell layout (B, h, w, s*s, C); padding slots are zero."""
    b, c, height, width = x.shape
    s, (ph, pw) = grid.stride, grid.padded_shape
    if (ph, pw) != (height, width):
        x = F.pad(x, (0, pw - width, 0, ph - height))
    x = x.reshape(b, c, grid.rows, s, grid.cols, s).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(b, grid.rows, grid.cols, s * s, c)


def from_cells(xc: Tensor, grid: SuperpixelGrid, channels_last: bool = False) -> Tensor:
    """Inverse of :func:`to_cells`: (B, h, w, s*s, C) to a (B, C, H, W) map, padding cropped.

    The result is contiguous, in ``torch.channels_last`` memory format if ``channels_last``
    (the same values; one copy fewer, and depthwise convs are much faster on it on CPU). The
    one-head case of :func:`from_blocks`.
    """
    return from_blocks(xc.unsqueeze(1), grid, channels_last)


def cell_heads(xc: Tensor, num_heads: int) -> Tensor:
    """View (B, h, w, P, M*d) as the head-leading (B, M, h, w, P, d) (no copy).

    Also works for superpixel maps (B, h, w, M*d) -> (B, M, h, w, d).
    """
    *lead, c = xc.shape
    x = xc.reshape(*lead, num_heads, c // num_heads)
    return x.movedim(-2, 1)


def grid_to_cells(z: Tensor) -> Tensor:
    """Superpixel map (B, C, h, w) to channels-last (B, h, w, C) (a view)."""
    return z.permute(0, 2, 3, 1)


def fold_to_superpixels(per_cell: Tensor) -> Tensor:
    """Sum each superpixel's contributions from its window: (B, M, h, w, 9, d) -> (B, M, h, w, d).

    ``out[..., j, :] = sum_n per_cell[..., j - offset(n), n, :]`` (entries outside the grid are
    zero): the same as ``shift_to_superpixels(per_cell).sum(4)`` without the 9-way stack
    or a padded copy (in-place slice additions, autograd-safe on the fresh ``out``).
    """
    h, w = per_cell.shape[2:4]
    out = per_cell[:, :, :, :, 4].clone()  # own cell: offset (0, 0)
    for n, (dy, dx) in enumerate(NEIGHBOR_OFFSETS):
        if n == 4 or h <= abs(dy) or w <= abs(dx):
            continue  # shape-dependent only: no superpixel has this candidate
        # superpixels j = c + (dy, dx) for the cells c whose candidate n is inside the grid
        dst = out[:, :, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)]
        dst += per_cell[:, :, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0), n]
    return out


def to_blocks(x: Tensor, grid: SuperpixelGrid, num_heads: int = 1) -> Tensor:
    """Pixel map (B, C, H, W) to the head-leading block layout (B, M, h, w, s*s, C // M).

    The head-leading view of :func:`to_cells` (padding slots are zero).
    """
    return cell_heads(to_cells(x, grid), num_heads)


def from_blocks(xb: Tensor, grid: SuperpixelGrid, channels_last: bool = False) -> Tensor:
    """Inverse of :func:`to_blocks`: (B, M, h, w, s*s, d) to (B, M*d, H, W), padding cropped.

    ``channels_last`` as in :func:`from_cells`. One copy: heads, cells and cell rows are
    permuted into the channels-last map at once (not through the cell layout).
    """
    b, m, h, w, p, d = xb.shape
    s = grid.stride
    x = xb.reshape(b, m, h, w, s, s, d).permute(0, 2, 4, 3, 5, 1, 6)  # (B, h, s, w, s, M, d)
    x = x.reshape(b, h * s, w * s, m * d).permute(0, 3, 1, 2)[:, :, :grid.height, :grid.width]
    return x.contiguous(memory_format=torch.channels_last if channels_last else
                        torch.contiguous_format)

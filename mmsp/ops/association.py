"""Local 3x3 pixel<->superpixel cross-attention: association, superpixel update, unfolding.

This is the single implementation every mmsp model uses (SPFormer backbone, the superpixel
transformer head, hard superpixels for the metric and the visualisation).

Notation (see ``docs`` and the spec, section 3.3): pixel features live on an ``H x W`` map,
superpixels on the ``h x w = ceil(H/s) x ceil(W/s)`` grid of ``s x s`` cells. A pixel attends to
the 9 superpixels of the 3x3 cells around its own cell; a superpixel receives the pixels of its
3x3-cell window. Channels are split into ``M`` contiguous heads.

* **Association logits** ``A[b, m, n, y, x] = <q_p, k_{c_n(p)}> * scale`` for the ``n``-th
  candidate ``c_n(p)`` of pixel ``p``; candidates outside the grid are ``-inf``.
* **Pixel-side weights** ``softmax_n(A)``: normalised over the (up to) 9 candidates.
* **Superpixel update** ``dZ_j = sum_{p in window(j)} alpha_jp v_p`` with
  ``alpha_jp = softmax over the window pixels of j`` (SSN's column-normalised centre update
  with a learned similarity). Padding pixels never contribute.
* **Unfolding** ``out_p = sum_n w_pn V_{c_n(p)}``: each pixel combines its candidates' vectors.

Everything works in *block layout* (pixels of a cell contiguous, see :mod:`mmsp.ops.grid`):
logits cost ``O(9 * N * M)`` memory and values ``O(N * C)``; no ``9 x C x H x W`` neighbour
tensor is ever built at pixel resolution. Softmaxes run in float32 (also under autocast).
There is no data-dependent Python control flow.
"""
import math
from typing import List, Optional

import torch
from torch import Tensor

from .cell_layout import fold_to_superpixels, from_blocks, to_blocks
from .grid import (NUM_NEIGHBORS, SuperpixelGrid, candidate_rows, gather_neighbors, grid_to_heads,
                   heads_to_grid, shift_to_superpixels)


def _upcast(x: Tensor) -> Tensor:
    """Half precision to float32 (softmax numerics under autocast); float32/64 unchanged."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


__all__ = [
    'block_logits', 'block_logits_absorbed', 'absorbed_logit_rows', 'block_superpixel_update',
    'block_unfold', 'blocks_to_association', 'association_to_blocks', 'association_logits',
    'association_weights', 'superpixel_update', 'unfold_superpixels', 'unfold_with_logits',
    'merge_heads', 'candidate_softmax'
]


def candidate_softmax(logits: Tensor) -> Tensor:
    """Softmax over a short last dimension (the 9 candidates), in at least float32.

    Same values as ``torch.softmax(logits, -1)``, several times faster on CPU for a last
    dimension of 9 (the fused kernel vectorises along that dimension). The max is detached:
    the softmax is shift-invariant, so gradients are unchanged. Every row needs one finite
    entry (a pixel's own cell always is).
    """
    logits = _upcast(logits)
    e = torch.exp(logits - logits.detach().amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


# --------------------------------------------------------------------------- block layout
def block_logits(pixel_blocks: Tensor, superpixels: Tensor, grid: SuperpixelGrid,
                 scale: float) -> Tensor:
    """Masked pixel->candidate logits in block layout.

    Args:
        pixel_blocks (Tensor): (B, M, h, w, s*s, d) pixel vectors (queries or keys).
        superpixels (Tensor): (B, M, h, w, d) superpixel vectors.
        grid (SuperpixelGrid): geometry.
        scale (float): multiplier of the dot products.

    Returns:
        Tensor: (B, M, h, w, s*s, 9) logits (at least float32), ``-inf`` at candidates
        outside the grid.
    """
    neighbors = gather_neighbors(superpixels)  # (B, M, h, w, 9, d): superpixel resolution
    logits = _upcast(torch.matmul(pixel_blocks, neighbors.transpose(-1, -2))) * scale
    return _mask_outside(logits, grid)


def block_logits_absorbed(pixels: Tensor,
                          keys: Tensor,
                          offsets: Tensor,
                          grid: SuperpixelGrid,
                          pixel_scale: Optional[Tensor] = None) -> Tensor:
    """Block logits ``<keys_c, u_p> + offsets_c``, the pixel projection absorbed in the keys.

    A logit ``<A u_p + b, s_c>`` of a projected pixel equals ``<A^T s_c, u_p> + <b, s_c>``, so
    the projection can move to the superpixels (``keys = A^T s_c``, ``offsets = <b, s_c>``) and
    the pixels stay at their input width: per cell and candidate row one ``(s*s x C) @ (C x 3H)``
    matmul that reads the keys in place (:func:`~mmsp.ops.grid.candidate_rows`; no gathered
    copy of ``9 H C`` values per cell). Cheaper than projecting the pixels when a cell holds
    enough pixels (SPFormer's 4 x 4 cells and larger).

    Args:
        pixels (Tensor): (B, h, w, s*s, C) pixel vectors ``u_p`` (cell layout, contiguous).
        keys (Tensor): (B, h, w, H, C) per-superpixel keys of ``H`` (pseudo-)heads, any scale
            already applied.
        offsets (Tensor): (B, h, w, H).
        grid (SuperpixelGrid): geometry.
        pixel_scale (Tensor, optional): (B, h, w, s*s, 1) per-pixel factor ``r_p``: the logits
            are those of ``u_p = r_p * pixels`` (``r_p <keys_c, pixels_p> + offsets_c``),
            without the pass over the ``C``-wide pixels that scaling them would take.

    Returns:
        Tensor: (B, H, h, w, s*s, 9) logits (at least float32; a strided view of a
        (B, h, w, s*s, 9, H) tensor), ``-inf`` at candidates outside the grid.
    """
    b, h, w, heads, c = keys.shape
    on = gather_neighbors(offsets.reshape(b, 1, h, w, heads))  # (B, 1, h, w, 9, H)
    logits = torch.stack(absorbed_logit_rows(pixels, keys), dim=2)  # (B*h*w, s*s, 3, 3 H)
    logits, on = _upcast(logits.view(b, h, w, -1, 9, heads)), on.view(b, h, w, 1, 9, heads)
    if pixel_scale is None:
        logits = logits + on
    else:
        logits = torch.addcmul(on.to(logits.dtype), logits,
                               pixel_scale[..., None].to(logits.dtype))
    return _mask_outside(logits.permute(0, 5, 1, 2, 3, 4), grid)


def absorbed_logit_rows(pixels: Tensor, keys: Tensor) -> List[Tensor]:
    """The products ``<keys_c, u_p>`` of :func:`block_logits_absorbed`, per candidate row.

    Args:
        pixels (Tensor): (B, h, w, s*s, C) pixel vectors (cell layout, contiguous).
        keys (Tensor): (B, h, w, H, C) per-superpixel keys of ``H`` (pseudo-)heads.

    Returns:
        list[Tensor]: for ``dy = -1, 0, 1`` a (B*h*w, s*s, 3H) matmul output, column
        ``dx * H + k`` the candidate ``(dy, dx)`` and head ``k``; candidates outside the grid
        hold unspecified finite values (:func:`~mmsp.ops.grid.candidate_rows`).
    """
    b, h, w, heads, c = keys.shape
    cells, p = b * h * w, pixels.shape[3]
    # per candidate row dy: (s*s x C) @ (C x 3H) with the keys read in place (candidate_rows)
    return [
        torch.matmul(pixels.reshape(cells, p, c),
                     keys_dy.reshape(cells, 3 * heads, c).transpose(-1, -2))
        for keys_dy in candidate_rows(keys.reshape(b, h, w, heads * c))
    ]


def _mask_outside(logits: Tensor, grid: SuperpixelGrid) -> Tensor:
    """``-inf`` at the candidates outside the grid of (B, H, h, w, s*s, 9) block logits."""
    valid = grid.neighbor_mask(logits.device)[:, :, None, :]
    return logits.masked_fill(~valid, float('-inf'))


def block_superpixel_update(logits: Tensor,
                            value_blocks: Tensor,
                            grid: SuperpixelGrid,
                            value_scale: Optional[Tensor] = None) -> Tensor:
    """Superpixel-side softmax over each window and weighted mean of the pixel values.

    Args:
        logits (Tensor): (B, M, h, w, s*s, 9) from :func:`block_logits`.
        value_blocks (Tensor): (B, M, h, w, s*s, dv) pixel values, or (B, 1, h, w, s*s, dv):
            values shared by all ``M`` heads.
        grid (SuperpixelGrid): geometry.
        value_scale (Tensor, optional): (B, h, w, s*s, 1) per-pixel factor: the values are
            ``value_scale * value_blocks``, applied to the (9 per head) weights of a pixel
            instead of its ``dv`` values.

    Returns:
        Tensor: (B, M, h, w, dv) update of every superpixel, in the dtype of the values.
    """
    if value_blocks.shape[1] not in (1, logits.shape[1]):
        raise ValueError(f'block_superpixel_update: values {tuple(value_blocks.shape)} need 1 or '
                         f'{logits.shape[1]} heads (logits {tuple(logits.shape)})')
    logits = _upcast(logits)
    if grid.is_padded:  # shape-dependent only: padding slots never contribute
        pixel_valid = grid.pixel_mask(logits.device)[:, :, :, None]
        logits = logits.masked_fill(~pixel_valid, float('-inf'))
    # log-sum-exp of each (cell, candidate) pair over the cell's pixels ...
    cell_lse = torch.logsumexp(logits, dim=4)  # (B, M, h, w, 9)
    # ... moved to the candidate superpixel and reduced over its 9 window cells.
    window_lse = torch.logsumexp(shift_to_superpixels(cell_lse, float('-inf')), dim=4)
    # Back to the pixel side: the normaliser of candidate n of cell c is that of c + offset(n).
    norm = gather_neighbors(window_lse, 0.0)  # (B, M, h, w, 9)
    alpha = torch.exp(logits - norm[:, :, :, :, None, :])
    if value_scale is not None:
        alpha = alpha * value_scale[:, None].to(alpha.dtype)
    alpha = alpha.to(value_blocks.dtype)
    b, m, h, w, p, n = alpha.shape
    if value_blocks.shape[1] == 1:
        # Values shared by the heads: one matmul per cell for all heads, (9 M x s*s) @ (s*s x dv),
        # with the weights read in place when the logits are laid out (B, h, w, s*s, 9, M).
        per_cell = torch.matmul(
            alpha.permute(0, 2, 3, 4, 5, 1).reshape(b, h, w, p, n * m).transpose(-1, -2),
            value_blocks[:, 0])  # (B, h, w, 9 M, dv)
        per_cell = per_cell.view(b, h, w, n, m, -1).permute(0, 4, 1, 2, 3, 5)
        return fold_to_superpixels(per_cell)
    # One matmul per head: a head's values may be a strided view (channels-last cell layout),
    # which the batched matmul reads in place; all heads at once would copy them first.
    alpha = alpha.transpose(-1, -2)
    return torch.cat([
        fold_to_superpixels(torch.matmul(alpha[:, i:i + 1], value_blocks[:, i:i + 1]))
        for i in range(m)  # (B, 1, h, w, 9, dv) per cell, then folded
    ], dim=1)


def block_unfold(weights: Tensor, superpixels: Tensor) -> Tensor:
    """Each pixel's weighted combination of its 9 candidates' vectors.

    Args:
        weights (Tensor): (B, M, h, w, s*s, 9) pixel-side weights (zero at invalid candidates).
        superpixels (Tensor): (B, M, h, w, dv) superpixel vectors.

    Returns:
        Tensor: (B, M, h, w, s*s, dv).
    """
    neighbors = gather_neighbors(superpixels)  # (B, M, h, w, 9, dv)
    return torch.matmul(weights.to(neighbors.dtype), neighbors)


def blocks_to_association(logits: Tensor, grid: SuperpixelGrid) -> Tensor:
    """(B, M, h, w, s*s, 9) block logits to the exported layout (B, M, 9, H, W)."""
    b, m = logits.shape[:2]
    x = logits.permute(0, 1, 5, 2, 3, 4).reshape(b, m * NUM_NEIGHBORS, grid.rows, grid.cols,
                                                 grid.stride**2, 1)
    return from_blocks(x, grid).reshape(b, m, NUM_NEIGHBORS, grid.height, grid.width)


def association_to_blocks(assoc: Tensor, grid: SuperpixelGrid, fill: float = 0.0) -> Tensor:
    """(B, M, 9, H, W) association to block layout (B, M, h, w, s*s, 9); padding gets ``fill``."""
    b, m, n, height, width = assoc.shape
    ph, pw = grid.padded_shape
    x = assoc.reshape(b, m * n, height, width)
    if (ph, pw) != (height, width):
        x = torch.nn.functional.pad(x, (0, pw - width, 0, ph - height), value=fill)
    x = to_blocks(x, grid, num_heads=m * n)  # (B, M*9, h, w, s*s, 1)
    x = x.reshape(b, m, n, grid.rows, grid.cols, grid.stride**2)
    return x.permute(0, 1, 3, 4, 5, 2)


# --------------------------------------------------------------------------- public (B, C, H, W)
def _check_heads(channels: int, num_heads: int, what: str) -> None:
    if num_heads < 1 or channels % num_heads:
        raise ValueError(f'{what}: {channels} channels cannot be split into {num_heads} heads')


def association_logits(pixel_query: Tensor, superpixel_key: Tensor, stride: int,
                       num_heads: int = 1, scale: Optional[float] = None) -> Tensor:
    """Multi-head logits of every pixel toward its 9 candidate superpixels.

    Args:
        pixel_query (Tensor): (B, C, H, W) pixel vectors.
        superpixel_key (Tensor): (B, C, h, w) superpixel vectors, ``h = ceil(H / stride)``.
        stride (int): superpixel cell size ``s`` in pixels of ``pixel_query``.
        num_heads (int): number of channel groups ``M``.
        scale (float, optional): defaults to ``1 / sqrt(C / M)``.

    Returns:
        Tensor: (B, M, 9, H, W), at least float32; ``-inf`` where the candidate is outside the grid.
    """
    grid = SuperpixelGrid.from_tensors(pixel_query, superpixel_key, stride, 'association_logits')
    if pixel_query.shape[1] != superpixel_key.shape[1]:
        raise ValueError(f'association_logits: channel mismatch, pixels {tuple(pixel_query.shape)}'
                         f' vs superpixels {tuple(superpixel_key.shape)}')
    _check_heads(pixel_query.shape[1], num_heads, 'association_logits')
    if scale is None:
        scale = 1.0 / math.sqrt(pixel_query.shape[1] // num_heads)
    logits = block_logits(to_blocks(pixel_query, grid, num_heads),
                          grid_to_heads(superpixel_key, num_heads), grid, scale)
    return blocks_to_association(logits, grid)


def association_weights(logits: Tensor) -> Tensor:
    """Pixel-side normalisation: softmax over the 9 candidates (dim 2), in at least float32."""
    if logits.dim() != 5 or logits.shape[2] != NUM_NEIGHBORS:
        raise ValueError(f'association_weights: expected (B, M, 9, H, W), got '
                         f'{tuple(logits.shape)}')
    return torch.softmax(_upcast(logits), dim=2)


def merge_heads(logits: Tensor) -> Tensor:
    """Merge multi-head logits (B, M, 9, H, W) into one association (B, 9, H, W): sum / sqrt(M)."""
    if logits.dim() != 5:
        raise ValueError(f'merge_heads: expected (B, M, 9, H, W), got {tuple(logits.shape)}')
    return logits.sum(dim=1) / math.sqrt(logits.shape[1])


def _check_association(assoc: Tensor, other: Tensor, what: str) -> None:
    """``assoc`` must be (B, M, 9, H, W) with H, W those of the pixel tensor ``other``."""
    if (assoc.dim() != 5 or assoc.shape[2] != NUM_NEIGHBORS
            or tuple(assoc.shape[3:]) != tuple(other.shape[-2:])):
        raise ValueError(f'{what}: association {tuple(assoc.shape)} must be (B, M, 9, H, W) with '
                         f'H, W = {tuple(other.shape[-2:])} of the pixel tensor '
                         f'{tuple(other.shape)}')


def superpixel_update(logits: Tensor, pixel_value: Tensor, stride: int) -> Tensor:
    """Association-weighted mean of the pixels that see each superpixel.

    Args:
        logits (Tensor): (B, M, 9, H, W) association logits (``-inf`` = invalid).
        pixel_value (Tensor): (B, C, H, W) pixel values, ``C`` divisible by ``M``.
        stride (int): superpixel cell size.

    Returns:
        Tensor: (B, C, h, w) update ``dZ`` (add it to the superpixels for the residual form).
    """
    if pixel_value.dim() != 4:
        raise ValueError(f'superpixel_update: pixel values must be (B, C, H, W), '
                         f'got {tuple(pixel_value.shape)}')
    grid = SuperpixelGrid(int(pixel_value.shape[2]), int(pixel_value.shape[3]), stride)
    _check_association(logits, pixel_value, 'superpixel_update')
    num_heads = logits.shape[1]
    _check_heads(pixel_value.shape[1], num_heads, 'superpixel_update')
    blocks = association_to_blocks(logits, grid, fill=float('-inf'))
    update = block_superpixel_update(blocks, to_blocks(pixel_value, grid, num_heads), grid)
    return heads_to_grid(update)


def unfold_superpixels(weights: Tensor,
                       superpixel_value: Tensor,
                       stride: int,
                       channels_last: bool = False) -> Tensor:
    """Each pixel's association-weighted combination of its 9 candidates' vectors.

    Args:
        weights (Tensor): (B, M, 9, H, W) pixel-side weights, e.g. :func:`association_weights`.
        superpixel_value (Tensor): (B, C, h, w) superpixel features or logits; ``C``
            divisible by ``M`` (head ``m`` combines channel group ``m``).
        stride (int): superpixel cell size.
        channels_last (bool): return the map in ``torch.channels_last`` memory format (the
            same values, written there directly).

    Returns:
        Tensor: (B, C, H, W).
    """
    return _unfold(weights, superpixel_value, stride, channels_last, softmax=False,
                   what='unfold_superpixels')


def unfold_with_logits(logits: Tensor,
                       superpixel_value: Tensor,
                       stride: int,
                       channels_last: bool = False) -> Tensor:
    """``unfold_superpixels(association_weights(logits), superpixel_value, stride)``.

    The softmax over the 9 candidates runs in the block layout (:func:`candidate_softmax`),
    so the weights never exist in the (B, M, 9, H, W) layout. Same arguments and result as
    :func:`unfold_superpixels`, with association logits (``-inf`` = invalid) for weights.
    """
    return _unfold(logits, superpixel_value, stride, channels_last, softmax=True,
                   what='unfold_with_logits')


def _unfold(assoc: Tensor, superpixel_value: Tensor, stride: int, channels_last: bool,
            softmax: bool, what: str) -> Tensor:
    """Checks, then :func:`block_unfold` of the (soft-maxed) association in block layout."""
    kind = 'logits' if softmax else 'weights'
    if assoc.dim() != 5:
        raise ValueError(f'{what}: {kind} must be (B, M, 9, H, W), got {tuple(assoc.shape)}')
    grid = SuperpixelGrid(int(assoc.shape[3]), int(assoc.shape[4]), stride)
    if superpixel_value.dim() != 4 or tuple(superpixel_value.shape[2:]) != (grid.rows, grid.cols):
        raise ValueError(f'{what}: superpixels {tuple(superpixel_value.shape)} do not '
                         f'match the ({grid.rows}, {grid.cols}) grid of {kind} '
                         f'{tuple(assoc.shape)} at stride {stride}')
    if assoc.shape[0] != superpixel_value.shape[0]:
        raise ValueError(f'{what}: batch mismatch {tuple(assoc.shape)} vs '
                         f'{tuple(superpixel_value.shape)}')
    _check_association(assoc, assoc, what)
    num_heads = assoc.shape[1]
    _check_heads(superpixel_value.shape[1], num_heads, what)
    blocks = association_to_blocks(assoc, grid)
    if softmax:
        blocks = candidate_softmax(blocks)
    out = block_unfold(blocks, grid_to_heads(superpixel_value, num_heads))
    return from_blocks(out, grid, channels_last)

"""The local pixel <-> superpixel association: logits, superpixel update, unfolding.

This is the single implementation every mmsp model uses (SPFormer, the superpixel-transformer
head, hard superpixels for the metric and the pictures, supervoxels). Notation of SPFormer
(Mei et al., arXiv 2401.02931, Sec. 3.2): pixel features on a map of ``size`` (``H x W``; a
clip ``T x H x W``), superpixels on the grid of cells of :class:`~mmsp.ops.grid.SuperpixelGrid`.
A pixel ``p`` attends to its ``K = 3 ** D`` candidate superpixels ``c_n(p)`` (9 in 2-D); a
superpixel ``j`` receives the pixels of its window ``W(j)``. Channels split into ``M``
contiguous heads of width ``d``.

* **Association logits** ``A[m, n, p] = <q_p, k_{c_n(p)}>_m / sqrt(d)``; ``-inf`` where
  ``c_n(p)`` is outside the grid (:func:`association_logits`).
* **Superpixel update** (:func:`superpixel_update`): ``dZ_j = sum_{p in W(j)} alpha_jp v_p``
  with ``alpha_jp = exp(A_jp) / sum_{p' in W(j)} exp(A_jp')``, a softmax over the window's
  pixels of the raw logits. With ``A = -||I_p - S_j||^2`` this is the centre update of SSN's
  equation (Jampani et al., ECCV 2018, Sec. 3: ``exp(-D)`` divided by its column sum). SSN's
  released code differs: it first normalises each pixel over its 9 candidates (softmax) and
  then divides by the column sums.
* **Unfolding** (:func:`unfold_with_logits`): ``out_p = sum_n softmax_n(A_p)_n V_{c_n(p)}``,
  each pixel's combination of its candidates' vectors (normalised over the candidates).

:func:`association_logits`, :func:`superpixel_update` and :func:`unfold_with_logits` take
``causal`` (a causal :class:`~mmsp.ops.grid.SuperpixelGrid`: no
candidate one cell ahead along the leading, temporal dimension; 18 instead of 27 candidates
for an interior voxel of a clip). The logits are then ``-inf`` there too, and the updates and
hard ids read them like candidates outside the grid.

Everything runs in the block layout of :mod:`mmsp.ops.cell_layout` (pixels of a cell
contiguous): logits cost ``O(K * N * M)`` memory and values ``O(N * C)``; no ``K x C``
neighbour tensor is built at pixel resolution. Softmaxes run in at least float32 (also under
autocast). Invalid candidates are removed with ``masked_fill``/``where``, never by multiplying
a ``-inf`` with a mask.
"""
import math
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from .cell_layout import from_blocks, to_blocks
from .grid import (SuperpixelGrid, fold_to_superpixels, gather_neighbors, grid_to_heads,
                   heads_to_grid, shift_to_superpixels)

Stride = Union[int, Sequence[int]]

__all__ = [
    'block_logits', 'block_superpixel_update', 'block_unfold', 'blocks_to_association',
    'association_to_blocks', 'mask_outside', 'candidate_softmax', 'association_logits',
    'association_weights', 'merge_heads', 'superpixel_update', 'unfold_superpixels',
    'unfold_with_logits'
]


def _upcast(x: Tensor) -> Tensor:
    """Half precision to float32 (softmax numerics under autocast); float32/64 unchanged."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def candidate_softmax(logits: Tensor) -> Tensor:
    """Softmax over the last dimension (the candidates), in at least float32.

    The same values as ``torch.softmax(logits.float(), -1)``; the max is detached (the softmax is
    shift-invariant, so gradients are unchanged). Every row needs one finite entry (a pixel's
    own cell always is).
    """
    logits = _upcast(logits)
    e = torch.exp(logits - logits.detach().amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


# --------------------------------------------------------------------------- block layout
def mask_outside(logits: Tensor, grid: SuperpixelGrid) -> Tensor:
    """``-inf`` at the candidates outside the grid of block logits (B, M, *shape, P, K)."""
    valid = grid.neighbor_mask(logits.device).unsqueeze(-2)  # (*shape, 1, K)
    return logits.masked_fill(~valid, float('-inf'))


def block_logits(pixel_blocks: Tensor, superpixels: Tensor, grid: SuperpixelGrid,
                 scale: float) -> Tensor:
    """Masked pixel -> candidate logits in block layout.

    Args:
        pixel_blocks (Tensor): (B, M, *shape, P, d) pixel vectors.
        superpixels (Tensor): (B, M, *shape, d) superpixel vectors.
        grid (SuperpixelGrid): geometry.
        scale (float): multiplier of the dot products.

    Returns:
        Tensor: (B, M, *shape, P, K) logits (at least float32), ``-inf`` at candidates
        outside the grid.
    """
    neighbors = gather_neighbors(superpixels, grid.ndim)  # (B, M, *shape, K, d)
    logits = _upcast(torch.matmul(pixel_blocks, neighbors.transpose(-1, -2))) * scale
    return mask_outside(logits, grid)


def block_superpixel_update(logits: Tensor,
                            value_blocks: Tensor,
                            grid: SuperpixelGrid,
                            value_scale: Optional[Tensor] = None) -> Tensor:
    """Softmax over every superpixel's window pixels and the weighted sum of their values.

    Entry ``(c, p, n)`` of the logits concerns superpixel ``c + offset(n)``. Its normaliser is
    the log-sum-exp over all ``(cell, pixel)`` pairs of that superpixel's window: per cell over
    its pixels, then over the window's cells (:func:`~mmsp.ops.grid.shift_to_superpixels`),
    then read back at ``c + offset(n)`` (:func:`~mmsp.ops.grid.gather_neighbors`).

    Args:
        logits (Tensor): (B, M, *shape, P, K) from :func:`block_logits`.
        value_blocks (Tensor): (B, M, *shape, P, dv) pixel values, or (B, 1, *shape, P, dv):
            values shared by the ``M`` heads.
        grid (SuperpixelGrid): geometry.
        value_scale (Tensor, optional): (B, *shape, P, 1) per-pixel factor of the values,
            applied to the weights of a pixel instead of its ``dv`` values.

    Returns:
        Tensor: (B, M, *shape, dv) update of every superpixel, in the dtype of the values.
    """
    if value_blocks.shape[1] not in (1, logits.shape[1]):
        raise ValueError(f'block_superpixel_update: values {tuple(value_blocks.shape)} need 1 or '
                         f'{logits.shape[1]} heads (logits {tuple(logits.shape)})')
    nd = grid.ndim
    pixel_dim, cand_dim = 2 + nd, 3 + nd
    logits = _upcast(logits)
    if grid.is_padded:  # padding slots never contribute
        logits = logits.masked_fill(~grid.pixel_mask(logits.device).unsqueeze(-1), float('-inf'))
    cell_lse = torch.logsumexp(logits, dim=pixel_dim)  # (B, M, *shape, K)
    window_lse = torch.logsumexp(shift_to_superpixels(cell_lse, nd, float('-inf')), dim=-1)
    norm = gather_neighbors(window_lse, nd)  # (B, M, *shape, K): normaliser of c + offset(n)
    alpha = torch.exp(logits - norm.unsqueeze(pixel_dim))
    if value_scale is not None:
        alpha = alpha * value_scale.unsqueeze(1).to(alpha.dtype)
    alpha = alpha.to(value_blocks.dtype)
    per_cell = torch.matmul(alpha.transpose(pixel_dim, cand_dim), value_blocks)  # (.., K, dv)
    return fold_to_superpixels(per_cell, nd)


def block_unfold(weights: Tensor, superpixels: Tensor, ndim: int = 2) -> Tensor:
    """Each pixel's weighted combination of its candidates' vectors.

    Args:
        weights (Tensor): (B, M, *shape, P, K) weights (zero at invalid candidates).
        superpixels (Tensor): (B, M, *shape, dv) superpixel vectors.
        ndim (int): grid dimensions.

    Returns:
        Tensor: (B, M, *shape, P, dv).
    """
    neighbors = gather_neighbors(superpixels, ndim)  # (B, M, *shape, K, dv)
    return torch.matmul(weights.to(neighbors.dtype), neighbors)


def blocks_to_association(logits: Tensor, grid: SuperpixelGrid) -> Tensor:
    """Block logits (B, M, *shape, P, K) to the exported layout (B, M, K, *size)."""
    b, m, k = logits.shape[0], logits.shape[1], logits.shape[-1]
    x = logits.movedim(-1, 2).reshape(b, m * k, *logits.shape[2:-1], 1)
    return from_blocks(x, grid).reshape(b, m, k, *grid.size)


def association_to_blocks(assoc: Tensor, grid: SuperpixelGrid, fill: float = 0.0) -> Tensor:
    """(B, M, K, *size) association to block layout (B, M, *shape, P, K); padding gets ``fill``."""
    b, m, k = assoc.shape[:3]
    x = assoc.reshape(b, m * k, *grid.size)
    if grid.is_padded:
        pad = []
        for n, padded in zip(reversed(grid.size), reversed(grid.padded_size)):
            pad += [0, padded - n]
        x = torch.nn.functional.pad(x, pad, value=fill)
    x = to_blocks(x, grid, num_heads=m * k)  # (B, M * K, *shape, P, 1)
    return x.reshape(b, m, k, *grid.shape, grid.cell_pixels).movedim(2, -1)


# --------------------------------------------------------------------------- public layout
def _check_heads(channels: int, num_heads: int, what: str) -> None:
    if num_heads < 1 or channels % num_heads:
        raise ValueError(f'{what}: {channels} channels cannot be split into {num_heads} heads')


def _check_association(assoc: Tensor, grid: SuperpixelGrid, what: str,
                       pixels: Optional[Tensor] = None) -> None:
    """``assoc`` must be (B, M, K, *size) for ``grid`` (of the pixel tensor ``pixels``)."""
    if (assoc.dim() != 3 + grid.ndim or assoc.shape[2] != grid.num_candidates
            or tuple(assoc.shape[3:]) != grid.size):
        of = '' if pixels is None else f' of the pixel tensor {tuple(pixels.shape)}'
        raise ValueError(f'{what}: association {tuple(assoc.shape)} must be (B, M, K, *size) '
                         f'with size {grid.size}{of} and K = 3 ** len(size) = '
                         f'{grid.num_candidates} candidates')


def association_logits(pixel_query: Tensor,
                       superpixel_key: Tensor,
                       stride: Stride,
                       num_heads: int = 1,
                       scale: Optional[float] = None,
                       causal: bool = False) -> Tensor:
    """Multi-head logits of every pixel toward its candidate superpixels.

    Args:
        pixel_query (Tensor): (B, C, *size) pixel vectors (an image (B, C, H, W), a clip
            (B, C, T, H, W)).
        superpixel_key (Tensor): (B, C, *shape) superpixel vectors, ``shape = ceil(size /
            stride)``.
        stride (int | tuple[int]): the cell size in pixels of ``pixel_query``.
        num_heads (int): number of channel groups ``M``.
        scale (float, optional): defaults to ``1 / sqrt(C / M)``.
        causal (bool): also ``-inf`` at the candidates one cell ahead along the leading
            dimension (clips: the next temporal cell).

    Returns:
        Tensor: (B, M, K, *size), at least float32; ``-inf`` where the candidate is outside
        the grid (``K = 9`` for images, 27 for clips).
    """
    grid = SuperpixelGrid.from_tensors(pixel_query, superpixel_key, stride, 'association_logits',
                                       causal)
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
    """Pixel-side normalisation: softmax over the candidates (dim 2), in at least float32."""
    if logits.dim() < 4 or logits.shape[2] not in (3**(logits.dim() - 3), ):
        raise ValueError(f'association_weights: expected (B, M, K, *size) with K = 3 ** D, got '
                         f'{tuple(logits.shape)}')
    return torch.softmax(_upcast(logits), dim=2)


def merge_heads(logits: Tensor) -> Tensor:
    """Merge multi-head logits (B, M, K, *size) into one association (B, K, *size).

    ``sum / sqrt(M)``: a single-head dot product over all channels (SPFormer's rule).
    """
    if logits.dim() < 4:
        raise ValueError(f'merge_heads: expected (B, M, K, *size), got {tuple(logits.shape)}')
    return logits.sum(dim=1) / math.sqrt(logits.shape[1])


def superpixel_update(logits: Tensor,
                      pixel_value: Tensor,
                      stride: Stride,
                      causal: bool = False) -> Tensor:
    """Every superpixel's softmax-weighted mean of the values of its window's pixels.

    Args:
        logits (Tensor): (B, M, K, *size) association logits (``-inf`` = invalid).
        pixel_value (Tensor): (B, C, *size) pixel values, ``C`` divisible by ``M``.
        stride (int | tuple[int]): cell size.
        causal (bool): mask the candidates ahead along the leading dimension as well.

    Returns:
        Tensor: (B, C, *shape) update ``dZ`` (add it to the superpixels for the residual form).
    """
    if pixel_value.dim() < 3:
        raise ValueError(f'superpixel_update: pixel values must be (B, C, *size), '
                         f'got {tuple(pixel_value.shape)}')
    grid = SuperpixelGrid.of(pixel_value.shape[2:], stride, causal)
    _check_association(logits, grid, 'superpixel_update', pixel_value)
    num_heads = logits.shape[1]
    _check_heads(pixel_value.shape[1], num_heads, 'superpixel_update')
    blocks = mask_outside(association_to_blocks(logits, grid), grid)
    update = block_superpixel_update(blocks, to_blocks(pixel_value, grid, num_heads), grid)
    return heads_to_grid(update)


def unfold_superpixels(weights: Tensor,
                       superpixel_value: Tensor,
                       stride: Stride,
                       channels_last: bool = False) -> Tensor:
    """Each pixel's weighted combination of its candidates' vectors.

    Args:
        weights (Tensor): (B, M, K, *size) pixel-side weights, e.g. :func:`association_weights`
            (zero at invalid candidates).
        superpixel_value (Tensor): (B, C, *shape) superpixel features or logits; ``C``
            divisible by ``M`` (head ``m`` combines channel group ``m``).
        stride (int | tuple[int]): cell size.
        channels_last (bool): return the map in channels-last memory format (same values).

    Returns:
        Tensor: (B, C, *size).
    """
    return _unfold(weights, superpixel_value, stride, channels_last, False, softmax=False,
                   what='unfold_superpixels')


def unfold_with_logits(logits: Tensor,
                       superpixel_value: Tensor,
                       stride: Stride,
                       channels_last: bool = False,
                       causal: bool = False) -> Tensor:
    """``unfold_superpixels(association_weights(logits), superpixel_value, stride)``.

    The softmax over the candidates runs in the block layout, after the candidates outside the
    grid are masked here (so unmasked logits give the same result as masked ones; with
    ``causal``, the candidates ahead too). Same arguments and result as
    :func:`unfold_superpixels`, with association logits for weights.
    """
    return _unfold(logits, superpixel_value, stride, channels_last, causal, softmax=True,
                   what='unfold_with_logits')


def _unfold(assoc: Tensor, superpixel_value: Tensor, stride: Stride, channels_last: bool,
            causal: bool, softmax: bool, what: str) -> Tensor:
    """Checks, then :func:`block_unfold` of the (soft-maxed) association in block layout."""
    kind = 'logits' if softmax else 'weights'
    if assoc.dim() < 4:
        raise ValueError(f'{what}: {kind} must be (B, M, K, *size), got {tuple(assoc.shape)}')
    grid = SuperpixelGrid.of(assoc.shape[3:], stride, causal)
    _check_association(assoc, grid, what)
    if superpixel_value.dim() != 2 + grid.ndim or tuple(superpixel_value.shape[2:]) != grid.shape:
        raise ValueError(f'{what}: superpixels {tuple(superpixel_value.shape)} do not match the '
                         f'{grid.shape} grid of {kind} {tuple(assoc.shape)} at stride {stride}')
    if assoc.shape[0] != superpixel_value.shape[0]:
        raise ValueError(f'{what}: batch mismatch {tuple(assoc.shape)} vs '
                         f'{tuple(superpixel_value.shape)}')
    num_heads = assoc.shape[1]
    _check_heads(superpixel_value.shape[1], num_heads, what)
    blocks = association_to_blocks(assoc, grid)
    if softmax:
        blocks = candidate_softmax(mask_outside(blocks, grid))
    out = block_unfold(blocks, grid_to_heads(superpixel_value, num_heads), grid.ndim)
    return from_blocks(out, grid, channels_last)

"""Hard superpixels from a soft association, and the connectivity pass used for evaluation."""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from .grid import SuperpixelGrid
from .id_maps import ids_present, relabel_contiguous
from .upsample import upsample_association

__all__ = ['hard_assignment', 'association_to_superpixels', 'infer_pixel_stride']

Stride = Union[int, Sequence[int]]

#: Relative tolerance within which the own cell wins a tie: the own cell is chosen when its
#: logit is within ``OWN_CELL_TOL * max(1, |best logit|)`` of the best one (the SPFormer code's
#: +1e-5 on the own cell, made relative so that rounding of large logits, e.g. after
#: interpolation, does not break ties between equal candidates).
OWN_CELL_TOL = 1e-5


def hard_assignment(association: Tensor,
                    stride: Stride,
                    contiguous: bool = True,
                    causal: bool = False) -> Tuple[Tensor, Tensor]:
    """Argmax of the association to a superpixel id map (SPFormer, arXiv 2401.02931, Sec. 3.2).

    ``id(p) = cell(p) + offset(n*)`` with ``n*`` the winning candidate (``dy * w + dx`` in 2-D,
    ``dt * h * w + dy * w + dx`` for clips); ties go to the pixel's own cell. Multi-head logits
    are merged first (sum / sqrt(M)). Candidates outside the grid are masked here, so unmasked
    logits can never produce an id outside the grid or one wrapped to another row.

    Args:
        association (Tensor): logits or weights, merged (B, K, *size) or per head
            (B, M, K, *size); ``K = 3 ** D`` for ``D`` spatial dimensions.
        stride (int | tuple[int]): superpixel cell size in pixels of the association; an int
            means an image (``D = 2``), a tuple gives the cell of every dimension.
        contiguous (bool): relabel the ids of every image to ``0 .. K-1``. Otherwise the ids are
            grid ids in ``[0, num_superpixels)``.
        causal (bool): also mask the candidates ahead along the leading dimension (a causal
            :class:`~mmsp.ops.grid.SuperpixelGrid`).

    Returns:
        tuple[Tensor, Tensor]: ids (B, *size) int64, unique per image, and the number of
        superpixels actually present per image (B,) int64.
    """
    ndim = len(stride) if isinstance(stride, (tuple, list)) else 2
    if association.dim() == 3 + ndim:
        association = association.float().sum(dim=1) / association.shape[1]**0.5
    if association.dim() != 2 + ndim or association.shape[1] != 3**ndim:
        raise ValueError(f'hard_assignment: expected (B, {3**ndim}, *size) or (B, M, {3**ndim}, '
                         f'*size) with {ndim} spatial dims, got {tuple(association.shape)}')
    grid = SuperpixelGrid.of(association.shape[2:], stride, causal)
    valid = grid.pixel_neighbor_mask(association.device)[None]  # (1, K, *size)
    association = association.float().masked_fill(~valid, float('-inf'))
    top, best = association.max(dim=1)  # (B, *size)
    own = association[:, grid.center]
    tie = own >= top - OWN_CELL_TOL * top.abs().clamp_min(1.0)
    best = torch.where(tie, torch.full_like(best, grid.center), best)
    ids = grid.cell_ids(association.device)[None] + grid.neighbor_id_offsets(
        association.device)[best]
    if contiguous:
        return relabel_contiguous(ids, grid.num_superpixels)
    return ids, ids_present(ids, grid.num_superpixels).sum(dim=1)  # no host sync


def association_to_superpixels(association: Tensor,
                               stride: Stride,
                               pixel_stride: Stride = 1,
                               out_size: Optional[Sequence[int]] = None,
                               causal: bool = False) -> Tuple[Tensor, Tensor]:
    """Hard superpixels at image resolution from association logits at a coarser stride.

    The logits are upsampled by ``pixel_stride`` (:func:`upsample_association`), hard-assigned
    (:func:`hard_assignment`), cropped to ``out_size`` (removing the padding at the end of every
    dimension) and relabelled ``0 .. K-1`` per image (per clip).

    Args:
        association (Tensor): (B, M, 9, H, W) logits of images or (B, M, 27, T, H, W) of clips
            (``-inf`` = invalid candidate).
        stride (int | tuple[int]): superpixel cell size in pixels of ``association``.
        pixel_stride (int | tuple[int]): image pixels per association pixel (e.g. 4 for
            SPFormer's stem; ``(1, 4, 4)`` for a clip whose frames keep their rate).
        out_size (Sequence[int], optional): ``(H0, W0)`` (``(T0, H0, W0)``) to crop to; must not
            exceed the upsampled size.
        causal (bool): the grid is causal (:class:`~mmsp.ops.grid.SuperpixelGrid`).

    Returns:
        tuple[Tensor, Tensor]: ids (B, H0, W0) (or (B, T0, H0, W0)) int64 and the number of
        superpixels per image (B,).
    """
    ndim = association.dim() - 3
    if ndim not in (2, 3) or association.shape[2] != 3**ndim:
        raise ValueError(f'association_to_superpixels: expected (B, M, 9, H, W) or '
                         f'(B, M, 27, T, H, W), got {tuple(association.shape)}')
    strides = (stride, ) * ndim if isinstance(stride, int) else tuple(stride)
    factors = (pixel_stride, ) * ndim if isinstance(pixel_stride, int) else tuple(pixel_stride)
    if len(strides) != ndim or len(factors) != ndim:
        raise ValueError(f'association_to_superpixels: stride {stride!r} and pixel_stride '
                         f'{pixel_stride!r} need {ndim} entries for association '
                         f'{tuple(association.shape)}')
    fine = upsample_association(association, strides, factors, causal)
    ids, _ = hard_assignment(fine, tuple(s * f for s, f in zip(strides, factors)),
                             contiguous=False, causal=causal)
    if out_size is not None:
        out = tuple(int(v) for v in out_size)
        if len(out) != ndim or any(not 1 <= o <= n for o, n in zip(out, ids.shape[1:])):
            raise ValueError(f'association_to_superpixels: out_size {tuple(out_size)} is not '
                             f'within the upsampled map {tuple(ids.shape[1:])}')
        ids = ids[(slice(None), ) + tuple(slice(0, o) for o in out)]
    return relabel_contiguous(ids)


def infer_pixel_stride(input_size: Sequence[int], association_size: Sequence[int],
                       owner: str) -> int:
    """Image pixels per association pixel, from the input and association sizes.

    The usual rule is ``round(H_in / H) == round(W_in / W)`` (exact multiples, and providers
    that floor or ceil odd sizes). When the two axes round differently, as for tiny odd inputs
    (a 7x5 image gives a 2x2 association at stride 4: ratios 3.5 and 2.5), the stride is the
    smallest ``s`` with ``ceil(H_in / s) == H`` and ``ceil(W_in / s) == W``.

    Args:
        input_size (Sequence[int]): ``(H_in, W_in)``.
        association_size (Sequence[int]): ``(H, W)`` of the association logits.
        owner (str): the model, for the message.

    Raises:
        ValueError: no single stride fits both axes.
    """
    (in_h, in_w), (h, w) = (int(v) for v in input_size), (int(v) for v in association_size)
    if min(in_h, in_w, h, w) < 1:
        raise ValueError(f'{owner}: empty input {(in_h, in_w)} or association {(h, w)}')
    stride_h, stride_w = round(in_h / h), round(in_w / w)
    if stride_h == stride_w and stride_h >= 1:
        return stride_h

    def fitting(size: int, cells: int) -> Tuple[int, float]:  # ceil(size / s) == cells
        return -(-size // cells), (-(-size // (cells - 1)) - 1 if cells > 1 else math.inf)

    (lo_h, hi_h), (lo_w, hi_w) = fitting(in_h, h), fitting(in_w, w)
    if max(lo_h, lo_w) <= min(hi_h, hi_w):
        return max(lo_h, lo_w)
    raise ValueError(f'{owner}: cannot infer one pixel stride from input {(in_h, in_w)} and '
                     f'association {(h, w)} (ratios {in_h / h:.3f}, {in_w / w:.3f})')

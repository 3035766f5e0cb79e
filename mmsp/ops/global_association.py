"""The global (all-pairs) association between superpixels and groups, and its composition.

LGFormer (Xie et al., arXiv 2409.01353, ECCV 2024, Sec. 3) adds a third level above SPFormer's
superpixels: ``G`` group tokens that aggregate **all** ``N`` superpixels (a global, soft
association, unlike the 9 local candidates of :mod:`mmsp.ops.association`), and back. Both
directions are multi-head attention whose weights are kept:

* :func:`global_association_logits`: ``l[m, i, j] = <q_i, k_j>_m / sqrt(d)`` for every query
  ``i`` and key ``j``, head ``m`` = channel group ``m`` of width ``d``;
* :func:`heads_weighted_sum`: ``out_i = concat_m sum_j w[m, i, j] v_{j, m}``;
* :func:`compose_group_association`: a pixel's soft group membership through its 9 candidate
  superpixels, ``P(g | p) = sum_n softmax_n(A_p)_n bbar[c_n(p), g]``.

Softmaxes and the composition run in at least float32 (also under autocast).
"""
import math
from typing import Optional

import torch
from torch import Tensor

from .association import merge_heads, unfold_with_logits
from .grid import SuperpixelGrid
from .upsample import upsample_association

__all__ = ['global_association_logits', 'heads_weighted_sum', 'compose_group_association']


def _split_heads(x: Tensor, num_heads: int, what: str) -> Tensor:
    """(B, N, C) -> (B, M, N, C / M)."""
    if x.dim() != 3 or num_heads < 1 or x.shape[-1] % num_heads:
        raise ValueError(f'{what}: expected (B, N, C) with C divisible by {num_heads} heads, '
                         f'got {tuple(x.shape)}')
    b, n, c = x.shape
    return x.reshape(b, n, num_heads, c // num_heads).transpose(1, 2)


def global_association_logits(query: Tensor,
                              key: Tensor,
                              num_heads: int = 1,
                              scale: Optional[float] = None) -> Tensor:
    """Multi-head scaled dot products of every query with every key.

    Args:
        query (Tensor): (B, Nq, C).
        key (Tensor): (B, Nk, C).
        num_heads (int): channel groups ``M``; must divide ``C``.
        scale (float, optional): defaults to ``1 / sqrt(C / M)``.

    Returns:
        Tensor: (B, M, Nq, Nk) logits, at least float32.
    """
    if query.shape[0] != key.shape[0] or query.shape[-1] != key.shape[-1]:
        raise ValueError(f'global_association_logits: query {tuple(query.shape)} and key '
                         f'{tuple(key.shape)} must be (B, Nq, C) and (B, Nk, C)')
    q = _split_heads(query, num_heads, 'global_association_logits')
    k = _split_heads(key, num_heads, 'global_association_logits')
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    logits = torch.matmul(q, k.transpose(-1, -2))
    return logits.to(torch.promote_types(logits.dtype, torch.float32)) * scale


def heads_weighted_sum(weights: Tensor, values: Tensor) -> Tensor:
    """Every query's per-head weighted sum of the values: ``concat_m sum_j w[m, i, j] v_{j,m}``.

    Args:
        weights (Tensor): (B, M, Nq, Nk), e.g. a softmax of :func:`global_association_logits`.
        values (Tensor): (B, Nk, C), ``C`` divisible by ``M`` (head ``m`` reads channel group
            ``m``).

    Returns:
        Tensor: (B, Nq, C) in the dtype of the values.
    """
    if weights.dim() != 4 or values.dim() != 3 or weights.shape[0] != values.shape[0] \
            or weights.shape[-1] != values.shape[1]:
        raise ValueError(f'heads_weighted_sum: weights {tuple(weights.shape)} and values '
                         f'{tuple(values.shape)} must be (B, M, Nq, Nk) and (B, Nk, C)')
    b, m, nq, _ = weights.shape
    v = _split_heads(values, m, 'heads_weighted_sum')  # (B, M, Nk, C / M)
    out = torch.matmul(weights.to(v.dtype), v)  # (B, M, Nq, C / M)
    return out.transpose(1, 2).reshape(b, nq, values.shape[-1])


def compose_group_association(association: Tensor,
                              group_weights: Tensor,
                              stride: int,
                              factor: int = 1) -> Tensor:
    """Soft group membership of every pixel, through its candidate superpixels.

    ``P(g | p) = sum_n abar[p, n] bbar[c_n(p), g]`` with ``abar`` the pixel -> superpixel
    association (heads merged, ``sum / sqrt(M)``, softmax over the 9 candidates) and ``bbar`` the
    superpixel -> group weights averaged over their heads. Every pixel's row sums to one.

    Args:
        association (Tensor): (B, M, 9, H, W) pixel -> superpixel logits (``-inf`` = invalid).
        group_weights (Tensor): (B, Mg, N, G) superpixel -> group weights (each row a
            distribution over the ``G`` groups), ``N = h * w`` superpixels in row-major order
            of the ``ceil(H / stride) x ceil(W / stride)`` grid.
        stride (int): superpixel cell size in pixels of ``association``.
        factor (int): integer upsampling of the association logits first
            (:func:`~mmsp.ops.upsample_association`), e.g. the backbone's pixel stride to get the
            membership at image resolution.

    Returns:
        Tensor: (B, G, H * factor, W * factor) probabilities, at least float32.
    """
    if association.dim() != 5 or group_weights.dim() != 4 or \
            association.shape[0] != group_weights.shape[0]:
        raise ValueError(f'compose_group_association: expected association (B, M, 9, H, W) and '
                         f'group weights (B, Mg, N, G), got {tuple(association.shape)} and '
                         f'{tuple(group_weights.shape)}')
    grid = SuperpixelGrid.of(tuple(int(v) for v in association.shape[-2:]), stride)
    b, _, n, g = group_weights.shape
    if n != grid.num_superpixels:
        raise ValueError(f'compose_group_association: {n} superpixels in the group weights, but '
                         f'the association has a {grid.rows}x{grid.cols} grid at stride {stride}')
    merged = merge_heads(association).unsqueeze(1)  # (B, 1, 9, H, W)
    if factor != 1:
        merged = upsample_association(merged, stride, factor)
    bbar = group_weights.to(torch.promote_types(group_weights.dtype, torch.float32)).mean(1)
    bbar = bbar.transpose(1, 2).reshape(b, g, grid.rows, grid.cols)  # (B, G, h, w)
    return unfold_with_logits(merged, bbar, stride * factor)

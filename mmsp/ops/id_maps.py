"""Integer id maps: contiguous relabelling, nearest resizing, connected superpixels."""
import heapq
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from skimage import measure
from torch import Tensor

__all__ = ['ids_present', 'relabel_contiguous', 'resize_ids', 'enforce_connectivity']


def ids_present(ids: Tensor, num_ids: int) -> Tensor:
    """Which ids occur in each image (or clip), computed on the device with one scatter.

    Args:
        ids (Tensor): (B, ...) int64 ids in ``[0, num_ids)``.
        num_ids (int): the number of possible ids.

    Returns:
        Tensor: (B, num_ids) bool, True where the id occurs in that item.
    """
    present = torch.zeros(ids.shape[0], num_ids, dtype=torch.bool, device=ids.device)
    return present.scatter_(1, ids.reshape(ids.shape[0], -1).long(), True)


def relabel_contiguous(ids: Tensor, num_ids: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """Map the ids of every image (or clip) to ``0 .. K_b - 1`` (order preserved).

    Args:
        ids (Tensor): (B, H, W) or (B, T, H, W) non-negative int64 ids.
        num_ids (int, optional): an upper bound of the ids (all ids ``< num_ids``), e.g. the
            grid's cell count. Defaults to the largest id + 1, which reads the device once.

    Returns:
        tuple[Tensor, Tensor]: contiguous ids (as ``ids``) and the count ``K_b`` per item (B,).
    """
    if ids.dim() not in (3, 4):
        raise ValueError(f'relabel_contiguous: expected (B, H, W) or (B, T, H, W), got '
                         f'{tuple(ids.shape)}')
    flat = ids.reshape(ids.shape[0], -1).long()
    if num_ids is None:
        num_ids = int(flat.max()) + 1 if flat.numel() else 1
    present = ids_present(flat, num_ids).long()
    new_ids = present.cumsum(dim=1) - 1
    return new_ids.gather(1, flat).reshape(ids.shape), present.sum(dim=1)


def resize_ids(ids: Tensor, size: Tuple[int, int]) -> Tensor:
    """Nearest, pixel-centre aligned resize of an integer map (..., H, W) to ``size``.

    Output pixel ``i`` reads input pixel ``floor((i + 0.5) * H / H_out)``: the input pixel whose
    extent holds the output pixel's centre (``[0, 1, 2]`` to width 5 is ``[0, 0, 1, 2, 2]``).
    Ids are never blended, so the result holds only ids of the input.
    """
    out_h, out_w = int(size[0]), int(size[1])
    in_h, in_w = ids.shape[-2:]
    if (in_h, in_w) == (out_h, out_w):
        return ids
    ys = ((torch.arange(out_h, device=ids.device) + 0.5) * (in_h / out_h)).long()
    xs = ((torch.arange(out_w, device=ids.device) + 0.5) * (in_w / out_w)).long()
    ys, xs = ys.clamp_(max=in_h - 1), xs.clamp_(max=in_w - 1)
    return ids[..., ys[:, None], xs[None, :]]


def enforce_connectivity(ids: np.ndarray, min_size: int = 0) -> Tuple[np.ndarray, int]:
    """Split every superpixel into its connected pieces and merge the pieces below ``min_size``.

    *Pieces* are the 4-connected components of equal ids, found in one
    ``skimage.measure.label`` pass and numbered in raster order of their first pixel. Pieces are
    merged whole (never split) by this rule, a piece being *small* below ``min_size`` pixels and
    *large* otherwise:

    1. Every small piece merges into the adjacent large piece with which it shares the longest
       border (counted in 4-neighbour pixel edges); ties go to the larger piece, then to the
       lower piece number.
    2. Small pieces without a large neighbour wait, and step 1 is repeated on the merged regions
       (a region keeps the number of its large piece and adds the borders of what it absorbed)
       until no small region touches a large one. A small piece therefore never merges into
       another small piece while the map holds a large piece; on a connected image the repeat
       ends with every region large.
    3. Only a map without any large piece is left with small regions. Then, until every region
       is large or one region is left, the smallest region (ties: lower number) merges into the
       neighbour sharing the longest border (ties: the larger, then the lower number).

    scikit-image's connectivity pass in SLIC instead gives a small piece the label of a
    neighbour already labelled in raster order, whatever that neighbour's size and border.

    Args:
        ids (np.ndarray): (H, W) integer superpixel ids of one image (any values and gaps).
        min_size (int): minimum piece size in pixels; 0 (or 1) only splits.

    Returns:
        tuple[np.ndarray, int]: connected ids ``0 .. K-1`` (H, W) int64 and ``K``. Every region
        has at least ``min_size`` pixels unless the image is smaller.
    """
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f'enforce_connectivity: expected (H, W) ids, got shape {ids.shape}')
    if min_size < 0:
        raise ValueError(f'enforce_connectivity: min_size must be >= 0, got {min_size}')
    if ids.size == 0:
        return np.zeros(ids.shape, np.int64), 0
    pieces = measure.label(_nonnegative_ids(ids), background=-1, connectivity=1) - 1
    num_pieces = int(pieces.max()) + 1
    region = np.arange(num_pieces)  # region number of every piece (a piece number)
    if min_size > 1 and num_pieces > 1:
        region = _merge_small_pieces(pieces, num_pieces, min_size)
    present = np.zeros(num_pieces, bool)
    present[region] = True
    new_ids = np.cumsum(present) - 1
    return new_ids[region][pieces], int(present.sum())


def _nonnegative_ids(ids: np.ndarray) -> np.ndarray:
    """``ids`` as non-negative int64 (the value -1 is free for ``measure.label``'s background)."""
    if np.issubdtype(ids.dtype, np.integer) and ids.min() >= 0 and ids.max() <= 2**62:
        return ids.astype(np.int64, copy=False)
    return np.unique(ids, return_inverse=True)[1].reshape(ids.shape)


def _piece_borders(pieces: np.ndarray, num_pieces: int) -> Tuple[np.ndarray, ...]:
    """Adjacent piece pairs ``(u < v)`` and their border lengths in 4-neighbour pixel edges."""
    width = pieces.shape[1]
    flat = pieces.ravel()
    codes = []
    for a, b in ((flat[:-1], flat[1:]), (flat[:-width], flat[width:])):  # right, lower neighbour
        cut = a != b
        if len(a) == flat.size - 1:
            cut[width - 1::width] = False  # the last pixel of a row and the first of the next
        at = np.flatnonzero(cut)
        a, b = a[at], b[at]
        codes.append(np.minimum(a, b) * num_pieces + np.maximum(a, b))
    codes, length = np.unique(np.concatenate(codes), return_counts=True)
    return codes // num_pieces, codes % num_pieces, length


def _merge_small_pieces(pieces: np.ndarray, num_pieces: int, min_size: int) -> np.ndarray:
    """The region number of every piece after the merging rule of :func:`enforce_connectivity`."""
    u, v, length = _piece_borders(pieces, num_pieces)  # becomes the borders between regions
    size = np.bincount(pieces.ravel(), minlength=num_pieces)  # valid at region numbers
    region = np.arange(num_pieces)
    while True:  # steps 1 and 2: one round of small -> large merges at a time
        apart = u != v
        u, v, length = u[apart], v[apart], length[apart]
        src, dst = np.concatenate([u, v]), np.concatenate([v, u])
        wanted = (size[src] < min_size) & (size[dst] >= min_size)
        if not wanted.any():
            break
        codes, inverse = np.unique(src[wanted] * num_pieces + dst[wanted], return_inverse=True)
        border = np.bincount(inverse, weights=np.concatenate([length, length])[wanted])
        small, large = codes // num_pieces, codes % num_pieces
        # per small region: the longest border, then the larger target, then the lower number
        order = np.lexsort((large, -size[large], -border, small))
        small, large = small[order], large[order]
        first = np.r_[True, small[1:] != small[:-1]]
        small, large = small[first], large[first]
        np.add.at(size, large, size[small])
        target = np.arange(num_pieces)
        target[small] = large
        region, u, v = target[region], target[u], target[v]
    if (size[region] < min_size).any():  # step 3: the map has no large piece
        region = _merge_greedily(region, u, v, length, size, min_size)
    return region


def _merge_greedily(region: np.ndarray, u: np.ndarray, v: np.ndarray, length: np.ndarray,
                    size: np.ndarray, min_size: int) -> np.ndarray:
    """Step 3 of the rule: the smallest region first, into its longest-border neighbour.

    ``u, v, length`` are borders between the regions of ``region`` (repeated pairs allowed).
    """
    borders: Dict[int, Dict[int, int]] = {}
    for a, b, n in zip(u.tolist(), v.tolist(), length.tolist()):
        for x, y in ((a, b), (b, a)):
            borders.setdefault(x, {})
            borders[x][y] = borders[x].get(y, 0) + n
    size = size.tolist()
    target = list(range(len(size)))
    heap = [(size[r], r) for r in borders]
    heapq.heapify(heap)
    while heap:
        area, small = heapq.heappop(heap)
        if target[small] != small or area != size[small]:
            continue  # merged away, or an outdated size
        if area >= min_size or not borders[small]:
            break
        large = max(borders[small], key=lambda r: (borders[small][r], size[r], -r))
        target[small] = large
        size[large] += area
        for other, n in borders.pop(small).items():
            del borders[other][small]
            if other != large:
                borders[large][other] = borders[large].get(other, 0) + n
                borders[other][large] = borders[other].get(large, 0) + n
        heapq.heappush(heap, (size[large], large))
    target = np.asarray(target)
    while True:  # follow chains of merges to their last region
        last = target[target]
        if np.array_equal(last, target):
            return target[region]
        target = last

"""Integer id maps: contiguous relabelling, nearest resizing, connected superpixels."""
from typing import Tuple

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

__all__ = ['relabel_contiguous', 'resize_ids', 'enforce_connectivity']


def relabel_contiguous(ids: Tensor) -> Tuple[Tensor, Tensor]:
    """Map the ids of every image (or clip) to ``0 .. K_b - 1`` (order preserved).

    Args:
        ids (Tensor): (B, H, W) or (B, T, H, W) non-negative int64 ids.

    Returns:
        tuple[Tensor, Tensor]: contiguous ids (as ``ids``) and the count ``K_b`` per item (B,).
    """
    if ids.dim() not in (3, 4):
        raise ValueError(f'relabel_contiguous: expected (B, H, W) or (B, T, H, W), got '
                         f'{tuple(ids.shape)}')
    b = ids.shape[0]
    flat = ids.reshape(b, -1).long()
    size = int(flat.max()) + 1 if flat.numel() else 1
    present = torch.zeros(b, size, dtype=torch.long, device=ids.device)
    present.scatter_(1, flat, 1)
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
    """Split disconnected pieces of every superpixel and merge pieces below ``min_size``.

    Connectivity is 4-neighbourhood. A piece smaller than ``min_size`` pixels is merged into the
    adjacent piece with which it shares the longest border (repeatedly, smallest first), unless it
    has no neighbour (a single-piece image).

    Args:
        ids (np.ndarray): (H, W) integer superpixel ids of one image.
        min_size (int): minimum piece size in pixels; 0 disables merging.

    Returns:
        tuple[np.ndarray, int]: connected ids ``0 .. K-1`` (H, W) int64 and ``K``.
    """
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f'enforce_connectivity: expected (H, W) ids, got shape {ids.shape}')
    # Connected components of equal ids: label each id's mask, offset to stay unique.
    _, inverse = np.unique(ids, return_inverse=True)
    inverse = inverse.reshape(ids.shape)
    pieces = np.zeros(ids.shape, dtype=np.int64)
    offset = 0
    objects = ndimage.find_objects(inverse + 1)
    for label, slc in enumerate(objects):
        if slc is None:
            continue
        mask = inverse[slc] == label
        comp, n = ndimage.label(mask)
        pieces[slc][mask] = comp[mask] + offset - 1
        offset += n
    if min_size > 0 and offset > 1:
        pieces = _merge_small(pieces, offset, min_size)
    _, out = np.unique(pieces, return_inverse=True)
    out = out.reshape(ids.shape).astype(np.int64)
    return out, int(out.max()) + 1 if out.size else 0


def _merge_small(pieces: np.ndarray, count: int, min_size: int) -> np.ndarray:
    """Union small connected pieces into their most-bordering neighbour."""
    parent = np.arange(count)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # border lengths between adjacent pieces (4-neighbourhood), as an undirected edge list
    a = np.concatenate([pieces[:, :-1].ravel(), pieces[:-1, :].ravel()])
    b = np.concatenate([pieces[:, 1:].ravel(), pieces[1:, :].ravel()])
    keep = a != b
    lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    pairs, lengths = np.unique(lo * count + hi, return_counts=True)
    edges = {}
    for key, length in zip(pairs.tolist(), lengths.tolist()):
        u, v = divmod(key, count)
        edges.setdefault(u, {})[v] = length
        edges.setdefault(v, {})[u] = length
    sizes = np.bincount(pieces.ravel(), minlength=count).astype(np.int64)
    for piece in np.argsort(sizes, kind='stable').tolist():
        root = find(piece)
        if sizes[root] >= min_size or not edges.get(root):
            continue
        target = max(edges[root].items(), key=lambda kv: (kv[1], sizes[kv[0]]))[0]
        # merge root into target: sizes and border lengths
        parent[root] = target
        sizes[target] += sizes[root]
        for nb, length in edges.pop(root).items():
            edges[nb].pop(root, None)
            if nb == target:
                continue
            edges[target][nb] = edges[target].get(nb, 0) + length
            edges[nb][target] = edges[nb].get(target, 0) + length
    roots = np.array([find(i) for i in range(count)])
    return roots[pieces]

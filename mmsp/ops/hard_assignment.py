"""Hard superpixels from a soft association, and the connectivity pass used for evaluation."""
from typing import Optional, Tuple

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from .grid import CENTER, NUM_NEIGHBORS, SuperpixelGrid
from .upsample import upsample_association

__all__ = [
    'hard_assignment', 'relabel_contiguous', 'enforce_connectivity', 'association_to_superpixels'
]

#: Relative tolerance within which the own cell wins a tie: the own cell is chosen when its
#: logit is within ``OWN_CELL_TOL * max(1, |best logit|)`` of the best one (the spec's +1e-5 on
#: ``n = 4``, made relative so that rounding of large logits, e.g. after interpolation, does not
#: break ties between equal candidates).
OWN_CELL_TOL = 1e-5


def relabel_contiguous(ids: Tensor) -> Tuple[Tensor, Tensor]:
    """Map the ids of every image to ``0 .. K_b - 1`` (order preserved).

    Args:
        ids (Tensor): (B, H, W) non-negative int64 ids.

    Returns:
        tuple[Tensor, Tensor]: contiguous ids (B, H, W) and the count ``K_b`` per image (B,).
    """
    if ids.dim() != 3:
        raise ValueError(f'relabel_contiguous: expected (B, H, W), got {tuple(ids.shape)}')
    b = ids.shape[0]
    flat = ids.reshape(b, -1).long()
    size = int(flat.max()) + 1 if flat.numel() else 1
    present = torch.zeros(b, size, dtype=torch.long, device=ids.device)
    present.scatter_(1, flat, 1)
    new_ids = present.cumsum(dim=1) - 1
    return new_ids.gather(1, flat).reshape(ids.shape), present.sum(dim=1)


def hard_assignment(association: Tensor, stride: int, contiguous: bool = True
                    ) -> Tuple[Tensor, Tensor]:
    """Argmax of the association to a superpixel id map.

    ``id(p) = cell(p) + dy * w + dx`` for the winning candidate ``(dy, dx)``; ties go to the
    pixel's own cell. Multi-head logits are merged first (sum / sqrt(M)).

    Args:
        association (Tensor): (B, 9, H, W) or (B, M, 9, H, W) logits or weights.
        stride (int): superpixel cell size in pixels of the association.
        contiguous (bool): relabel the ids of every image to ``0 .. K-1``. Otherwise the ids are
            grid ids in ``[0, h * w)``.

    Returns:
        tuple[Tensor, Tensor]: ids (B, H, W) int64, unique per image, and the number of
        superpixels actually present per image (B,) int64.
    """
    if association.dim() == 5:
        association = association.float().sum(dim=1) / association.shape[1]**0.5
    if association.dim() != 4 or association.shape[1] != NUM_NEIGHBORS:
        raise ValueError(f'hard_assignment: expected (B, 9, H, W) or (B, M, 9, H, W), got '
                         f'{tuple(association.shape)}')
    grid = SuperpixelGrid(int(association.shape[2]), int(association.shape[3]), stride)
    association = association.float()
    top, best = association.max(dim=1)  # (B, H, W)
    own = association[:, CENTER]
    tie = own >= top - OWN_CELL_TOL * top.abs().clamp_min(1.0)
    best = torch.where(tie, torch.full_like(best, CENTER), best)
    ids = grid.cell_ids(association.device)[None] + grid.neighbor_id_offsets(
        association.device)[best]
    if contiguous:
        return relabel_contiguous(ids)
    counts = torch.tensor([int(torch.unique(i).numel()) for i in ids], device=ids.device)
    return ids, counts


def association_to_superpixels(association: Tensor, stride: int, pixel_stride: int = 1,
                               out_size: Optional[Tuple[int, int]] = None) -> Tuple[Tensor, Tensor]:
    """Hard superpixels at image resolution from association logits at a coarser stride.

    The logits are upsampled by ``pixel_stride`` (:func:`upsample_association`), hard-assigned
    (:func:`hard_assignment`), cropped to ``out_size`` (removing bottom/right padding) and
    relabelled ``0 .. K-1`` per image.

    Args:
        association (Tensor): (B, M, 9, H, W) logits (``-inf`` = invalid candidate).
        stride (int): superpixel cell size in pixels of ``association``.
        pixel_stride (int): image pixels per association pixel (e.g. 4 for SPFormer's stem).
        out_size (tuple[int, int], optional): ``(H0, W0)`` to crop to; must not exceed
            ``(H * pixel_stride, W * pixel_stride)``.

    Returns:
        tuple[Tensor, Tensor]: ids (B, H0, W0) int64 and the number of superpixels per image (B,).
    """
    if association.dim() != 5:
        raise ValueError(f'association_to_superpixels: expected (B, M, 9, H, W), got '
                         f'{tuple(association.shape)}')
    fine = upsample_association(association, stride, pixel_stride)
    ids, _ = hard_assignment(fine, stride * pixel_stride, contiguous=False)
    if out_size is not None:
        out_h, out_w = int(out_size[0]), int(out_size[1])
        if out_h > ids.shape[1] or out_w > ids.shape[2] or out_h < 1 or out_w < 1:
            raise ValueError(f'association_to_superpixels: out_size {tuple(out_size)} is not '
                             f'within the upsampled map {tuple(ids.shape[1:])}')
        ids = ids[:, :out_h, :out_w]
    return relabel_contiguous(ids)


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

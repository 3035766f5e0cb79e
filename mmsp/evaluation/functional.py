"""Superpixel-quality scores on one image, in plain numpy.

Definitions as in Stutz et al., arXiv 1612.01601.

Every function takes a superpixel map ``sp`` (H, W) of arbitrary integer ids (any order, any
gaps; only equality matters) and, where needed, a ground-truth map ``gt`` (H, W) of arbitrary
integer label ids with an optional ``ignore_index``.

Conventions (recorded here once; :class:`~mmsp.evaluation.SuperpixelMetric` follows them):

* **Ignore.** Pixels whose label is ``ignore_index`` are removed before every ground-truth
  based count: ``N`` is the number of valid pixels and a superpixel's size ``|S_j|`` counts only
  its valid pixels. A ground-truth boundary is a transition between two *valid* pixels of
  different labels; superpixel boundary pixels lying on ignored pixels are not scored (BP).
  EV and CO use no ground truth and see every pixel.
* **Majority label.** Ties go to the smallest label id.
* **Boundary maps.** ``'stutz'``: a pixel is a boundary pixel if one of its 4-neighbours has
  another id (both sides are marked). ``'seal'``: one-sided, a pixel is marked if its right or
  lower neighbour has another id (SEAL / SSN scorer).
* **Contingency table.** :func:`contingency_table` returns a scipy sparse (CSR) matrix that
  stores only the (superpixel, label) pairs that occur: its memory is O(pairs), at most one per
  valid pixel, whereas a dense K x G table of a map where every pixel has its own id and label
  would need N^2 cells. The table functions accept it or a dense array.
* **Tolerance.** A ground-truth boundary pixel is recalled if a superpixel boundary pixel lies in
  the ``(2r+1) x (2r+1)`` window around it. ``r`` is given in pixels (``tolerance_mode='pixels'``)
  or as a fraction of the image diagonal (``'diagonal'``: ``r = round(f * sqrt(H^2 + W^2))``,
  Stutz uses ``f = 0.0025``, i.e. 1 px at 481x321, 3 px at 1024x768, 6 px at 1024x2048).
"""
import math
from typing import Dict, Optional, Tuple

import numpy as np
from scipy import ndimage, sparse

__all__ = [
    'compact_ids', 'contingency_table', 'achievable_segmentation_accuracy',
    'undersegmentation_error_np', 'undersegmentation_error_levinshtein', 'majority_labels',
    'class_areas', 'image_miou_macc', 'boundary_map', 'resolve_tolerance', 'boundary_counts',
    'explained_variation', 'compactness', 'count_superpixels'
]

BOUNDARY_CONVENTIONS = ('stutz', 'seal')
TOLERANCE_MODES = ('pixels', 'diagonal')


def _check_map(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f'{name} must be a 2-D (H, W) map, got shape {x.shape}')
    if x.size == 0:
        raise ValueError(f'{name} is empty (shape {x.shape})')
    if not np.issubdtype(x.dtype, np.integer) and x.dtype != bool:
        if not np.issubdtype(x.dtype, np.number):
            raise ValueError(f'{name} must hold integer ids, got dtype {x.dtype}')
        if not np.all(np.isfinite(x)):
            raise ValueError(f'{name} has non-finite (NaN/inf) values; ids must be integers')
        if not np.all(np.mod(x, 1) == 0):
            raise ValueError(f'{name} must hold integer ids, got dtype {x.dtype} with fractions')
        x = x.astype(np.int64)
    return x


def _check_pair(sp: np.ndarray, gt: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    sp, gt = _check_map('superpixel map', sp), _check_map('ground-truth map', gt)
    if sp.shape != gt.shape:
        raise ValueError(f'superpixel map {sp.shape} and ground truth {gt.shape} differ in shape; '
                         'predict superpixels at the original image size')
    return sp, gt


def compact_ids(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Relabel integer ids to ``0 .. K-1`` (sorted order).

    Args:
        x (np.ndarray): integer array of any shape.

    Returns:
        tuple: the relabelled int64 array (same shape) and the K original ids (sorted).
    """
    flat = np.asarray(x).ravel()
    if flat.dtype == bool:  # a boolean map is two ids (indexing with it would mask instead)
        flat = flat.astype(np.int64)
    if flat.size and flat.min() >= 0 and flat.max() < 4 * flat.size + 1024:
        present = np.bincount(flat.astype(np.int64))
        values = np.flatnonzero(present)
        lut = np.cumsum(present > 0) - 1
        return lut[flat].reshape(np.shape(x)), values
    values, inverse = np.unique(flat, return_inverse=True)
    return inverse.astype(np.int64).reshape(np.shape(x)), values


def contingency_table(sp: np.ndarray,
                      gt: np.ndarray,
                      ignore_index: Optional[int] = None) -> Tuple[sparse.csr_array, np.ndarray]:
    """Overlap counts ``n[j, i] = |S_j ∩ G_i|`` over the valid pixels, as a sparse matrix.

    Args:
        sp (np.ndarray): (H, W) superpixel ids.
        gt (np.ndarray): (H, W) ground-truth label ids.
        ignore_index (int, optional): label id excluded from the counts.

    Returns:
        tuple: ``table``, a (K, G) ``scipy.sparse.csr_array`` of int64 counts over the K
        superpixels and G labels that have valid pixels, holding only the pairs that occur
        (``table.toarray()`` for a dense copy), and the G label ids (sorted). Both are empty
        when every pixel is ignored.
    """
    sp, gt = _check_pair(sp, gt)
    if ignore_index is not None:
        valid = gt != ignore_index
        sp, gt = sp[valid], gt[valid]
    if sp.size == 0:
        return sparse.csr_array((0, 0), dtype=np.int64), np.zeros((0, ), gt.dtype)
    sp_c, _ = compact_ids(sp)
    gt_c, gt_ids = compact_ids(gt)
    shape = (int(sp_c.max()) + 1, len(gt_ids))
    ones = np.ones(sp_c.size, np.int64)
    table = sparse.csr_array((ones, (sp_c.ravel(), gt_c.ravel())), shape=shape)
    table.sum_duplicates()
    return table, gt_ids


def _entries(table) -> Tuple[np.ndarray, np.ndarray, np.ndarray, Tuple[int, int]]:
    """``(rows, cols, counts, shape)`` of the non-zero cells of a sparse or dense table."""
    if sparse.issparse(table):
        coo = table.tocoo()
        coo.sum_duplicates()
        rows, cols, counts = coo.row, coo.col, coo.data
    else:
        table = np.asarray(table)
        rows, cols = np.nonzero(table)
        counts = table[rows, cols]
    keep = counts != 0
    return (rows[keep].astype(np.int64), cols[keep].astype(np.int64),
            counts[keep].astype(np.int64), tuple(table.shape))


def _majority(rows: np.ndarray, cols: np.ndarray, counts: np.ndarray,
              num_rows: int) -> Tuple[np.ndarray, np.ndarray]:
    """Per row: the column with the largest count (ties: smallest column; empty rows: 0) and
    that count."""
    best, top = np.zeros(num_rows, np.int64), np.zeros(num_rows, np.int64)
    order = np.lexsort((cols, -counts, rows))
    first = np.ones(order.size, bool)
    first[1:] = rows[order][1:] != rows[order][:-1]
    best[rows[order][first]] = cols[order][first]
    top[rows[order][first]] = counts[order][first]
    return best, top


def achievable_segmentation_accuracy(table) -> float:
    """ASA ``= (1/N) sum_j max_i n_ij`` (NaN when N = 0)."""
    rows, cols, counts, shape = _entries(table)
    n = counts.sum()
    return float(_majority(rows, cols, counts, shape[0])[1].sum() / n) if n else math.nan


def undersegmentation_error_np(table) -> float:
    """Neubert-Protzel UE ``= (1/N) sum_i sum_{j: n_ij>0} min(n_ij, |S_j| - n_ij)``."""
    rows, _, counts, shape = _entries(table)
    n = counts.sum()
    if not n:
        return math.nan
    size = np.bincount(rows, counts, minlength=shape[0])[rows]
    return float(np.minimum(counts, size - counts).sum() / n)


def undersegmentation_error_levinshtein(table) -> float:
    """Levinshtein UE ``= (1/|G|) sum_i (sum_{j: n_ij>0} |S_j| - |G_i|) / |G_i|``."""
    rows, cols, counts, (num_sp, num_gt) = _entries(table)
    if not counts.sum():
        return math.nan
    size = np.bincount(rows, counts, minlength=num_sp)
    gt_size = np.bincount(cols, counts, minlength=num_gt)
    covered = np.bincount(cols, size[rows], minlength=num_gt)
    with np.errstate(divide='ignore', invalid='ignore'):
        return float(np.mean((covered - gt_size) / gt_size))


def majority_labels(table) -> np.ndarray:
    """Column index of the majority label of every superpixel (ties: smallest label id)."""
    rows, cols, counts, shape = _entries(table)
    return _majority(rows, cols, counts, shape[0])[0]


def class_areas(table, gt_ids: np.ndarray,
                num_classes: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class intersection, painted area and label area of the majority-label painting.

    Each superpixel is painted with its majority label; the painted map is compared with the
    ground truth on the valid pixels (the statistics of mmseg's ``IoUMetric``).

    Args:
        table (scipy.sparse matrix | np.ndarray): (K, G) overlap counts.
        gt_ids (np.ndarray): (G,) label ids, which must lie in ``[0, num_classes)``.
        num_classes (int): number of classes.

    Returns:
        tuple: ``area_intersect``, ``area_pred``, ``area_label``, each (num_classes,) int64.
    """
    gt_ids = np.asarray(gt_ids).astype(np.int64)
    if gt_ids.size and (gt_ids.min() < 0 or gt_ids.max() >= num_classes):
        bad = gt_ids[(gt_ids < 0) | (gt_ids >= num_classes)]
        raise ValueError(
            f'ground-truth label ids {bad.tolist()} are outside [0, {num_classes}) and '
            'are not the ignore index; set num_classes / ignore_index, or use '
            "miou_mode='image' for instance-like labels")
    inter = np.zeros(num_classes, np.int64)
    pred = np.zeros(num_classes, np.int64)
    label = np.zeros(num_classes, np.int64)
    rows, cols, counts, shape = _entries(table)
    if counts.size == 0:
        return inter, pred, label
    best, top = _majority(rows, cols, counts, shape[0])
    np.add.at(inter, gt_ids[best], top)
    np.add.at(pred, gt_ids[best], np.bincount(rows, counts, minlength=shape[0]))
    np.add.at(label, gt_ids[cols], counts)
    return inter, pred, label


def image_miou_macc(table) -> Tuple[float, float]:
    """Mean IoU and mean accuracy of the majority-label painting over the labels of one image.

    Used for instance-like ground truth (BSDS500 segments), whose ids mean nothing across
    images. Every label present counts once. Returns NaNs when the image has no valid pixel.
    """
    num_gt = table.shape[1]
    inter, pred, label = class_areas(table, np.arange(num_gt), num_gt)
    if not label.sum():
        return math.nan, math.nan
    union = pred + label - inter
    return float(np.mean(inter / union)), float(np.mean(inter / label))


def boundary_map(ids: np.ndarray,
                 convention: str = 'stutz',
                 valid: Optional[np.ndarray] = None) -> np.ndarray:
    """Boolean boundary map of an id map.

    Args:
        ids (np.ndarray): (H, W) ids.
        convention (str): ``'stutz'`` (4-neighbour, two-sided) or ``'seal'`` (right/lower
            neighbour, one-sided).
        valid (np.ndarray, optional): (H, W) bool; a transition counts only between two valid
            pixels.

    Returns:
        np.ndarray: (H, W) bool.
    """
    if convention not in BOUNDARY_CONVENTIONS:
        raise ValueError(f'boundary convention must be one of {BOUNDARY_CONVENTIONS}, '
                         f'got {convention!r}')
    ids = _check_map('id map', ids)
    out = np.zeros(ids.shape, bool)
    dv = ids[1:, :] != ids[:-1, :]  # between (y, x) and (y + 1, x)
    dh = ids[:, 1:] != ids[:, :-1]  # between (y, x) and (y, x + 1)
    if valid is not None:
        dv &= valid[1:, :] & valid[:-1, :]
        dh &= valid[:, 1:] & valid[:, :-1]
    out[:-1, :] |= dv
    out[:, :-1] |= dh
    if convention == 'stutz':
        out[1:, :] |= dv
        out[:, 1:] |= dh
    return out


def resolve_tolerance(tolerance: float, mode: str, shape: Tuple[int, int]) -> int:
    """Tolerance radius ``r`` in pixels (see the module docstring)."""
    if mode not in TOLERANCE_MODES:
        raise ValueError(f'tolerance_mode must be one of {TOLERANCE_MODES}, got {mode!r}')
    if tolerance < 0:
        raise ValueError(f'boundary tolerance must be >= 0, got {tolerance}')
    if mode == 'pixels':
        if float(tolerance) != int(tolerance):
            raise ValueError(f"tolerance_mode='pixels' needs an integer radius, got {tolerance}; "
                             "use tolerance_mode='diagonal' for a fraction of the diagonal")
        return int(tolerance)
    if tolerance >= 1:
        raise ValueError(f"tolerance_mode='diagonal' takes a fraction of the diagonal (< 1, "
                         f'e.g. 0.0025), got {tolerance}')
    return int(math.floor(tolerance * math.hypot(*shape) + 0.5))


def boundary_counts(sp: np.ndarray,
                    gt: np.ndarray,
                    radius: int,
                    convention: str = 'stutz',
                    ignore_index: Optional[int] = None) -> Dict[str, int]:
    """Counts behind boundary recall and precision.

    Args:
        sp (np.ndarray): (H, W) superpixel ids.
        gt (np.ndarray): (H, W) label ids.
        radius (int): tolerance ``r`` in pixels.
        convention (str): boundary convention (``'stutz'`` or ``'seal'``).
        ignore_index (int, optional): ignored label.

    Returns:
        dict: ``gt_boundary`` (ground-truth boundary pixels), ``recalled`` (of those, with a
        superpixel boundary within r), ``sp_boundary`` (scored superpixel boundary pixels),
        ``precise`` (of those, with a ground-truth boundary within r) and ``stutz_fp``
        (superpixel boundary pixels that are not ground-truth boundary and have none within r).
        ``BR = recalled / gt_boundary``; ``BP = precise / sp_boundary``;
        ``BP_stutz = recalled / (recalled + stutz_fp)``.
    """
    sp, gt = _check_pair(sp, gt)
    valid = None if ignore_index is None else gt != ignore_index
    b_gt = boundary_map(gt, convention, valid)
    b_sp = boundary_map(sp, convention)
    if valid is not None:
        b_sp &= valid
    size = 2 * int(radius) + 1
    near_sp = ndimage.maximum_filter(b_sp.view(np.uint8), size=size, mode='constant') > 0
    near_gt = ndimage.maximum_filter(b_gt.view(np.uint8), size=size, mode='constant') > 0
    return dict(
        gt_boundary=int(b_gt.sum()),
        recalled=int((b_gt & near_sp).sum()),
        sp_boundary=int(b_sp.sum()),
        precise=int((b_sp & near_gt).sum()),
        stutz_fp=int((b_sp & ~b_gt & ~near_gt).sum()))


def explained_variation(img: np.ndarray, sp: np.ndarray) -> float:
    """EV ``= sum_p ||mu(S(p)) - mu||^2 / sum_p ||I(p) - mu||^2`` over all pixels and channels.

    Args:
        img (np.ndarray): (H, W) or (H, W, C) image (any channel order; EV is invariant to it).
        sp (np.ndarray): (H, W) superpixel ids.

    Returns:
        float: EV in [0, 1]; NaN for a constant image (no variation to explain).
    """
    sp = _check_map('superpixel map', sp)
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[:2] != sp.shape:
        raise ValueError(f'image {img.shape} does not match the superpixel map {sp.shape}; '
                         'expected (H, W) or (H, W, C)')
    ids, _ = compact_ids(sp)
    flat = ids.ravel()
    pix = img.reshape(-1, img.shape[2])
    count = np.bincount(flat).astype(np.float64)
    means = np.stack([np.bincount(flat, pix[:, c])
                      for c in range(pix.shape[1])], 1) / count[:, None]
    mu = pix.mean(axis=0)
    total = ((pix - mu)**2).sum()
    if total == 0:
        return math.nan
    return float((count[:, None] * (means - mu)**2).sum() / total)


def compactness(sp: np.ndarray) -> float:
    """CO ``= (1/N) sum_j |S_j| * 4 pi |S_j| / P(S_j)^2`` (Schick et al.).

    The perimeter counts 4-neighbour pixel edges to another id or to the image border, so an
    ``s x s`` square has ``P = 4s`` and scores ``pi/4``.
    """
    sp = _check_map('superpixel map', sp)
    ids, _ = compact_ids(sp)
    k = int(ids.max()) + 1
    h, w = ids.shape
    area = np.bincount(ids.ravel(), minlength=k).astype(np.float64)
    padded = np.pad(ids, 1, constant_values=-1)
    centre = padded[1:-1, 1:-1]
    perim = np.zeros(k, np.float64)
    for nb in (padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]):
        perim += np.bincount(centre[nb != centre], minlength=k)
    return float((area * 4 * math.pi * area / perim**2).sum() / (h * w))


def count_superpixels(sp: np.ndarray) -> int:
    """Number of distinct superpixel ids (the returned count, not the requested one)."""
    return int(len(compact_ids(_check_map('superpixel map', sp))[1]))

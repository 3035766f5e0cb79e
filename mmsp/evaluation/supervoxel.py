"""Supervoxel-quality scores on one clip, in plain numpy.

The scores are those of the supervoxel benchmark of Xu & Corso, "Evaluation of Super-Voxel
Methods for Early Video Processing" (CVPR 2012), as its code (LIBSVX ``svxbench``, whose
function names are given below) computes them. A clip is a (T, H, W) volume; ``sv`` holds
arbitrary integer supervoxel ids (only equality matters), ``labels`` integer label ids with
``ignore_index`` for void.

* **Ground-truth segments** ``g``: the 3-D 6-connected components of every label within the
  clip (``segments='components'``; a car that leaves and re-enters the view is two segments),
  or the label volumes themselves (``segments='labels'``). Void is never a segment.
* **Void.** Void voxels are removed from every ground-truth based count: ``N`` is the number of
  valid voxels and a supervoxel's size ``|S_j|`` counts its valid voxels only; a boundary is a
  transition between two valid voxels. LIBSVX's ground truth has no void; without void voxels
  the scores here are LIBSVX's. EV, duration and the count use no ground truth and see every
  voxel.
* **Memory.** Overlaps are counted sparsely, over the (supervoxel, segment) pairs that occur
  (``np.unique`` of pair codes), never as a dense ``|S| x |G|`` table.

Scores (``n_ij = |S_j ∩ g_i|``):

* ``UE_levinshtein`` (``measure_underseg_3D``): ``mean_i (sum_{j: n_ij > 0} |S_j| - |g_i|) /
  |g_i|``, unweighted over segments; 0 is perfect, values above 1 occur.
* ``UE_np``: Neubert and Protzel's voxel-weighted form ``(1/N) sum_ij min(n_ij, |S_j| - n_ij)``
  (Neubert & Protzel, "Superpixel Benchmark and Comparison", Forum Bildverarbeitung 2012).
* ``SA`` (``measure_accuracy_3D``): ``mean_i sum_{j: n_ij >= |S_j| / 2} n_ij / |g_i|``; a
  supervoxel counts for a segment when at least half of it lies inside.
* ``BR`` / ``BP`` (``boundary_generator_3D``, ``measure_boundaryrecall_3D``): a voxel is a
  boundary voxel when one of its 6 neighbours (+-x, +-y, +-t) carries another id (both sides
  are marked); ``BR = |B_gt ∩ B_sv| / |B_gt|`` and ``BP = |B_gt ∩ B_sv| / |B_sv|`` with exact
  voxel matches (no tolerance).
* ``EV`` (``explained_variation``): ``sum_j |S_j| ||mu_j - mu||^2 / sum_v ||x_v - mu||^2`` over
  the colour channels, ``mu`` the mean of all voxels of the clip.
* ``duration`` (``evaluation_length``): the number of frames a supervoxel occupies, averaged
  over supervoxels. ``num_supervoxels``: the number of distinct ids.
"""
import math
from typing import Dict, NamedTuple, Optional, Sequence

import numpy as np
from skimage import measure

from .functional import compact_ids, explained_variation

__all__ = [
    'SUPERVOXEL_METRICS', 'gt_segments', 'Overlaps', 'overlaps', 'undersegmentation_error_3d',
    'undersegmentation_error_np_3d', 'segmentation_accuracy_3d', 'boundary_map_3d',
    'boundary_recall_precision_3d', 'explained_variation_3d', 'mean_duration',
    'count_supervoxels', 'clip_scores'
]

SUPERVOXEL_METRICS = ('SA', 'UE_levinshtein', 'UE_np', 'BR', 'BP', 'EV', 'duration',
                      'num_supervoxels')
SEGMENT_MODES = ('components', 'labels')


def _check_clip(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 3 or x.size == 0:
        raise ValueError(f'{name} must be a non-empty (T, H, W) volume, got shape {x.shape}')
    if not np.issubdtype(x.dtype, np.integer):
        if x.dtype == bool or not np.all(np.mod(x, 1) == 0):
            raise ValueError(f'{name} must hold integer ids, got dtype {x.dtype}')
        x = x.astype(np.int64)
    return x


def gt_segments(labels: np.ndarray,
                ignore_index: Optional[int] = 255,
                segments: str = 'components') -> np.ndarray:
    """Ground-truth segment ids of a clip.

    Args:
        labels (np.ndarray): (T, H, W) integer labels.
        ignore_index (int, optional): void label; ``None`` for no void.
        segments (str): ``'components'`` (3-D 6-connected components of every label) or
            ``'labels'`` (one segment per label).

    Returns:
        np.ndarray: (T, H, W) int64 segment ids ``0 .. G-1``, -1 on void voxels.
    """
    if segments not in SEGMENT_MODES:
        raise ValueError(f'segments must be one of {SEGMENT_MODES}, got {segments!r}')
    codes, values = compact_ids(_check_clip('labels', labels))
    void = -1
    if ignore_index is not None and np.any(values == ignore_index):
        void = int(np.flatnonzero(values == ignore_index)[0])
    if segments == 'components':
        return measure.label(codes, background=void, connectivity=1).astype(np.int64) - 1
    if void < 0:
        return codes
    return np.where(codes == void, -1, codes - (codes > void))


class Overlaps(NamedTuple):
    """Sparse overlaps of a clip's supervoxels and ground-truth segments (valid voxels only).

    ``count[p] = |S_{supervoxel[p]} ∩ g_{segment[p]}| > 0`` for the P pairs that occur;
    ``sv_size`` (K,) and ``segment_size`` (G,) count valid voxels.
    """
    supervoxel: np.ndarray
    segment: np.ndarray
    count: np.ndarray
    sv_size: np.ndarray
    segment_size: np.ndarray


def overlaps(sv: np.ndarray, segments: np.ndarray) -> Overlaps:
    """Count the (supervoxel, segment) overlaps that occur.

    Args:
        sv (np.ndarray): (T, H, W) supervoxel ids.
        segments (np.ndarray): (T, H, W) segment ids ``0 .. G-1``, -1 on void
            (:func:`gt_segments`).

    Returns:
        Overlaps: the pairs, with supervoxels renumbered ``0 .. K-1`` over the valid voxels.
    """
    sv = _check_clip('supervoxel map', sv)
    if sv.shape != np.shape(segments):
        raise ValueError(f'supervoxel map {sv.shape} and ground truth {np.shape(segments)} '
                         'differ in shape; predict supervoxels at the clip size')
    valid = segments >= 0
    seg = segments[valid].astype(np.int64)
    if seg.size == 0:
        empty = np.zeros(0, np.int64)
        return Overlaps(empty, empty, empty, empty, empty)
    ids, _ = compact_ids(sv[valid])
    num_segments = int(seg.max()) + 1
    codes, count = np.unique(ids * num_segments + seg, return_counts=True)
    return Overlaps(codes // num_segments, codes % num_segments, count, np.bincount(ids),
                    np.bincount(seg, minlength=num_segments))


def undersegmentation_error_3d(ov: Overlaps) -> float:
    """Levinshtein's UE, averaged over segments (LIBSVX's 3D UE); NaN without valid voxels."""
    if not ov.segment_size.size:
        return math.nan
    covered = np.bincount(ov.segment, ov.sv_size[ov.supervoxel], len(ov.segment_size))
    present = ov.segment_size > 0
    size = ov.segment_size[present]
    return float(np.mean((covered[present] - size) / size))


def undersegmentation_error_np_3d(ov: Overlaps) -> float:
    """Neubert and Protzel's voxel-weighted UE; NaN without valid voxels."""
    total = ov.count.sum()
    if not total:
        return math.nan
    return float(np.minimum(ov.count, ov.sv_size[ov.supervoxel] - ov.count).sum() / total)


def segmentation_accuracy_3d(ov: Overlaps) -> float:
    """3D segmentation accuracy, averaged over segments; NaN without valid voxels."""
    if not ov.segment_size.size:
        return math.nan
    inside = 2 * ov.count >= ov.sv_size[ov.supervoxel]  # at least half of S_j lies in g_i
    hit = np.bincount(ov.segment, ov.count * inside, len(ov.segment_size))
    present = ov.segment_size > 0
    return float(np.mean(hit[present] / ov.segment_size[present]))


def boundary_map_3d(ids: np.ndarray, valid: Optional[np.ndarray] = None) -> np.ndarray:
    """Voxels with a 6-neighbour of another id (both sides of a transition are marked).

    Args:
        ids (np.ndarray): (T, H, W) ids.
        valid (np.ndarray, optional): (T, H, W) bool; only transitions between two valid
            voxels count.

    Returns:
        np.ndarray: (T, H, W) bool.
    """
    ids = _check_clip('id map', ids)
    out = np.zeros(ids.shape, bool)
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        lo, hi = tuple(lo), tuple(hi)
        cut = ids[lo] != ids[hi]
        if valid is not None:
            cut &= valid[lo] & valid[hi]
        out[lo] |= cut
        out[hi] |= cut
    return out


def boundary_recall_precision_3d(sv: np.ndarray, segments: np.ndarray) -> Dict[str, float]:
    """3-D boundary recall and precision with exact voxel matches.

    Args:
        sv (np.ndarray): (T, H, W) supervoxel ids.
        segments (np.ndarray): (T, H, W) segment (or label) ids, -1 on void.

    Returns:
        dict: ``BR``, ``BP`` (NaN when there is no ground-truth, resp. supervoxel, boundary)
        and the counts ``gt_boundary``, ``sv_boundary``, ``matched``.
    """
    valid = np.asarray(segments) >= 0
    b_gt = boundary_map_3d(segments, valid)
    b_sv = boundary_map_3d(sv, valid)
    gt_n, sv_n, hit = int(b_gt.sum()), int(b_sv.sum()), int((b_gt & b_sv).sum())
    return dict(
        BR=hit / gt_n if gt_n else math.nan,
        BP=hit / sv_n if sv_n else math.nan,
        gt_boundary=gt_n,
        sv_boundary=sv_n,
        matched=hit)


def explained_variation_3d(video: np.ndarray, sv: np.ndarray) -> float:
    """EV of a clip: (T, H, W) or (T, H, W, C) frames and (T, H, W) supervoxels.

    EV is a sum over voxels, so it is the image EV of the frames stacked into one image.
    """
    sv = _check_clip('supervoxel map', sv)
    video = np.asarray(video)
    if video.shape[:3] != sv.shape or video.ndim not in (3, 4):
        raise ValueError(f'EV: video {video.shape} does not match the supervoxels {sv.shape}; '
                         'expected (T, H, W) or (T, H, W, C)')
    t, h, w = sv.shape
    return explained_variation(video.reshape(t * h, w, -1), sv.reshape(t * h, w))


def mean_duration(sv: np.ndarray) -> float:
    """Frames occupied by a supervoxel, averaged over supervoxels."""
    sv = _check_clip('supervoxel map', sv)
    ids, values = compact_ids(sv)
    frame = np.arange(sv.shape[0])[:, None, None]
    occupied = np.unique(ids * sv.shape[0] + frame)  # distinct (supervoxel, frame) pairs
    return float(occupied.size / len(values))


def count_supervoxels(sv: np.ndarray) -> int:
    """Number of distinct supervoxel ids."""
    return int(len(compact_ids(_check_clip('supervoxel map', sv))[1]))


def clip_scores(sv: np.ndarray,
                labels: Optional[np.ndarray] = None,
                video: Optional[np.ndarray] = None,
                metrics: Sequence[str] = SUPERVOXEL_METRICS,
                ignore_index: Optional[int] = 255,
                segments: str = 'components') -> Dict[str, float]:
    """Every requested score of one clip (see the module docstring).

    Args:
        sv (np.ndarray): (T, H, W) supervoxel ids.
        labels (np.ndarray, optional): (T, H, W) labels; needed for SA, UE, BR and BP.
        video (np.ndarray, optional): (T, H, W, C) frames; needed for EV.
        metrics (Sequence[str]): subset of ``SUPERVOXEL_METRICS``.
        ignore_index (int, optional): void label.
        segments (str): ``'components'`` or ``'labels'`` (:func:`gt_segments`).

    Returns:
        dict[str, float]: one value per requested metric.
    """
    unknown = [m for m in metrics if m not in SUPERVOXEL_METRICS]
    if unknown:
        raise ValueError(f'unknown supervoxel metrics {unknown}; choose from '
                         f'{SUPERVOXEL_METRICS}')
    sv = _check_clip('supervoxel map', sv)
    out: Dict[str, float] = {}
    if any(m in metrics for m in ('SA', 'UE_levinshtein', 'UE_np', 'BR', 'BP')):
        if labels is None:
            raise ValueError('SA, UE, BR and BP need the labels')
        seg = gt_segments(labels, ignore_index, segments)
        ov = overlaps(sv, seg)
        scores = dict(
            SA=lambda: segmentation_accuracy_3d(ov),
            UE_levinshtein=lambda: undersegmentation_error_3d(ov),
            UE_np=lambda: undersegmentation_error_np_3d(ov))
        out.update({k: fn() for k, fn in scores.items() if k in metrics})
        if 'BR' in metrics or 'BP' in metrics:
            boundary = boundary_recall_precision_3d(sv, seg)
            out.update({k: boundary[k] for k in ('BR', 'BP') if k in metrics})
    if 'EV' in metrics:
        if video is None:
            raise ValueError('EV needs the video frames')
        out['EV'] = explained_variation_3d(video, sv)
    if 'duration' in metrics:
        out['duration'] = mean_duration(sv)
    if 'num_supervoxels' in metrics:
        out['num_supervoxels'] = float(count_supervoxels(sv))
    return {m: out[m] for m in metrics}

"""Supervoxel-quality metric for the mmengine evaluator (LIBSVX's scores, per clip)."""
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmseg.registry import METRICS

from .. import supervoxel as S
from .superpixel_metric import _field, _nanmean

__all__ = ['SupervoxelMetric']

GT_METRICS = ('SA', 'UE_levinshtein', 'UE_np', 'BR', 'BP')


@METRICS.register_module()
class SupervoxelMetric(BaseMetric):
    """Supervoxel quality of clips, as the LIBSVX benchmark scores it (Xu & Corso, CVPR 2012).

    Every data sample is one clip of T frames; its scores (defined in
    :mod:`mmsp.evaluation.supervoxel`) are computed in :meth:`process` and averaged over clips.
    Keys, prefixed ``svx/`` by default:

    * ``SA`` (3-D segmentation accuracy), ``UE_levinshtein`` (LIBSVX's 3-D undersegmentation
      error, mean over ground-truth segments), ``UE_np`` (Neubert and Protzel's voxel-weighted
      form), ``BR`` / ``BP`` (3-D boundary recall / precision, 6-neighbourhood, exact match):
      fractions, from the ground truth. ``SuperpixelMetric`` calls the Neubert-Protzel form
      ``UE``; no key here is named ``UE`` alone.
    * ``EV`` (explained variation of the colours), ``duration`` (mean number of frames per
      supervoxel), ``num_supervoxels`` (distinct ids per clip): no ground truth needed.

    Data contract (fields of each data sample dict, as ``SegDataSample.to_dict()`` serialises
    ``PixelData``):

    * ``pred_supervoxels``: ``{'data': (T, H, W) int64}`` supervoxel ids at the clip's size
      (any values; only equality matters).
    * ``gt_sem_seg``: ``{'data': (T, H, W)}`` labels, ``ignore_index`` (255) for void, e.g. for
      frames without annotation. Ground-truth segments are the 3-D 6-connected components of
      every label within the clip (``segments='components'``) or the label volumes
      (``segments='labels'``).
    * The frames, for EV only, as :class:`SuperpixelMetric` gets its image: the field
      ``ori_img`` ((T, H, W, C) or (T, C, H, W) array or tensor) if present, otherwise
      ``img_path``, a list of the T frame files read with ``mmcv.imread`` (colour, original
      size). EV does not depend on the channel order.

    Args:
        metrics (Sequence[str], optional): subset of ``SUPERVOXEL_METRICS``; ``None`` for all.
        ignore_index (int, optional): void label; ``None`` for no void. Defaults to 255.
        segments (str): ``'components'`` or ``'labels'``. Defaults to ``'components'``.
        pred_key (str): field of the supervoxel ids. Defaults to ``'pred_supervoxels'``.
        gt_key (str): field of the labels. Defaults to ``'gt_sem_seg'``.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): key prefix; defaults to ``default_prefix = 'svx'``.
    """
    default_prefix: Optional[str] = 'svx'

    def __init__(self,
                 metrics: Optional[Sequence[str]] = None,
                 ignore_index: Optional[int] = 255,
                 segments: str = 'components',
                 pred_key: str = 'pred_supervoxels',
                 gt_key: str = 'gt_sem_seg',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, **kwargs)
        metrics = S.SUPERVOXEL_METRICS if metrics is None else tuple(
            [metrics] if isinstance(metrics, str) else metrics)
        unknown = [m for m in metrics if m not in S.SUPERVOXEL_METRICS]
        if unknown or not metrics:
            raise ValueError(f'SupervoxelMetric: unknown metrics {unknown} (or none given); '
                             f'choose from {S.SUPERVOXEL_METRICS}')
        if segments not in S.SEGMENT_MODES:
            raise ValueError(f'SupervoxelMetric: segments must be one of {S.SEGMENT_MODES}, '
                             f'got {segments!r}')
        self.metrics = metrics
        self.ignore_index = ignore_index
        self.segments = segments
        self.pred_key = pred_key
        self.gt_key = gt_key

    def _load_video(self, sample: dict, shape) -> np.ndarray:
        """The clip's frames (T, H, W, C) for EV (see the class docstring)."""
        t, h, w = shape
        if sample.get('ori_img') is not None:
            video = _field(sample, 'ori_img')
            if video.ndim == 4 and video.shape[0] == t and video.shape[2:] == (h, w) \
                    and video.shape[1:3] != (h, w):
                video = video.transpose(0, 2, 3, 1)  # (T, C, H, W)
        elif sample.get('img_path'):
            import mmcv
            paths = sample['img_path']
            if isinstance(paths, str) or len(paths) != t:
                raise ValueError(f'EV: img_path must list the {t} frame files of the clip, got '
                                 f'{paths!r}')
            frames = [mmcv.imread(p, flag='color') for p in paths]
            missing = [p for p, f in zip(paths, frames) if f is None]
            if missing:
                raise FileNotFoundError(f'EV: cannot read frames {missing}')
            if any(f.shape[:2] != (h, w) for f in frames):
                raise ValueError(f'EV: frames {[f.shape[:2] for f in frames]} and '
                                 f'{self.pred_key} {(h, w)} differ in size')
            video = np.stack(frames)
        else:
            raise KeyError('EV needs the frames: the data sample has neither an `ori_img` field '
                           'nor an `img_path` list; drop EV from `metrics` or provide one')
        if video.shape[:3] != (t, h, w):
            raise ValueError(f'EV: frames {video.shape} and {self.pred_key} {(t, h, w)} differ '
                             'in size')
        return video

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Score every clip (a few floats each are kept in ``self.results``)."""
        for sample in data_samples:
            self.results.append(self._process_one(sample))

    def _process_one(self, sample: dict) -> Dict[str, float]:
        name = sample.get('img_path', '<clip>')
        if isinstance(name, (list, tuple)) and name:
            name = f'{name[0]} ...'
        if self.pred_key not in sample:
            raise KeyError(f'SupervoxelMetric: data sample of {name} has no `{self.pred_key}`')
        sv = _field(sample, self.pred_key)
        if sv.ndim != 3:
            raise ValueError(f'SupervoxelMetric: {self.pred_key} of {name} must be (T, H, W), '
                             f'got {sv.shape}')
        labels = video = None
        if any(m in GT_METRICS for m in self.metrics):
            if self.gt_key not in sample:
                raise KeyError(f'SupervoxelMetric: data sample of {name} has no `{self.gt_key}`, '
                               f'needed for {[m for m in self.metrics if m in GT_METRICS]}')
            labels = _field(sample, self.gt_key)
            if labels.shape != sv.shape:
                raise ValueError(f'SupervoxelMetric: {self.pred_key} {sv.shape} and '
                                 f'{self.gt_key} {labels.shape} of {name} differ in size')
        if 'EV' in self.metrics:
            video = self._load_video(sample, sv.shape)
        return S.clip_scores(sv, labels, video, self.metrics, self.ignore_index, self.segments)

    def compute_metrics(self, results: List[Dict[str, float]]) -> Dict[str, float]:
        """Mean of every score over clips (NaN clips, e.g. BR without boundaries, left out)."""
        if not results:
            raise ValueError('SupervoxelMetric: no clips were processed')
        out = {m: round(_nanmean([r[m] for r in results]), 4) for m in self.metrics}
        MMLogger.get_current_instance().info(
            f'SupervoxelMetric on {len(results)} clips: ' +
            ', '.join(f'{k}={v}' for k, v in out.items()))
        return out

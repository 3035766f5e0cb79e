"""mmseg's IoU metric on a second label level (e.g. coarse objects next to fine parts)."""
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS

__all__ = ['CoarseIoUMetric']


@METRICS.register_module()
class CoarseIoUMetric(IoUMetric):
    """``IoUMetric`` on another (prediction, label) pair of every data sample.

    A two-level model predicts fine classes (parts) and coarse ones (objects), as LGFormer does
    (Xie et al., arXiv 2409.01353, ECCV 2024). This metric scores the coarse level exactly as
    mmseg's ``IoUMetric`` scores ``pred_sem_seg`` against ``gt_sem_seg`` (same keys ``aAcc``,
    ``mIoU``, ..., same per-class table), but reads ``data_sample[pred_key]`` and
    ``data_sample[gt_key]`` (``PixelData``, (1, H, W)) and names the classes ``classes``. Keys
    are prefixed ``coarse/`` by default. ``gt_coarse_sem_seg`` comes from
    :class:`~mmsp.datasets.transforms.MapLabels` and
    :class:`~mmsp.datasets.transforms.PackSegInputsWithMaps`.

    Fine/coarse consistency (optional): with ``fine_to_coarse`` (the label look-up table, e.g.
    :data:`mmsp.datasets.CAMVID_FINE_TO_COARSE`) the key ``consistency`` is the percentage of
    valid pixels (``gt_key`` label not ``ignore_index``), pooled over the dataset, whose fine
    prediction ``fine_pred_key`` maps to the coarse prediction: ``lut[fine] == coarse``.

    Args:
        classes (Sequence[str], optional): coarse class names (their number sets the number of
            classes). ``None``: ``dataset_meta['coarse_classes']``.
        pred_key (str): prediction field. Defaults to ``'pred_coarse_sem_seg'``.
        gt_key (str): label field. Defaults to ``'gt_coarse_sem_seg'``.
        fine_to_coarse (Sequence[int], optional): coarse class of every fine class, for
            ``consistency``. Defaults to None (not computed).
        fine_pred_key (str): fine prediction field for ``consistency``. Defaults to
            ``'pred_sem_seg'``.
        **kwargs: ``IoUMetric`` arguments (``ignore_index``, ``iou_metrics``, ``nan_to_num``,
            ``beta``, ``collect_device``, ``output_dir``, ``format_only``, ``prefix``).
    """
    default_prefix: Optional[str] = 'coarse'

    def __init__(self,
                 classes: Optional[Sequence[str]] = None,
                 pred_key: str = 'pred_coarse_sem_seg',
                 gt_key: str = 'gt_coarse_sem_seg',
                 fine_to_coarse: Optional[Sequence[int]] = None,
                 fine_pred_key: str = 'pred_sem_seg',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if classes is not None and (isinstance(classes, str) or not len(classes)):
            raise ValueError(f'CoarseIoUMetric: classes must be a non-empty sequence of names, '
                             f'got {classes!r}')
        self.classes = None if classes is None else tuple(classes)
        self.pred_key = pred_key
        self.gt_key = gt_key
        self.fine_pred_key = fine_pred_key
        self.fine_to_coarse = None
        if fine_to_coarse is not None:
            lut = torch.as_tensor(list(fine_to_coarse), dtype=torch.long)
            if lut.dim() != 1 or not len(lut):
                raise ValueError('CoarseIoUMetric: fine_to_coarse must be a non-empty sequence '
                                 f'of ints, got {fine_to_coarse!r}')
            self.fine_to_coarse = lut

    @property
    def dataset_meta(self) -> Optional[dict]:
        """The dataset meta with ``classes`` replaced by the coarse class names (what
        ``IoUMetric`` reads for the number of classes and the per-class table)."""
        meta = dict(self._dataset_meta or {})
        classes = self.classes or meta.get('coarse_classes')
        if not classes:
            raise ValueError("CoarseIoUMetric: give classes=... (the coarse class names) or a "
                             "dataset whose metainfo has 'coarse_classes'")
        meta['classes'] = tuple(classes)
        return meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        self._dataset_meta = dataset_meta

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """``IoUMetric.process`` on the (``pred_key``, ``gt_key``) pair of every sample, plus
        the consistency counts when ``fine_to_coarse`` is set."""
        keys = [self.pred_key] + ([] if self.format_only else [self.gt_key])
        for sample in data_samples:
            missing = [k for k in keys if k not in sample]
            if missing:
                raise KeyError(f'CoarseIoUMetric: data sample of {sample.get("img_path")} has '
                               f'no {missing}; the model must predict {self.pred_key!r} and the '
                               f'pipeline pack {self.gt_key!r} (MapLabels + '
                               'PackSegInputsWithMaps)')
        start = len(self.results)
        super().process(data_batch, [self._as_sem_seg(s) for s in data_samples])
        if self.fine_to_coarse is None or self.format_only:
            return
        for i, sample in enumerate(data_samples):
            self.results[start + i] = (*self.results[start + i], *self._agreement(sample))

    def _as_sem_seg(self, sample: dict) -> dict:
        view = dict(sample, pred_sem_seg=sample[self.pred_key])
        if not self.format_only:
            view['gt_sem_seg'] = sample[self.gt_key]
        return view

    def _agreement(self, sample: dict):
        """Valid pixels whose mapped fine prediction equals the coarse one, and valid pixels."""
        if self.fine_pred_key not in sample:
            raise KeyError(f'CoarseIoUMetric: consistency needs {self.fine_pred_key!r} in the '
                           f'data sample of {sample.get("img_path")}')
        fine = sample[self.fine_pred_key]['data'].squeeze().long()
        coarse = sample[self.pred_key]['data'].squeeze()
        label = sample[self.gt_key]['data'].squeeze().to(coarse.device)
        lut = self.fine_to_coarse.to(fine.device)
        if fine.numel() and (fine.min() < 0 or fine.max() >= len(lut)):
            raise ValueError(f'CoarseIoUMetric: fine predictions {fine.unique().tolist()} '
                             f'outside fine_to_coarse (length {len(lut)})')
        valid = label != self.ignore_index
        agree = (lut[fine] == coarse.to(lut.device)) & valid.to(lut.device)
        return int(agree.sum()), int(valid.sum())

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """``IoUMetric.compute_metrics``, plus ``consistency`` (percent) when requested."""
        if self.fine_to_coarse is None or self.format_only:
            return super().compute_metrics(results)
        metrics = super().compute_metrics([r[:4] for r in results])
        agree, valid = (sum(r[i] for r in results) for i in (4, 5))
        metrics['consistency'] = round(100 * agree / valid, 2) if valid else float(np.nan)
        return metrics

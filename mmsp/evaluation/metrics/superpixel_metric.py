"""Superpixel-quality metric for the mmengine evaluator (spec section 5 and section 3.11)."""
import math
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmseg.registry import METRICS

from .. import functional as F

__all__ = ['SuperpixelMetric']

ALL_METRICS = ('sp_mIoU', 'sp_mAcc', 'ASA', 'BR', 'BP', 'BP_stutz', 'UE', 'UE_levinshtein', 'EV',
               'CO', 'num_superpixels')
DEFAULT_METRICS = ('sp_mIoU', 'sp_mAcc', 'ASA', 'BR', 'BP', 'UE', 'UE_levinshtein', 'EV', 'CO',
                   'num_superpixels')
GT_METRICS = ('sp_mIoU', 'sp_mAcc', 'ASA', 'BR', 'BP', 'BP_stutz', 'UE', 'UE_levinshtein')


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _field(sample: dict, key: str):
    """``sample[key]['data']`` (a ``PixelData`` turned into a dict) or ``sample[key]``."""
    value = sample[key]
    if isinstance(value, dict):
        value = value['data']
    elif hasattr(value, 'data'):
        value = value.data
    return _to_numpy(value)


def _nanmean(values: List[float]) -> float:
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or np.all(np.isnan(values)):
        return math.nan
    return float(np.nanmean(values))


@METRICS.register_module()
class SuperpixelMetric(BaseMetric):
    """Superpixel quality of a hard superpixel map ``pred_superpixels``.

    Reads, per data sample, ``pred_superpixels`` (``PixelData``, (1, H, W) integer ids at the
    original image size), ``gt_sem_seg`` ((1, H, W), or (A, H, W) for A annotators) and, for EV,
    the image. Any other id map and label pair can be scored through ``pred_key`` / ``gt_key``,
    e.g. the hard group map ``pred_groups`` of a hierarchical model against coarse labels. Only
    small per-image statistics are kept in :meth:`process` (O(classes) plus a few scalars per
    annotation), like mmseg's ``IoUMetric``.

    Keys (prefixed ``sp/`` by default, e.g. ``sp/ASA``):

    * ``sp_mIoU`` / ``sp_mAcc`` (percent, the SPFormer zero-shot protocol): every superpixel is
      painted with the majority ground-truth label of its valid pixels and the painted map is
      scored. ``miou_mode='dataset'``: per-class areas summed over the dataset (one confusion
      matrix, classes absent everywhere are NaN and skipped), labels must be class indices;
      ``miou_mode='image'``: mean over the labels of each image, then over images - for
      instance-like labels (BSDS500 segments), whose ids mean nothing across images.
    * ``ASA``, ``UE`` (Neubert-Protzel), ``UE_levinshtein``, ``BR``, ``BP`` (fraction of
      superpixel boundary pixels within r of a ground-truth boundary), ``BP_stutz`` (opt-in,
      Stutz's TP/(TP+FP)): fractions in [0, 1], computed per (image, annotation) pair and
      averaged over pairs (the SEAL convention; spec 5.3). NaN pairs (e.g. BR of a ground truth
      without boundaries, BP of a single superpixel) are left out of the mean.
    * ``EV`` and ``CO``: per image (no ground truth), averaged over images. ``num_superpixels``:
      mean count of distinct ids actually returned.

    Multi-annotator ground truth (BSDS500): a (A, H, W) ``gt_sem_seg`` counts as A pairs; a
    dataset that emits one sample per annotation gives the same pair average.

    Ignore handling, boundary conventions and tolerances are those of
    :mod:`mmsp.evaluation.functional`. Default boundary setting: Stutz's two-sided boundaries
    with ``r = round(0.0025 * diagonal)`` (1 px on BSDS500's 481x321, 6 px on 1024x2048). Set
    ``boundary_convention='seal', tolerance_mode='pixels', boundary_tolerance=1`` for the SEAL /
    SSN scorer.

    The image for EV comes from the data sample's ``ori_img`` field ((H, W, C) array or tensor,
    optional) if present, otherwise from ``img_path`` read with ``mmcv.imread`` (original size,
    colour). EV is invariant to the channel order.

    Args:
        metrics (Sequence[str], optional): subset of ``ALL_METRICS``; ``None`` for
            ``DEFAULT_METRICS`` (everything but ``BP_stutz``).
        ignore_index (int, optional): ignored label id; ``None`` for no ignore. Defaults to 255.
        num_classes (int, optional): for ``miou_mode='dataset'``; defaults to the length of
            ``dataset_meta['classes']``.
        miou_mode (str): ``'dataset'`` or ``'image'``. Defaults to ``'dataset'``.
        boundary_convention (str): ``'stutz'`` or ``'seal'``. Defaults to ``'stutz'``.
        boundary_tolerance (float): radius in pixels, or fraction of the diagonal.
            Defaults to 0.0025.
        tolerance_mode (str): ``'pixels'`` or ``'diagonal'``. Defaults to ``'diagonal'``.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): key prefix; defaults to ``default_prefix = 'sp'``.
        pred_key (str): data sample field of the id map. Defaults to ``'pred_superpixels'``.
        gt_key (str): data sample field of the labels. Defaults to ``'gt_sem_seg'``.
    """
    default_prefix: Optional[str] = 'sp'

    def __init__(self,
                 metrics: Optional[Sequence[str]] = None,
                 ignore_index: Optional[int] = 255,
                 num_classes: Optional[int] = None,
                 miou_mode: str = 'dataset',
                 boundary_convention: str = 'stutz',
                 boundary_tolerance: float = 0.0025,
                 tolerance_mode: str = 'diagonal',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 pred_key: str = 'pred_superpixels',
                 gt_key: str = 'gt_sem_seg',
                 **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, **kwargs)
        metrics = DEFAULT_METRICS if metrics is None else tuple(
            [metrics] if isinstance(metrics, str) else metrics)
        unknown = [m for m in metrics if m not in ALL_METRICS]
        if unknown or not metrics:
            raise ValueError(f'unknown superpixel metrics {unknown} (or none given); '
                             f'choose from {ALL_METRICS}')
        if miou_mode not in ('dataset', 'image'):
            raise ValueError(f"miou_mode must be 'dataset' or 'image', got {miou_mode!r}")
        if boundary_convention not in F.BOUNDARY_CONVENTIONS:
            raise ValueError(f'boundary_convention must be one of {F.BOUNDARY_CONVENTIONS}, '
                             f'got {boundary_convention!r}')
        # validates the tolerance/mode combination early (shape is irrelevant here)
        F.resolve_tolerance(boundary_tolerance, tolerance_mode, (1, 1))
        if num_classes is not None and num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        self.metrics = metrics
        self.ignore_index = ignore_index
        self.num_classes = num_classes
        self.miou_mode = miou_mode
        self.boundary_convention = boundary_convention
        self.boundary_tolerance = boundary_tolerance
        self.tolerance_mode = tolerance_mode
        self.pred_key = pred_key
        self.gt_key = gt_key

    # ------------------------------------------------------------------ helpers
    def _wants(self, *names: str) -> bool:
        return any(n in self.metrics for n in names)

    def _resolve_num_classes(self) -> int:
        if self.num_classes is not None:
            return self.num_classes
        classes = (self.dataset_meta or {}).get('classes')
        if not classes:
            raise ValueError("SuperpixelMetric(miou_mode='dataset') needs num_classes or "
                             "dataset_meta['classes']; use miou_mode='image' for datasets "
                             'without a class list (BSDS500)')
        return len(classes)

    def _load_image(self, sample: dict, shape) -> np.ndarray:
        if sample.get('ori_img') is not None:
            img = _field(sample, 'ori_img')
            if img.ndim == 3 and img.shape[0] in (1, 3, 4) and img.shape[1:] == tuple(shape):
                img = img.transpose(1, 2, 0)
        elif sample.get('img_path'):
            import mmcv
            img = mmcv.imread(sample['img_path'], flag='color')
            if img is None:
                raise FileNotFoundError(f'EV: cannot read image {sample["img_path"]}')
        else:
            raise KeyError('EV needs the image: the data sample has neither an `ori_img` field '
                           'nor an `img_path`; drop EV from `metrics` or provide one')
        if img.shape[:2] != tuple(shape):
            raise ValueError(f'EV: image {img.shape[:2]} and pred_superpixels {tuple(shape)} '
                             f'differ in size ({sample.get("img_path", "")})')
        return img

    # ------------------------------------------------------------------ BaseMetric API
    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Reduce every sample to small statistics (stored in ``self.results``)."""
        for sample in data_samples:
            self.results.append(self._process_one(sample))

    def _process_one(self, sample: dict) -> dict:
        name = sample.get('img_path', '<sample>')
        if self.pred_key not in sample:
            raise KeyError(f'SuperpixelMetric: data sample of {name} has no `{self.pred_key}`; '
                           'use a model that predicts superpixels (mmsp baselines, '
                           'SuperpixelPredictor, or an mmsp segmentor)')
        sp = _field(sample, self.pred_key)
        if sp.ndim == 3 and sp.shape[0] == 1:
            sp = sp[0]
        if sp.ndim != 2:
            raise ValueError(f'{self.pred_key} of {name} must be (1, H, W) or (H, W), got '
                             f'{sp.shape}')
        stats: Dict = dict(count=F.count_superpixels(sp), ev=None, co=None, pairs=[], areas=None)
        gt = None
        if self._wants(*GT_METRICS):
            if self.gt_key not in sample:
                raise KeyError(f'SuperpixelMetric: data sample of {name} has no `{self.gt_key}`, '
                               f'needed for {[m for m in self.metrics if m in GT_METRICS]}')
            gt = _field(sample, self.gt_key)
            if gt.ndim == 2:
                gt = gt[None]
            if gt.ndim != 3 or gt.shape[1:] != sp.shape:
                raise ValueError(f'{self.pred_key} {sp.shape} and {self.gt_key} {gt.shape} of '
                                 f'{name} differ in size; superpixels must be predicted at the '
                                 'original image size (ori_shape)')
        if self._wants('EV'):
            stats['ev'] = F.explained_variation(self._load_image(sample, sp.shape), sp)
        if self._wants('CO'):
            stats['co'] = F.compactness(sp)
        if gt is None:
            return stats
        radius = F.resolve_tolerance(self.boundary_tolerance, self.tolerance_mode, sp.shape)
        if self.miou_mode == 'dataset' and self._wants('sp_mIoU', 'sp_mAcc'):
            num_classes = self._resolve_num_classes()
            stats['areas'] = np.zeros((3, num_classes), np.int64)
        for ann in gt:  # one (image, annotation) pair per annotator
            table, gt_ids = F.contingency_table(sp, ann, self.ignore_index)
            pair = dict(
                n_valid=int(table.sum()),
                asa=F.achievable_segmentation_accuracy(table),
                ue=F.undersegmentation_error_np(table),
                ue_l=F.undersegmentation_error_levinshtein(table))
            if stats['areas'] is not None:
                stats['areas'] += np.stack(F.class_areas(table, gt_ids, stats['areas'].shape[1]))
            elif self._wants('sp_mIoU', 'sp_mAcc'):
                pair['miou'], pair['macc'] = F.image_miou_macc(table)
            if self._wants('BR', 'BP', 'BP_stutz'):
                pair.update(
                    F.boundary_counts(sp, ann, radius, self.boundary_convention, self.ignore_index))
            stats['pairs'].append(pair)
        return stats

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Aggregate the per-image statistics (see the class docstring)."""
        if not results:
            raise ValueError('SuperpixelMetric: no samples were processed')
        pairs = [p for r in results for p in r['pairs']]
        out: Dict[str, float] = {}

        def ratio(num: str, den: str) -> float:
            return _nanmean([p[num] / p[den] if p[den] else math.nan for p in pairs])

        if self._wants('sp_mIoU', 'sp_mAcc'):
            if self.miou_mode == 'dataset':
                inter, pred, label = np.sum([r['areas'] for r in results], axis=0)
                union = pred + label - inter
                with np.errstate(divide='ignore', invalid='ignore'):
                    iou, acc = inter / union, inter / label
                if np.all(label == 0):
                    warnings.warn('SuperpixelMetric: every ground-truth pixel is ignored')
                miou, macc = _nanmean(iou), _nanmean(acc)
            else:
                miou = _nanmean([p['miou'] for p in pairs])
                macc = _nanmean([p['macc'] for p in pairs])
            if 'sp_mIoU' in self.metrics:
                out['sp_mIoU'] = round(100 * miou, 2)
            if 'sp_mAcc' in self.metrics:
                out['sp_mAcc'] = round(100 * macc, 2)
        scalars = dict(
            ASA=lambda: _nanmean([p['asa'] for p in pairs]),
            UE=lambda: _nanmean([p['ue'] for p in pairs]),
            UE_levinshtein=lambda: _nanmean([p['ue_l'] for p in pairs]),
            BR=lambda: ratio('recalled', 'gt_boundary'),
            BP=lambda: ratio('precise', 'sp_boundary'),
            BP_stutz=lambda: _nanmean([
                p['recalled'] / (p['recalled'] + p['stutz_fp'])
                if p['recalled'] + p['stutz_fp'] else math.nan for p in pairs
            ]),
            EV=lambda: _nanmean([r['ev'] for r in results]),
            CO=lambda: _nanmean([r['co'] for r in results]),
            num_superpixels=lambda: float(np.mean([r['count'] for r in results])))
        for key, fn in scalars.items():
            if key in self.metrics:
                out[key] = round(fn(), 4)
        MMLogger.get_current_instance().info(
            f'SuperpixelMetric on {len(results)} images / {len(pairs)} annotation pairs: ' +
            ', '.join(f'{k}={v}' for k, v in out.items()))
        return out

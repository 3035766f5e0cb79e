"""CoarseIoUMetric: mmseg's IoUMetric on the coarse (pred, label) pair, and the consistency."""
import math

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS
from mmseg.structures import SegDataSample

from mmsp.datasets import CAMVID_COARSE_CLASSES, CAMVID_FINE_TO_COARSE
from mmsp.evaluation import CoarseIoUMetric

LUT = np.array(CAMVID_FINE_TO_COARSE)


def to_coarse(fine):
    fine = np.asarray(fine)
    return np.where(fine == 255, 255, LUT[np.minimum(fine, len(LUT) - 1)])


def coarse_sample(fine_pred, coarse_pred, fine_gt, to_dict=True):
    """A data sample of a two-level model; the coarse label is the table of the fine one."""
    ds = SegDataSample(metainfo=dict(img_path='x.png'))
    ds.pred_sem_seg = PixelData(data=torch.as_tensor(fine_pred)[None])
    ds.pred_coarse_sem_seg = PixelData(data=torch.as_tensor(coarse_pred)[None])
    ds.gt_sem_seg = PixelData(data=torch.as_tensor(fine_gt)[None])
    ds.gt_coarse_sem_seg = PixelData(data=torch.as_tensor(to_coarse(fine_gt))[None])
    return ds.to_dict() if to_dict else ds


def random_samples(n=3, shape=(9, 11), seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        fine_gt = rng.integers(0, 12, shape)  # 11 = Unlabelled -> 255 at both levels
        fine_gt[fine_gt == 11] = 255
        fine_pred = rng.integers(0, 11, shape)
        coarse_pred = np.where(rng.random(shape) < 0.7, LUT[fine_pred], rng.integers(0, 7, shape))
        out.append((fine_pred, coarse_pred, fine_gt))
    return out


def run(metric, samples):
    metric.process({}, [coarse_sample(*s) for s in samples])
    return metric.compute_metrics(metric.results)


@pytest.mark.parametrize('iou_metrics', [['mIoU'], ['mIoU', 'mDice', 'mFscore']])
def test_equals_mmseg_iou_metric_on_the_remapped_data(iou_metrics):
    samples = random_samples()
    ours = run(CoarseIoUMetric(classes=CAMVID_COARSE_CLASSES, iou_metrics=iou_metrics), samples)
    ref = IoUMetric(iou_metrics=iou_metrics)
    ref.dataset_meta = dict(classes=CAMVID_COARSE_CLASSES)
    for fine_pred, coarse_pred, fine_gt in samples:
        ds = SegDataSample()
        ds.pred_sem_seg = PixelData(data=torch.as_tensor(coarse_pred)[None])
        ds.gt_sem_seg = PixelData(data=torch.as_tensor(to_coarse(fine_gt))[None])
        ref.process({}, [ds.to_dict()])
    assert ours == ref.compute_metrics(ref.results)
    assert 0 < ours['mIoU'] < 100


def test_consistency_is_the_share_of_valid_pixels_that_agree():
    fine_pred = np.array([[3, 4, 0], [8, 9, 1]])  # table: flat flat sky / vehicle human constr.
    coarse_pred = np.array([[0, 1, 4], [6, 5, 5]])  # disagrees at (0, 1) and (1, 2)
    fine_gt = np.array([[3, 3, 255], [8, 9, 1]])  # (0, 2) is ignored
    m = CoarseIoUMetric(classes=CAMVID_COARSE_CLASSES, fine_to_coarse=CAMVID_FINE_TO_COARSE)
    out = run(m, [(fine_pred, coarse_pred, fine_gt)] * 2)
    assert out['consistency'] == pytest.approx(100 * 3 / 5)
    without = run(CoarseIoUMetric(classes=CAMVID_COARSE_CLASSES),
                  [(fine_pred, coarse_pred, fine_gt)])
    assert 'consistency' not in without and without['mIoU'] == out['mIoU']
    bad = CoarseIoUMetric(classes=CAMVID_COARSE_CLASSES, fine_to_coarse=[0, 1])
    with pytest.raises(ValueError, match='outside fine_to_coarse'):
        run(bad, [(fine_pred, coarse_pred, fine_gt)])


def test_prefix_registry_and_evaluator():
    metric = METRICS.build(dict(type='CoarseIoUMetric', classes=CAMVID_COARSE_CLASSES))
    assert isinstance(metric, CoarseIoUMetric) and metric.prefix == 'coarse'
    evaluator = Evaluator([metric, IoUMetric()])
    evaluator.dataset_meta = dict(classes=tuple(f'c{i}' for i in range(11)))
    samples = random_samples(n=2)
    evaluator.process([coarse_sample(*s, to_dict=False) for s in samples])
    out = evaluator.evaluate(2)
    assert {'coarse/mIoU', 'coarse/aAcc', 'mIoU', 'aAcc'} <= set(out)
    assert out['coarse/mIoU'] != out['mIoU']


def test_classes_from_dataset_meta_and_errors():
    m = CoarseIoUMetric()
    m.dataset_meta = dict(classes=('a', 'b'), coarse_classes=CAMVID_COARSE_CLASSES)
    assert m.dataset_meta['classes'] == CAMVID_COARSE_CLASSES
    assert math.isfinite(run(m, random_samples(n=1))['mIoU'])
    with pytest.raises(ValueError, match='coarse_classes'):
        run(CoarseIoUMetric(), random_samples(n=1))
    with pytest.raises(ValueError, match='non-empty sequence of names'):
        CoarseIoUMetric(classes='flat')
    sample = coarse_sample(*random_samples(n=1)[0])
    del sample['pred_coarse_sem_seg']
    with pytest.raises(KeyError, match='pred_coarse_sem_seg'):
        CoarseIoUMetric(classes=CAMVID_COARSE_CLASSES).process({}, [sample])

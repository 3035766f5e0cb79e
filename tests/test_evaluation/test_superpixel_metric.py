"""SuperpixelMetric: process/compute on hand-made samples, aggregation rules and errors."""
import math

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import METRICS
from mmseg.structures import SegDataSample

import superpixel_reference as ref
from mmsp.evaluation import ALL_METRICS, SuperpixelMetric

GT = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
SP = np.array([[0, 0, 0, 1], [0, 0, 0, 1]])
IMG = np.array([[0, 0, 4, 4], [0, 0, 4, 4]], np.uint8)[..., None].repeat(3, axis=2)


def sample(sp, gt=None, img=None, img_path=None):
    """A data sample as the Evaluator passes it (``SegDataSample.to_dict()``)."""
    ds = SegDataSample(metainfo=dict(img_path=img_path or 'synthetic.png'))
    ds.pred_superpixels = PixelData(data=torch.as_tensor(np.asarray(sp))[None])
    if gt is not None:
        gt = torch.as_tensor(np.asarray(gt))
        ds.gt_sem_seg = PixelData(data=gt[None] if gt.dim() == 2 else gt)
    out = ds.to_dict()
    if img is not None:
        out['ori_img'] = img
    return out


def evaluate(metric, samples):
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def test_registered_with_prefix():
    metric = METRICS.build(dict(type='SuperpixelMetric', num_classes=2))
    assert isinstance(metric, SuperpixelMetric) and metric.prefix == 'sp'


def test_hand_computed_keys():
    m = SuperpixelMetric(
        metrics=ALL_METRICS, num_classes=2, boundary_tolerance=0, tolerance_mode='pixels')
    out = evaluate(m, [sample(SP, GT, IMG)])
    assert out['sp_mIoU'] == pytest.approx(100 * (4 / 6 + 2 / 4) / 2, abs=0.01)
    assert out['sp_mAcc'] == pytest.approx(75.0)
    assert out['ASA'] == pytest.approx(0.75)
    assert out['UE'] == pytest.approx(0.5)
    assert out['UE_levinshtein'] == pytest.approx(0.75)
    assert (out['BR'], out['BP'], out['BP_stutz']) == pytest.approx((0.5, 0.5, 0.5))
    assert out['EV'] == pytest.approx(round((6 * (4 / 3 - 2)**2 + 8) / 32, 4))
    assert out['CO'] == pytest.approx(round(ref.compactness(SP.tolist()), 4))
    assert out['num_superpixels'] == 2
    # the default tolerance (0.0025 of the diagonal) rounds to 0 px here; 1 px recalls all
    out1 = evaluate(
        SuperpixelMetric(metrics=['BR', 'BP'], boundary_tolerance=1, tolerance_mode='pixels'),
        [sample(SP, GT)])
    assert (out1['BR'], out1['BP']) == (1.0, 1.0)


def test_perfect_and_single_superpixel():
    rng = np.random.default_rng(1)
    gt = np.kron(rng.integers(0, 3, (5, 6)), np.ones((4, 4), int))
    out = evaluate(
        SuperpixelMetric(num_classes=3, metrics=['sp_mIoU', 'ASA', 'BR', 'UE', 'BP']),
        [sample(gt * 7 + 1, gt)])
    assert out == dict(sp_mIoU=100.0, ASA=1.0, BR=1.0, BP=1.0, UE=0.0)
    single = evaluate(
        SuperpixelMetric(num_classes=3, metrics=['ASA', 'BR', 'BP', 'num_superpixels']),
        [sample(np.zeros_like(gt), gt)])
    assert single['BR'] == 0.0 and single['num_superpixels'] == 1.0
    assert math.isnan(single['BP'])  # no superpixel boundary at all: undefined, not 0 or 1
    assert single['ASA'] == pytest.approx(np.bincount(gt.ravel()).max() / gt.size, abs=1e-4)


def test_ignore_index_and_dataset_confusion():
    gt1 = np.array([[0, 0, 255, 1], [0, 0, 255, 1]])
    gt2 = np.array([[2, 2, 2, 2], [1, 1, 1, 1]])
    samples = [sample(SP, gt1), sample(SP, gt2)]
    out = evaluate(SuperpixelMetric(num_classes=3, metrics=['sp_mIoU', 'sp_mAcc', 'ASA']), samples)
    # image 1 is painted perfectly on its valid pixels. image 2: superpixel 0 -> class 1 (3 vs 3,
    # tie to the smaller id), superpixel 1 -> class 1 (tie). Dataset areas:
    #   class 0: inter 4, pred 4, label 4; class 1: inter 2 + 4, pred 2 + 8, label 2 + 4;
    #   class 2: inter 0, pred 0, label 4
    ious = [4 / 4, 6 / (10 + 6 - 6), 0 / 4]
    accs = [1, 6 / 6, 0]
    assert out['sp_mIoU'] == pytest.approx(100 * np.mean(ious), abs=0.01)
    assert out['sp_mAcc'] == pytest.approx(100 * np.mean(accs), abs=0.01)
    assert out['ASA'] == pytest.approx((1.0 + 0.5) / 2)  # mean over images


def test_classes_absent_everywhere_are_skipped():
    out = evaluate(SuperpixelMetric(num_classes=10, metrics=['sp_mIoU']), [sample(GT, GT)])
    assert out['sp_mIoU'] == 100.0


def test_num_classes_from_dataset_meta_and_missing():
    m = SuperpixelMetric(metrics=['sp_mIoU'])
    m.dataset_meta = dict(classes=('a', 'b'))
    assert evaluate(m, [sample(GT, GT)])['sp_mIoU'] == 100.0
    with pytest.raises(ValueError, match='num_classes'):
        evaluate(SuperpixelMetric(metrics=['sp_mIoU']), [sample(GT, GT)])
    with pytest.raises(ValueError, match='outside'):
        evaluate(SuperpixelMetric(num_classes=1, metrics=['sp_mIoU']), [sample(GT, GT)])


def test_multi_annotator_is_a_pair_average():
    rng = np.random.default_rng(2)
    sp = rng.integers(0, 6, (8, 9))
    anns = [rng.integers(1, 4, (8, 9)) for _ in range(3)]
    kw = dict(
        metrics=['sp_mIoU', 'ASA', 'UE', 'BR', 'BP', 'UE_levinshtein', 'num_superpixels'],
        miou_mode='image',
        ignore_index=None,
        boundary_tolerance=1,
        tolerance_mode='pixels')
    stacked = evaluate(SuperpixelMetric(**kw), [sample(sp, np.stack(anns))])
    separate = evaluate(SuperpixelMetric(**kw), [sample(sp, a) for a in anns])
    assert stacked == separate
    assert stacked['ASA'] == pytest.approx(
        round(np.mean([ref.asa(sp.tolist(), a.tolist()) for a in anns]), 4))
    # image mode: per-image mean over the labels present, then over pairs
    miou = np.mean([ref.majority_miou(sp.tolist(), (a - 1).tolist(), 3)[0] for a in anns])
    assert stacked['sp_mIoU'] == pytest.approx(100 * miou, abs=0.01)


def test_boundary_scores_are_averaged_per_pair_not_pooled():
    """Two annotations with different boundary lengths (and an ignored band in the second):
    BR and BP are means of per-pair ratios, which differ here from the pooled ratios."""
    sp = np.array([[0, 0, 0, 0, 1, 1, 1, 1]] * 4)  # boundary pixels: columns 3 and 4
    first = np.array([[0, 0, 0, 0, 0, 0, 1, 1]] * 4)  # boundary at columns 5, 6: none recalled
    second = np.array([[0, 0, 1, 1, 2, 2, 3, 3]] * 4)  # boundaries at columns 1 - 6
    second[:2] = 255  # only rows 2, 3 are scored
    # pair 1: BR 0 / 8, BP 0 / 8; pair 2: BR 4 / 12, BP 4 / 4
    kw = dict(metrics=['BR', 'BP'], boundary_tolerance=0, tolerance_mode='pixels')
    stacked = evaluate(SuperpixelMetric(**kw), [sample(sp, np.stack([first, second]))])
    separate = evaluate(SuperpixelMetric(**kw), [sample(sp, first), sample(sp, second)])
    expected = dict(BR=round((0 + 4 / 12) / 2, 4), BP=round((0 + 4 / 4) / 2, 4))
    assert stacked == separate == expected
    assert expected != dict(BR=round(4 / 20, 4), BP=round(4 / 12, 4))  # the pooled ratios


def test_other_id_map_and_labels_through_pred_key_and_gt_key():
    """A hard group map against coarse labels scores like the same arrays under the default
    keys; the default fields are not read."""
    rng = np.random.default_rng(4)
    groups, coarse = rng.integers(0, 4, (10, 12)), rng.integers(0, 3, (10, 12))
    kw = dict(num_classes=3, metrics=['sp_mIoU', 'ASA', 'UE', 'BR', 'BP', 'EV', 'num_superpixels'])
    ds = SegDataSample(metainfo=dict(img_path='g.png'))
    ds.pred_groups = PixelData(data=torch.as_tensor(groups)[None])
    ds.gt_coarse_sem_seg = PixelData(data=torch.as_tensor(coarse)[None])
    img = rng.integers(0, 255, (10, 12, 3)).astype(np.uint8)
    grouped = dict(ds.to_dict(), ori_img=img)
    ours = evaluate(SuperpixelMetric(pred_key='pred_groups', gt_key='gt_coarse_sem_seg', **kw),
                    [grouped])
    assert ours == evaluate(SuperpixelMetric(**kw), [sample(groups, coarse, img)])
    with pytest.raises(KeyError, match='pred_groups'):
        evaluate(SuperpixelMetric(pred_key='pred_groups', **kw), [sample(groups, coarse, img)])
    with pytest.raises(KeyError, match='gt_coarse_sem_seg'):
        evaluate(SuperpixelMetric(gt_key='gt_coarse_sem_seg', **kw), [sample(groups, coarse, img)])


def test_ev_reads_the_image_file(tmp_path):
    import cv2
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, IMG)
    out = evaluate(SuperpixelMetric(metrics=['EV']), [sample(GT, img_path=path)])
    assert out['EV'] == 1.0
    ds = sample(GT)
    del ds['img_path']
    with pytest.raises(KeyError, match='EV needs the image'):
        evaluate(SuperpixelMetric(metrics=['EV']), [ds])
    with pytest.raises(ValueError, match='differ in size'):
        evaluate(SuperpixelMetric(metrics=['EV']), [sample(np.zeros((3, 3), int), img_path=path)])


def test_gt_free_metrics_without_annotation():
    out = evaluate(SuperpixelMetric(metrics=['CO', 'num_superpixels']), [sample(SP), sample(GT)])
    assert out['num_superpixels'] == 2.0


def test_process_keeps_only_small_statistics():
    m = SuperpixelMetric(num_classes=4)
    big = np.kron(np.arange(16).reshape(4, 4), np.ones((50, 50), int))
    m.process({}, [sample(big, big % 4, img=np.zeros((200, 200, 3), np.uint8))])
    arrays = [v for v in m.results[0].values() if isinstance(v, np.ndarray)]
    assert all(a.size <= 3 * 4 for a in arrays)
    assert all(len(p) < 20 for p in m.results[0]['pairs'])


def test_bad_inputs():
    with pytest.raises(ValueError, match='differ in size'):
        evaluate(SuperpixelMetric(num_classes=2), [sample(SP, GT[:, :3])])
    missing = sample(SP, GT)
    del missing['pred_superpixels']
    with pytest.raises(KeyError, match='pred_superpixels'):
        evaluate(SuperpixelMetric(num_classes=2), [missing])
    with pytest.raises(KeyError, match='gt_sem_seg'):
        evaluate(SuperpixelMetric(num_classes=2, metrics=['ASA']), [sample(SP)])
    with pytest.raises(ValueError, match='unknown superpixel metrics'):
        SuperpixelMetric(metrics=['mIoU'])
    with pytest.raises(ValueError, match='miou_mode'):
        SuperpixelMetric(miou_mode='global')
    with pytest.raises(ValueError, match='fraction'):
        SuperpixelMetric(boundary_tolerance=2)  # 'diagonal' mode takes a fraction
    with pytest.raises(ValueError, match='no samples'):
        SuperpixelMetric().compute_metrics([])


def test_evaluate_through_mmengine_prefixes_keys():
    m = SuperpixelMetric(num_classes=2, metrics=['ASA', 'num_superpixels'])
    m.process({}, [sample(SP, GT)])
    assert m.evaluate(1) == {'sp/ASA': 0.75, 'sp/num_superpixels': 2.0}

"""Property-based (hypothesis) tests of SuperpixelMetric against the slow reference scorers.

Random shapes, superpixel maps and label maps, including all-ignore images, one class,
non-contiguous and huge ids (2**40), and negative ids. ``miou_mode='image'`` takes arbitrary
ids; ``miou_mode='dataset'`` must refuse ids outside ``[0, num_classes)`` with a clear error.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import superpixel_reference as ref
from test_superpixel_metric import sample

from mmsp.evaluation import SuperpixelMetric

IGNORE = 255
GT_KEYS = ['ASA', 'UE', 'UE_levinshtein', 'BR', 'BP']


@st.composite
def maps(draw):
    """(sp, gt) of one random shape; ids drawn from small palettes remapped to wild values."""
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    k = draw(st.integers(1, 6))
    sp_palette = draw(st.lists(st.integers(-2**40, 2**40), min_size=k, max_size=k, unique=True))
    g = draw(st.integers(1, 4))
    gt_palette = draw(st.lists(st.sampled_from([0, 1, 2, 7, -3, 2**40, -2**40]), min_size=g,
                               max_size=g, unique=True))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    sp = np.asarray(sp_palette, np.int64)[rng.integers(0, k, (h, w))]
    gt = np.asarray(gt_palette, np.int64)[rng.integers(0, g, (h, w))]
    ignore = draw(st.sampled_from(['none', 'some', 'all']))
    if ignore == 'all':
        gt[:] = IGNORE
    elif ignore == 'some':
        gt[rng.random((h, w)) < 0.3] = IGNORE
    return sp, gt


def _expected(sp, gt, r):
    s, g = sp.tolist(), gt.tolist()
    if not (gt != IGNORE).any():
        return {key: math.nan for key in GT_KEYS}
    br, bp = ref.boundary_scores(s, g, r, 'stutz', IGNORE)
    return dict(ASA=ref.asa(s, g, IGNORE), UE=ref.ue_np(s, g, IGNORE),
                UE_levinshtein=ref.ue_levinshtein(s, g, IGNORE), BR=br, BP=bp)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(maps(), st.integers(0, 2))
def test_metric_matches_reference_on_wild_ids(pair, r):
    sp, gt = pair
    metric = SuperpixelMetric(metrics=GT_KEYS + ['num_superpixels'], miou_mode='image',
                              ignore_index=IGNORE, boundary_tolerance=r, tolerance_mode='pixels')
    metric.process({}, [sample(sp, gt)])
    out = metric.compute_metrics(metric.results)
    assert out['num_superpixels'] == len(np.unique(sp))
    for key, value in _expected(sp, gt, r).items():
        if math.isnan(value):
            assert math.isnan(out[key]), (key, out[key])
        else:
            assert out[key] == pytest.approx(round(value, 4), abs=1e-4), key


@settings(max_examples=40, deadline=None)
@given(maps())
def test_dataset_miou_refuses_ids_outside_the_classes(pair):
    sp, gt = pair
    num_classes = 3
    metric = SuperpixelMetric(metrics=['sp_mIoU'], num_classes=num_classes, ignore_index=IGNORE)
    valid = gt[gt != IGNORE]
    if valid.size and (valid.min() < 0 or valid.max() >= num_classes):
        with pytest.raises(ValueError, match='outside'):
            metric.process({}, [sample(sp, gt)])
        return
    metric.process({}, [sample(sp, gt)])
    if not valid.size:
        with pytest.warns(UserWarning, match='ignored'):
            out = metric.compute_metrics(metric.results)
        assert math.isnan(out['sp_mIoU'])  # nothing to score: NaN, never 0 or 100
        return
    out = metric.compute_metrics(metric.results)
    miou, _ = ref.majority_miou(sp.tolist(), gt.tolist(), num_classes, IGNORE)
    assert out['sp_mIoU'] == pytest.approx(round(100 * miou, 2), abs=0.01)


@settings(max_examples=30, deadline=None)
@given(maps())
def test_relabelling_superpixels_changes_nothing(pair):
    sp, gt = pair
    _, inverse = np.unique(sp, return_inverse=True)
    relabelled = (inverse.reshape(sp.shape) * 7919 + 2**41)  # another injective id map

    def scores(x):
        m = SuperpixelMetric(metrics=GT_KEYS + ['CO'], miou_mode='image', ignore_index=IGNORE)
        m.process({}, [sample(x, gt)])
        return m.compute_metrics(m.results)

    a, b = scores(sp), scores(relabelled)
    assert a.keys() == b.keys()
    for key in a:
        assert (math.isnan(a[key]) and math.isnan(b[key])) or a[key] == b[key], key

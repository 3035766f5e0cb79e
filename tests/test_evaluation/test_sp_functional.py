"""Superpixel scores in mmsp.evaluation.functional: hand-computed values and a slow reference."""
import math

import numpy as np
import pytest

import superpixel_reference as ref
from mmsp.evaluation import functional as F

# A 2x4 image with two ground-truth segments (left / right halves) and two superpixels, the
# first of which straddles the segment border (4 pixels of segment 0, 2 of segment 1).
GT = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
SP = np.array([[0, 0, 0, 1], [0, 0, 0, 1]])


def scores(sp, gt, ignore_index=None):
    table, _ = F.contingency_table(sp, gt, ignore_index)
    return (F.achievable_segmentation_accuracy(table), F.undersegmentation_error_np(table),
            F.undersegmentation_error_levinshtein(table))


def test_straddling_superpixel_by_hand():
    table, ids = F.contingency_table(SP, GT)
    np.testing.assert_array_equal(table.toarray(), [[4, 2], [0, 2]])
    np.testing.assert_array_equal(ids, [0, 1])
    asa, ue, ue_l = scores(SP, GT)
    assert asa == pytest.approx(6 / 8)  # (4 + 2) / 8
    assert ue == pytest.approx((2 + 2 + 0) / 8)  # min(4,2) + min(2,4) + min(2,0)
    assert ue_l == pytest.approx(((6 - 4) / 4 + (8 - 4) / 4) / 2)


def test_majority_painting_by_hand():
    table, ids = F.contingency_table(SP, GT)
    inter, pred, label = F.class_areas(table, ids, num_classes=3)
    np.testing.assert_array_equal(inter, [4, 2, 0])
    np.testing.assert_array_equal(pred, [6, 2, 0])
    np.testing.assert_array_equal(label, [4, 4, 0])
    miou, macc = F.image_miou_macc(table)
    assert miou == pytest.approx((4 / 6 + 2 / 4) / 2)
    assert macc == pytest.approx((1 + 0.5) / 2)


def test_majority_tie_goes_to_smallest_label():
    table, ids = F.contingency_table(np.zeros((1, 4), int), np.array([[5, 5, 3, 3]]))
    assert ids[F.majority_labels(table)[0]] == 3


def test_boundary_maps_by_hand():
    np.testing.assert_array_equal(F.boundary_map(GT, 'stutz'), [[0, 1, 1, 0], [0, 1, 1, 0]])
    np.testing.assert_array_equal(F.boundary_map(GT, 'seal'), [[0, 1, 0, 0], [0, 1, 0, 0]])
    vertical = np.array([[0, 0], [1, 1]])
    np.testing.assert_array_equal(F.boundary_map(vertical, 'stutz'), [[1, 1], [1, 1]])
    np.testing.assert_array_equal(F.boundary_map(vertical, 'seal'), [[1, 1], [0, 0]])


def test_boundary_counts_and_tolerance_by_hand():
    c0 = F.boundary_counts(SP, GT, radius=0, convention='stutz')
    assert c0 == dict(gt_boundary=4, recalled=2, sp_boundary=4, precise=2, stutz_fp=2)
    c1 = F.boundary_counts(SP, GT, radius=1, convention='stutz')
    assert c1 == dict(gt_boundary=4, recalled=4, sp_boundary=4, precise=4, stutz_fp=0)
    s0 = F.boundary_counts(SP, GT, radius=0, convention='seal')
    assert (s0['gt_boundary'], s0['recalled']) == (2, 0)  # one-sided maps miss by one column
    assert F.boundary_counts(SP, GT, radius=1, convention='seal')['recalled'] == 2


def test_tolerance_conventions():
    assert F.resolve_tolerance(2, 'pixels', (10, 10)) == 2
    # Stutz: r = round(0.0025 * diagonal): 1 px on BSDS500, 3 px at 1024x768, 6 px at 1024x2048
    assert F.resolve_tolerance(0.0025, 'diagonal', (321, 481)) == 1
    assert F.resolve_tolerance(0.0025, 'diagonal', (768, 1024)) == 3
    assert F.resolve_tolerance(0.0025, 'diagonal', (1024, 2048)) == 6
    with pytest.raises(ValueError, match='integer radius'):
        F.resolve_tolerance(1.5, 'pixels', (10, 10))
    with pytest.raises(ValueError, match='fraction'):
        F.resolve_tolerance(2, 'diagonal', (10, 10))
    with pytest.raises(ValueError, match='tolerance_mode'):
        F.resolve_tolerance(1, 'px', (10, 10))
    with pytest.raises(ValueError, match='>= 0'):
        F.resolve_tolerance(-1, 'pixels', (10, 10))


def test_boundary_tolerance_window_is_square():
    gt = np.zeros((9, 9), int)
    gt[4, 4] = 1  # a single-pixel segment: its boundary is the plus shape around (4, 4)
    sp = np.zeros((9, 9), int)
    sp[:, 7:] = 1  # superpixel boundary at columns 6 and 7
    # gt boundary: (4,3), (3,4), (4,4), (5,4), (4,5); the sp boundary (column 6) is 1..3 px away
    assert [F.boundary_counts(sp, gt, r)['recalled'] for r in range(4)] == [0, 1, 4, 5]
    # all three gt boundary pixels of the corner segment have an sp boundary pixel ((1, 2) or
    # (2, 1)) within the 5x5 window, none within the 3x3 window
    corner = np.zeros((5, 5), int)
    corner[0, 0] = 1
    far = np.zeros((5, 5), int)
    far[2:, 2:] = 1
    far[3:, 3:] = 2  # sp boundary pixels start at (2, 2)
    assert F.boundary_counts(far, corner, 2, 'stutz')['recalled'] == 3
    assert F.boundary_counts(far, corner, 1, 'stutz')['recalled'] == 2  # (0,1) and (1,0)


def test_ignore_index_by_hand():
    gt = np.array([[0, 0, 255, 1], [0, 0, 255, 1]])
    table, ids = F.contingency_table(SP, gt, ignore_index=255)
    assert table.sum() == 6 and list(ids) == [0, 1]
    assert F.achievable_segmentation_accuracy(table) == pytest.approx(1.0)  # no straddling left
    assert F.undersegmentation_error_np(table) == 0
    counts = F.boundary_counts(SP, gt, 0, ignore_index=255)
    assert counts['gt_boundary'] == 0  # 0|255 and 255|1 are not boundaries
    assert counts['sp_boundary'] == 2  # sp boundary pixels on ignored pixels are not scored


def test_all_ignored_gives_nan():
    table, _ = F.contingency_table(SP, np.full_like(GT, 255), 255)
    assert table.size == 0
    assert math.isnan(F.achievable_segmentation_accuracy(table))
    assert math.isnan(F.undersegmentation_error_np(table))
    assert all(math.isnan(v) for v in F.image_miou_macc(table))


def test_single_superpixel_image():
    sp = np.zeros_like(GT)
    asa, ue, ue_l = scores(sp, GT)
    assert asa == pytest.approx(0.5)
    assert ue == pytest.approx((4 + 4) / 8)  # min(4, 4) for both segments
    assert ue_l == pytest.approx(1.0)  # each segment is covered by 8 px instead of 4
    counts = F.boundary_counts(sp, GT, 1)
    assert counts['recalled'] == 0 and counts['sp_boundary'] == 0
    assert F.count_superpixels(sp) == 1
    assert F.compactness(sp) == pytest.approx(4 * math.pi * 8 / 12**2)


def test_perfect_superpixels():
    rng = np.random.default_rng(0)
    gt = np.repeat(np.repeat(rng.integers(0, 4, (4, 5)), 3, 0), 3, 1)
    sp = gt * 17 + 3  # same partition, other ids
    asa, ue, ue_l = scores(sp, gt)
    assert (asa, ue) == (1.0, 0.0)
    counts = F.boundary_counts(sp, gt, 0)
    assert counts['recalled'] == counts['gt_boundary'] > 0
    assert counts['precise'] == counts['sp_boundary']
    assert F.image_miou_macc(F.contingency_table(sp, gt)[0]) == (1.0, 1.0)


def test_explained_variation_and_compactness_by_hand():
    img = np.array([[0, 0, 4, 4], [0, 0, 4, 4]], float)
    # means: superpixel 0 -> 4/3, superpixel 1 -> 4; image mean 2
    assert F.explained_variation(img, SP) == pytest.approx((6 * (4 / 3 - 2)**2 + 2 * 4) / 32)
    assert F.explained_variation(img, GT) == pytest.approx(1.0)
    assert math.isnan(F.explained_variation(np.ones((2, 4)), SP))
    expected = (6 * 4 * math.pi * 6 / 10**2 + 2 * 4 * math.pi * 2 / 6**2) / 8
    assert F.compactness(SP) == pytest.approx(expected)
    squares = np.kron(np.arange(6).reshape(2, 3), np.ones((4, 4), int))
    assert F.compactness(squares) == pytest.approx(math.pi / 4)


@pytest.mark.parametrize('seed', range(6))
def test_agrees_with_slow_reference_on_random_maps(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(5, 14, size=2)
    # blocky maps so that segments are not single pixels; arbitrary (negative, large) ids
    sp = np.kron(rng.integers(-3, 6, (h // 2 + 1, w // 2 + 1)), np.ones((2, 2), int))[:h, :w] * 1000
    gt = rng.integers(0, 4, (h, w))
    gt[rng.random((h, w)) < 0.15] = 255
    img = rng.random((h, w, 3)) * 255
    spl, gtl = sp.tolist(), gt.tolist()
    for ignore in (None, 255):
        table, ids = F.contingency_table(sp, gt, ignore)
        assert F.achievable_segmentation_accuracy(table) == pytest.approx(ref.asa(spl, gtl, ignore))
        assert F.undersegmentation_error_np(table) == pytest.approx(ref.ue_np(spl, gtl, ignore))
        assert F.undersegmentation_error_levinshtein(table) == pytest.approx(
            ref.ue_levinshtein(spl, gtl, ignore))
        for conv in ('stutz', 'seal'):
            for r in (0, 1, 2):
                c = F.boundary_counts(sp, gt, r, conv, ignore)
                br, bp = ref.boundary_scores(spl, gtl, r, conv, ignore)
                assert c['recalled'] / c['gt_boundary'] == pytest.approx(br)
                assert c['precise'] / c['sp_boundary'] == pytest.approx(bp)
    inter, pred, label = F.class_areas(*F.contingency_table(sp, gt, 255), num_classes=4)
    union = pred + label - inter
    miou = np.mean(inter[union > 0] / union[union > 0])
    macc = np.mean(inter[label > 0] / label[label > 0])
    assert (miou, macc) == pytest.approx(ref.majority_miou(spl, gtl, 4, 255))
    assert F.explained_variation(img,
                                 sp) == pytest.approx(ref.explained_variation(img.tolist(), spl))
    assert F.compactness(sp) == pytest.approx(ref.compactness(spl))


def test_invariant_to_relabelling_superpixels():
    rng = np.random.default_rng(3)
    sp = rng.integers(0, 30, (20, 24))
    gt = rng.integers(0, 5, (20, 24))
    img = rng.random((20, 24, 3))
    perm = rng.permutation(1000)[:30] - 500  # a random injective relabelling, negative ids too
    sp2 = perm[sp]
    t1, t2 = F.contingency_table(sp, gt)[0], F.contingency_table(sp2, gt)[0]
    for fn in (F.achievable_segmentation_accuracy, F.undersegmentation_error_np,
               F.undersegmentation_error_levinshtein, F.image_miou_macc):
        assert fn(t1) == pytest.approx(fn(t2))
    assert F.boundary_counts(sp, gt, 1) == F.boundary_counts(sp2, gt, 1)
    assert F.explained_variation(img, sp) == pytest.approx(F.explained_variation(img, sp2))
    assert F.compactness(sp) == pytest.approx(F.compactness(sp2))
    assert F.count_superpixels(sp) == F.count_superpixels(sp2)


def test_bad_inputs():
    with pytest.raises(ValueError, match='differ in shape'):
        F.contingency_table(SP, GT[:, :3])
    with pytest.raises(ValueError, match='2-D'):
        F.contingency_table(SP[None], GT[None])
    with pytest.raises(ValueError, match='empty'):
        F.compactness(np.zeros((0, 3), int))
    with pytest.raises(ValueError, match='integer ids'):
        F.count_superpixels(np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match='outside'):
        F.class_areas(*F.contingency_table(SP, GT + 4), num_classes=3)
    with pytest.raises(ValueError, match='convention'):
        F.boundary_map(GT, 'sobel')
    with pytest.raises(ValueError, match='does not match'):
        F.explained_variation(np.zeros((3, 4, 3)), SP)


def test_non_finite_and_non_numeric_maps_are_refused():
    with pytest.raises(ValueError, match='non-finite'):
        F.contingency_table(np.array([[0.0, np.nan]]), np.array([[0, 1]]))
    with pytest.raises(ValueError, match='integer ids'):
        F.count_superpixels(np.array([['a', 'b']]))


def test_boolean_maps_are_two_ids():
    """A boolean map is the two ids False/True, scored as the same map with 0/1."""
    rng = np.random.default_rng(5)
    sp = rng.random((9, 11)) < 0.4
    gt = rng.integers(0, 3, (9, 11))
    for a, b in (((sp, gt), (sp.astype(int), gt)), ((gt, sp), (gt, sp.astype(int)))):
        t_bool, ids_bool = F.contingency_table(*a)
        t_int, ids_int = F.contingency_table(*b)
        np.testing.assert_array_equal(t_bool.toarray(), t_int.toarray())
        np.testing.assert_array_equal(ids_bool.astype(int), ids_int)
    assert F.count_superpixels(sp) == 2
    assert F.boundary_counts(sp, gt, 1) == F.boundary_counts(sp.astype(int), gt, 1)


def test_contingency_is_sparse_for_one_id_per_pixel():
    """Every pixel its own superpixel and its own label: N = 2**18 pixels would need a dense
    N x N table (512 GiB of int64); the sparse table holds N entries, and the scores are exact."""
    side = 512
    sp = np.arange(side * side).reshape(side, side)
    gt = sp[::-1].copy()  # a permutation: still one label per pixel, no shared ids
    table, ids = F.contingency_table(sp, gt)
    assert table.shape == (side * side, side * side) and table.nnz == side * side
    assert F.achievable_segmentation_accuracy(table) == 1.0
    assert F.undersegmentation_error_np(table) == 0.0
    assert F.undersegmentation_error_levinshtein(table) == 0.0
    assert F.image_miou_macc(table) == (1.0, 1.0)


@pytest.mark.parametrize('seed', range(3))
def test_sparse_and_dense_tables_give_the_same_scores(seed):
    """The table functions accept a dense array too (the same counts, no sparse structure)."""
    rng = np.random.default_rng(seed)
    sp = rng.integers(0, 12, (10, 13))
    gt = rng.integers(0, 4, (10, 13))
    gt[rng.random((10, 13)) < 0.1] = 255
    sparse_table, ids = F.contingency_table(sp, gt, 255)
    dense = np.zeros(sparse_table.shape, np.int64)
    for s, g in zip(sp.ravel(), gt.ravel()):  # counted by hand, no helper of the module
        if g != 255:
            dense[np.searchsorted(np.unique(sp[gt != 255]), s), np.searchsorted(ids, g)] += 1
    np.testing.assert_array_equal(sparse_table.toarray(), dense)
    for fn in (F.achievable_segmentation_accuracy, F.undersegmentation_error_np,
               F.undersegmentation_error_levinshtein, F.image_miou_macc, F.majority_labels):
        np.testing.assert_allclose(fn(sparse_table), fn(dense))
    for a, b in zip(F.class_areas(sparse_table, ids, 4), F.class_areas(dense, ids, 4)):
        np.testing.assert_array_equal(a, b)

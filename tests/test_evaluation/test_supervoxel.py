"""Supervoxel scores: hand-computed clips, slow loop references and the sanity properties of
LIBSVX's benchmark on synthetic moving shapes (ground truth scores perfectly, per-frame ids
keep SA/UE but lose BP and duration, id permutations change nothing, void is ignored)."""
import math

import numpy as np
import pytest

import supervoxel_reference as ref
from mmsp.datasets import make_moving_shapes
from mmsp.evaluation import supervoxel as S

GT_KEYS = ('SA', 'UE_levinshtein', 'UE_np', 'BR', 'BP')

# a 2-frame, 1x4 clip: segments g0 = label 0 (5 voxels), g1 = label 1 (3 voxels)
LABELS = np.array([[[0, 0, 1, 1]], [[0, 0, 0, 1]]])
SV = np.array([[[5, 5, 5, 7]], [[5, 5, 7, 7]]])
GREY = np.array([[[0, 0, 6, 6]], [[0, 0, 6, 6]]], float)[..., None]


def test_hand_computed_clip():
    out = S.clip_scores(SV, LABELS, GREY)
    # overlaps: S5 = 4 in g0 + 1 in g1, S7 = 1 in g0 + 2 in g1
    assert out['UE_levinshtein'] == pytest.approx(((5 + 3 - 5) / 5 + (5 + 3 - 3) / 3) / 2)
    assert out['UE_np'] == pytest.approx(4 / 8)
    assert out['SA'] == pytest.approx((4 / 5 + 2 / 3) / 2)  # S5 counts for g0, S7 for g1
    # boundaries: gt {(0,0,1), (0,0,2), (1,0,2), (1,0,3)}, sv {(0,0,2), (0,0,3), (1,0,1),
    # (1,0,2)}: two in common
    assert (out['BR'], out['BP']) == (0.5, 0.5)
    # EV: mu = 3, total 8 * 9; S5 has mean 6 / 5, S7 mean 6
    assert out['EV'] == pytest.approx((5 * (1.2 - 3)**2 + 3 * (6 - 3)**2) / 72)
    assert out['duration'] == 2.0 and out['num_supervoxels'] == 2.0
    assert list(out) == list(S.SUPERVOXEL_METRICS)


def test_components_and_label_volumes():
    labels = np.array([[[0, 1, 0]]])  # label 0 in two pieces
    sv = np.zeros((1, 1, 3), int)
    seg = S.gt_segments(labels, segments='components')
    assert seg.tolist() == [[[0, 1, 2]]]
    assert S.gt_segments(labels, segments='labels').tolist() == [[[0, 1, 0]]]
    comp = S.clip_scores(sv, labels, metrics=['UE_levinshtein'])
    vol = S.clip_scores(sv, labels, metrics=['UE_levinshtein'], segments='labels')
    assert comp['UE_levinshtein'] == 2.0  # every one-voxel segment is covered by 3 voxels
    assert vol['UE_levinshtein'] == pytest.approx(((3 - 2) / 2 + (3 - 1) / 1) / 2)
    # temporal neighbours connect, through valid voxels only; void is no segment
    labels = np.array([[[3, 255]], [[255, 3]], [[3, 3]]])
    assert S.gt_segments(labels).tolist() == [[[0, -1]], [[-1, 1]], [[1, 1]]]
    assert S.gt_segments(labels, segments='labels').tolist() == [[[0, -1]], [[-1, 0]], [[0, 0]]]
    with pytest.raises(ValueError, match='segments must be'):
        S.gt_segments(labels, segments='instances')


def _random_clip(seed, shape=(3, 5, 6)):
    rng = np.random.default_rng(seed)
    t, h, w = shape
    labels = np.kron(rng.integers(0, 3, (t, -(-h // 2), -(-w // 2))), np.ones((1, 2, 2), int))
    labels = labels[:, :h, :w]
    labels[rng.random(shape) < 0.15] = 255
    sv = np.kron(rng.integers(0, 4, (t, -(-h // 3), -(-w // 2))), np.ones((1, 3, 2), int))
    sv = sv[:, :h, :w] + 10 * rng.integers(0, 2, shape)
    video = rng.random(shape + (3, ))
    return labels, sv, video


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('segments', ['components', 'labels'])
def test_matches_the_loop_reference(seed, segments):
    labels, sv, video = _random_clip(seed)
    out = S.clip_scores(sv, labels, video, segments=segments)
    seg = ref.components(labels) if segments == 'components' else ref.label_segments(labels)
    br, bp = ref.br_bp(sv, seg)
    expected = dict(SA=ref.sa(sv, seg), UE_levinshtein=ref.ue_levinshtein(sv, seg),
                    UE_np=ref.ue_np(sv, seg), BR=br, BP=bp, EV=ref.ev(video, sv),
                    duration=ref.duration(sv), num_supervoxels=len(np.unique(sv)))
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=1e-12), key


def _shape_clip(seed):
    clip = make_moving_shapes(T=6, H=32, W=40, n_shapes=3, seed=seed, entering=True)
    return clip.instances, clip.video


def _visible_frames(ids):
    return np.mean([len({t for t in range(ids.shape[0]) if (ids[t] == k).any()})
                    for k in np.unique(ids)])


@pytest.mark.parametrize('seed', range(3))
def test_ground_truth_as_prediction_scores_perfectly(seed):
    instances, video = _shape_clip(seed)
    out = S.clip_scores(instances, instances, video, segments='labels')
    assert (out['SA'], out['UE_levinshtein'], out['UE_np'], out['BR'], out['BP']) == \
        (1.0, 0.0, 0.0, 1.0, 1.0)
    assert out['duration'] == pytest.approx(_visible_frames(instances))
    assert out['duration'] < 6  # the entering shape is not visible in every frame
    # the same with the 3-D components of the class map as both prediction and truth
    comps = S.gt_segments(instances)
    out = S.clip_scores(comps, instances, metrics=GT_KEYS + ('duration', ))
    assert (out['SA'], out['UE_levinshtein'], out['BR'], out['BP']) == (1.0, 0.0, 1.0, 1.0)
    assert out['duration'] == pytest.approx(_visible_frames(comps))


@pytest.mark.parametrize('seed', range(3))
def test_per_frame_relabelling_keeps_sa_and_ue_but_loses_bp_and_duration(seed):
    instances, video = _shape_clip(seed)
    frames = np.arange(instances.shape[0])[:, None, None]
    per_frame = instances * instances.shape[0] + frames  # new ids in every frame
    linked = S.clip_scores(instances, instances, video, segments='labels')
    unlinked = S.clip_scores(per_frame, instances, video, segments='labels')
    assert (unlinked['SA'], unlinked['UE_levinshtein'], unlinked['UE_np']) == (1.0, 0.0, 0.0)
    assert unlinked['BR'] == 1.0
    assert unlinked['BP'] < 0.5 * linked['BP']  # every voxel now sits on a temporal boundary
    assert unlinked['duration'] == 1.0 and linked['duration'] > 2
    assert unlinked['num_supervoxels'] > linked['num_supervoxels']


@pytest.mark.parametrize('seed', range(3))
def test_id_permutations_change_nothing_and_void_is_ignored(seed):
    labels, sv, video = _random_clip(10 + seed, shape=(4, 9, 11))
    rng = np.random.default_rng(seed)
    base = S.clip_scores(sv, labels, video)
    perm_sv = rng.permutation(1000)[sv] * 7 - 3000  # arbitrary, also negative, ids
    lut = rng.permutation(50)
    perm_labels = np.where(labels == 255, 255, lut[np.minimum(labels, 49)])
    for segments in ('components', 'labels'):
        a = S.clip_scores(sv, labels, video, segments=segments)
        b = S.clip_scores(perm_sv, perm_labels, video, segments=segments)
        assert a == pytest.approx(b, abs=1e-12)
    # any supervoxel ids on void voxels: the ground-truth scores stay
    void = labels == 255
    noisy = sv.copy()
    noisy[void] = rng.integers(100, 200, int(void.sum()))
    other = S.clip_scores(noisy, labels, video, metrics=GT_KEYS)
    assert other == pytest.approx({k: base[k] for k in GT_KEYS}, abs=1e-12)
    # an all-void clip has no ground-truth score
    empty = S.clip_scores(sv, np.full_like(labels, 255), metrics=GT_KEYS)
    assert all(math.isnan(v) for v in empty.values())


def test_overlaps_are_sparse():
    """One supervoxel and one segment per voxel: a dense table would hold 19200^2 entries."""
    shape = (4, 60, 80)
    ids = np.arange(np.prod(shape)).reshape(shape)
    ov = S.overlaps(ids * 10**9, S.gt_segments(ids, ignore_index=None))
    assert len(ov.count) == ids.size and (ov.count == 1).all()
    out = S.clip_scores(ids * 10**9, ids, metrics=GT_KEYS, ignore_index=None)
    assert (out['SA'], out['UE_levinshtein'], out['BR'], out['BP']) == (1.0, 0.0, 1.0, 1.0)


def test_errors():
    with pytest.raises(ValueError, match=r'\(T, H, W\)'):
        S.clip_scores(np.zeros((4, 5)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match='differ in shape'):
        S.clip_scores(np.zeros((2, 4, 5)), np.zeros((2, 4, 6)))
    with pytest.raises(ValueError, match='need the labels'):
        S.clip_scores(np.zeros((2, 4, 5)), metrics=['SA'])
    with pytest.raises(ValueError, match='needs the video'):
        S.clip_scores(np.zeros((2, 4, 5)), metrics=['EV'])
    with pytest.raises(ValueError, match='unknown supervoxel metrics'):
        S.clip_scores(np.zeros((2, 4, 5)), metrics=['ASA'])
    with pytest.raises(ValueError, match='does not match'):
        S.explained_variation_3d(np.zeros((2, 4, 6, 3)), np.zeros((2, 4, 5), int))

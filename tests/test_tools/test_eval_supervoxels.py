"""tools/eval_supervoxels.py: the baselines against loop references, count matching, and a
whole run on a tiny CamVid-layout clip set."""
import json

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmsp.ops.fast import fast_path
from mmsp.utils import build_model_from_config, make_tiny_camvid
from tools_helpers import REPO_ROOT, load_tool

E = load_tool('eval_supervoxels')
TRAIN = REPO_ROOT / 'configs' / 'supervoxel' / 'spformer3d-t_1xb2-400it_camvid-clips-2x120x160.py'


def test_grid_3d_matches_loops():
    ids = E.grid_3d((5, 7, 9), (2, 3, 4))
    expected = np.zeros((5, 7, 9), np.int64)
    for t in range(5):
        for y in range(7):
            for x in range(9):
                expected[t, y, x] = (t // 2) * 3 * 3 + (y // 3) * 3 + x // 4
    np.testing.assert_array_equal(ids, expected)
    assert E.count(ids) == 3 * 3 * 3


def _link_reference(ids, min_fraction=0.5):
    """Loops: pairs by decreasing overlap (then current id, previous id), one-to-one."""
    out = ids.copy()
    for t in range(1, ids.shape[0]):
        cur, prev = ids[t], out[t - 1]
        pairs = []
        for c in np.unique(cur):
            area = int((cur == c).sum())
            for p in np.unique(prev):
                n = int(((cur == c) & (prev == p)).sum())
                if n and n >= min_fraction * area:
                    pairs.append((-n, int(c), int(p)))
        done, taken, new = set(), set(), cur.copy()
        for _, c, p in sorted(pairs):
            if c not in done and p not in taken:
                new[cur == c] = p
                done.add(c)
                taken.add(p)
        out[t] = new
    return out


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_link_by_overlap_matches_loop_reference(seed):
    rng = np.random.default_rng(seed)
    frames, offset = [], 0
    for _ in range(4):  # blocky per-frame segmentations with unique ids per frame
        coarse = rng.integers(0, 5, size=(3, 4))
        ids = np.kron(coarse, np.ones((3, 3), np.int64))
        frames.append(ids + offset)
        offset += 5
    ids = np.stack(frames)
    np.testing.assert_array_equal(E.link_by_overlap(ids), _link_reference(ids))


def test_linking_a_static_clip_gives_full_durations():
    frame = np.kron(np.arange(6).reshape(2, 3), np.ones((4, 4), np.int64))
    ids = np.stack([frame + 6 * t for t in range(5)])
    linked = E.link_by_overlap(ids)
    assert E.count(linked) == 6 and E.count(ids) == 30
    np.testing.assert_array_equal(linked, np.broadcast_to(frame, ids.shape))


def test_match_count_comes_closest_to_the_target():
    calls = []

    def fn(n):
        calls.append(n)
        return np.arange(2 * n)  # count 2 n

    out = E.match_count(fn, 100, 10)
    assert E.count(out) == 100 and calls == [10, 50]
    out = E.match_count(lambda n: np.arange(3 * n), 100, 10, rounds=2)
    assert abs(E.count(out) - 100) <= 2


def test_miou_of_a_confusion_matrix():
    conf = E.confusion(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 255, 2]))
    assert conf.sum() == 4
    # IoU: class 0 1/2, class 1 1/2, class 2 1; absent classes are left out
    assert E.miou(conf) == pytest.approx((0.5 + 0.5 + 1) / 3)


def test_whole_run_on_tiny_clips(tmp_path, capsys):
    stems = [f'0016E5_{n:05d}' for n in range(7959, 7975, 2)]  # 8 frames: 2 clips of 4
    root = make_tiny_camvid(str(tmp_path / 'camvid'), {'val': stems}, size=(48, 64))
    torch.manual_seed(0)
    with fast_path(False):
        model = build_model_from_config(Config.fromfile(str(TRAIN)))
    model.init_weights()
    checkpoint = str(tmp_path / 'trained.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    out = str(tmp_path / 'table.json')
    results = E.main([
        '--data-root', root, '--clip-len', '4', '--size', '48', '64', '--cell', '2', '16', '16',
        '--config', str(TRAIN), '--checkpoint', checkpoint, '--out', out
    ])
    assert list(results) == ['grid-3d', 'slic-2d', 'slic-2d-linked', 'slic-3d',
                             'spformer3d-inflated', 'spformer3d-trained']
    target = 2 * 3 * 4
    assert results['grid-3d']['mean']['num_supervoxels'] == target
    assert results['grid-3d']['mean']['duration'] == 2
    assert results['slic-2d']['mean']['duration'] == 1
    assert 'mIoU' in results['spformer3d-trained']['mean']
    assert 'mIoU' not in results['spformer3d-inflated']['mean']
    for res in results.values():
        assert len(res['clips']) == 2
        assert 0 <= res['mean']['SA_class'] <= 1 and 0 <= res['mean']['BR'] <= 1
        assert res['mean']['num_supervoxels'] <= 4 * 48 * 64
    saved = json.load(open(out))
    assert saved['target'] == target and len(saved['clips']) == 2
    table = capsys.readouterr().out
    assert '| grid-3d | 24 |' in table and '| spformer3d-trained |' in table
    with pytest.raises(ValueError, match='go together'):
        E.main(['--data-root', root, '--config', str(TRAIN)])
    with pytest.raises(ValueError, match='--clips'):
        E.main(['--data-root', root, '--clip-len', '4', '--clips', '5', '--methods', 'grid-3d'])

"""SupervoxelMetric: the data contract, per-clip averaging, EV frames, errors."""
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData
from mmseg.registry import METRICS
from mmseg.structures import SegDataSample

from mmsp.datasets import make_moving_shapes
from mmsp.evaluation import SupervoxelMetric
from mmsp.evaluation import supervoxel as S


def clip_sample(sv, labels=None, video=None, img_path=None, to_dict=True):
    ds = SegDataSample(metainfo=dict(img_path=img_path or 'clip'))
    ds.pred_supervoxels = PixelData(data=torch.as_tensor(sv))
    if labels is not None:
        ds.gt_sem_seg = PixelData(data=torch.as_tensor(labels))
    if not to_dict:
        return ds
    out = ds.to_dict()
    if video is not None:
        out['ori_img'] = video
    return out


def two_clips():
    out = []
    for seed in (0, 1):
        clip = make_moving_shapes(T=4, H=24, W=32, seed=seed, entering=True)
        sv = np.kron(np.arange(12).reshape(1, 3, 4), np.ones((4, 8, 8), int))  # 8x8x4 cubes
        labels = clip.classes.copy()
        labels[:, :3] = 255  # a void band
        out.append((sv, labels, clip.video))
    return out


def run(metric, samples):
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def test_registered_and_averages_clip_scores():
    metric = METRICS.build(dict(type='SupervoxelMetric'))
    assert isinstance(metric, SupervoxelMetric) and metric.prefix == 'svx'
    clips = two_clips()
    out = run(metric, [clip_sample(*c) for c in clips])
    per_clip = [S.clip_scores(*c) for c in clips]
    assert list(out) == list(S.SUPERVOXEL_METRICS)
    for key in out:
        assert out[key] == round(np.mean([s[key] for s in per_clip]), 4)
    assert 0 < out['SA'] < 1 and out['duration'] == 4.0 and out['num_supervoxels'] == 12


def test_options_reach_the_scores():
    sv, labels, video = two_clips()[0]
    out = run(SupervoxelMetric(metrics=['UE_levinshtein'], segments='labels', ignore_index=None),
              [clip_sample(sv, labels)])
    expected = S.clip_scores(sv, labels, metrics=['UE_levinshtein'], segments='labels',
                             ignore_index=None)
    assert out['UE_levinshtein'] == round(expected['UE_levinshtein'], 4)
    ds = clip_sample(sv, labels)
    ds['pred_groups'] = ds.pop('pred_supervoxels')
    out = run(SupervoxelMetric(metrics=['SA'], pred_key='pred_groups'), [ds])
    assert out['SA'] == round(S.clip_scores(sv, labels, metrics=['SA'])['SA'], 4)


def test_ev_frames_from_ori_img_or_frame_files(tmp_path):
    import cv2
    sv, labels, video = two_clips()[0]
    expected = round(S.explained_variation_3d(video, sv), 4)
    channels_first = torch.as_tensor(video).permute(0, 3, 1, 2)
    assert run(SupervoxelMetric(metrics=['EV']), [clip_sample(sv, video=video)])['EV'] == expected
    assert run(SupervoxelMetric(metrics=['EV']),
               [clip_sample(sv, video=channels_first)])['EV'] == expected
    paths = []
    for t, frame in enumerate(video):
        paths.append(str(tmp_path / f'{t:03d}.png'))
        cv2.imwrite(paths[-1], frame)
    ds = clip_sample(sv)
    ds['img_path'] = paths
    assert run(SupervoxelMetric(metrics=['EV']), [ds])['EV'] == expected
    ds['img_path'] = paths[:2]
    with pytest.raises(ValueError, match='frame files'):
        run(SupervoxelMetric(metrics=['EV']), [ds])
    ds['img_path'] = paths[:3] + [str(tmp_path / 'missing.png')]
    with pytest.raises(FileNotFoundError, match='missing.png'):
        run(SupervoxelMetric(metrics=['EV']), [ds])


def test_evaluator_prefixes_keys():
    clips = two_clips()
    evaluator = Evaluator(SupervoxelMetric(metrics=['SA', 'BR', 'duration']))
    evaluator.process([clip_sample(sv, labels, to_dict=False) for sv, labels, _ in clips])
    out = evaluator.evaluate(2)
    assert set(out) == {'svx/SA', 'svx/BR', 'svx/duration'}


def test_errors():
    sv, labels, video = two_clips()[0]
    with pytest.raises(ValueError, match='unknown metrics'):
        SupervoxelMetric(metrics=['ASA'])
    with pytest.raises(ValueError, match='segments must be'):
        SupervoxelMetric(segments='instances')
    with pytest.raises(KeyError, match='gt_sem_seg'):
        run(SupervoxelMetric(metrics=['SA']), [clip_sample(sv)])
    with pytest.raises(KeyError, match='frames'):
        run(SupervoxelMetric(metrics=['EV']), [dict(clip_sample(sv), img_path=None)])
    with pytest.raises(ValueError, match='differ in size'):
        run(SupervoxelMetric(metrics=['SA']), [clip_sample(sv, labels[:, :-1])])
    with pytest.raises(ValueError, match=r'\(T, H, W\)'):
        run(SupervoxelMetric(metrics=['duration']),
            [dict(pred_supervoxels=dict(data=torch.zeros(1, 4, 24, 32)))])
    with pytest.raises(KeyError, match='pred_supervoxels'):
        run(SupervoxelMetric(metrics=['duration']), [dict(img_path='x')])
    with pytest.raises(ValueError, match='no clips'):
        SupervoxelMetric().compute_metrics([])

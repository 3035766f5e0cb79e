"""CamVid clips: grouping consecutive frames, one random draw per clip, clip packing."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmcv.transforms import BaseTransform

from mmsp.datasets import (CamVidClipDataset, ClipTransform, PackClipSegInputs,
                           parse_frame_stem)
from mmsp.utils import make_tiny_camvid

# sequence A at 15 Hz with a gap (07965 missing), sequence B at 1 Hz with an 'f' prefix
STEMS = ['A_07959', 'A_07961', 'A_07963', 'A_07967', 'A_07969', 'A_07971', 'A_07973',
         'B_f00930', 'B_f00960', 'B_f00990']


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory):
    return make_tiny_camvid(str(tmp_path_factory.mktemp('camvid_clips')), {'val': STEMS},
                            size=(24, 32))


def _clips(root, **kwargs):
    return CamVidClipDataset(
        data_root=root,
        data_prefix=dict(img_path='images/val', seg_map_path='labels/val'),
        pipeline=[],
        **kwargs)


def _frames(dataset):
    return [[osp.basename(p)[:-4] for p in info['img_path']] for info in dataset]


def test_parse_frame_stem():
    assert parse_frame_stem('x/0016E5_07959.jpg') == ('0016E5', 7959)
    assert parse_frame_stem('0006R0_f00930.png') == ('0006R0', 930)
    with pytest.raises(ValueError, match='frame number'):
        parse_frame_stem('tiny_val')


def test_grouping_by_sequence_frame_number_and_step(tiny_root):
    # step 2: A splits at the gap into runs of 3 and 4 frames; B (step 30) is not consecutive
    assert _frames(_clips(tiny_root, clip_len=2, clip_stride=2, max_step=2)) == [
        ['A_07959', 'A_07961'], ['A_07967', 'A_07969'], ['A_07971', 'A_07973']]
    # overlapping clips with stride 1
    assert _frames(_clips(tiny_root, clip_len=3, clip_stride=1, max_step=2)) == [
        ['A_07959', 'A_07961', 'A_07963'], ['A_07967', 'A_07969', 'A_07971'],
        ['A_07969', 'A_07971', 'A_07973']]
    # a larger step bridges the gap and links B's 1-Hz frames
    clips = _clips(tiny_root, clip_len=3, max_step=30)
    assert _frames(clips) == [['A_07959', 'A_07961', 'A_07963'],
                              ['A_07967', 'A_07969', 'A_07971'],
                              ['B_f00930', 'B_f00960', 'B_f00990']]
    info = clips[2]
    assert info['frame_ids'] == [930, 960, 990] and info['sequence'] == 'B'
    assert [osp.basename(p) for p in info['seg_map_path']] == [
        'B_f00930.png', 'B_f00960.png', 'B_f00990.png']
    assert info['label_map'][11] == 255
    with pytest.raises(ValueError, match='clip_len'):
        _clips(tiny_root, clip_len=0)


class _CoordinateFrame(BaseTransform):
    """Loads frame ``t`` of ``'frame<t>'``: channels y, x and 10 t; labels constant in frame 0
    (so a ``cat_max_ratio`` crop retries all its draws there) and varied in the others."""

    def transform(self, results):
        t = int(results['img_path'][len('frame'):])
        yy, xx = np.mgrid[0:48, 0:64].astype(np.float32)
        results['img'] = np.stack([yy, xx, np.full_like(yy, 10 * t)], -1)
        results['gt_seg_map'] = np.zeros((48, 64), np.uint8) if t == 0 else \
            ((yy // 8 + xx // 8) % 5).astype(np.uint8)
        results['img_shape'] = results['ori_shape'] = (48, 64)
        results['seg_fields'] = ['gt_seg_map']
        return results


class _DrawWithoutCache(BaseTransform):
    """Draws from numpy without ``cache_randomness``: adds a random offset to the image."""

    def transform(self, results):
        results['img'] = results['img'] + np.float32(100 * np.random.rand())
        return results


def test_clip_transform_draws_once_per_clip():
    pipeline = ClipTransform([
        _CoordinateFrame(),
        dict(type='RandomResize', scale=(64, 48), ratio_range=(0.5, 2.0), keep_ratio=True),
        dict(type='RandomCrop', crop_size=(16, 20), cat_max_ratio=0.75),
        dict(type='RandomFlip', prob=0.5),
        _DrawWithoutCache(),
    ])
    np.random.seed(0)
    corners = set()
    for _ in range(6):
        out = pipeline(dict(img_path=[f'frame{t}' for t in range(3)], seg_map_path=None))
        img = out['img']
        assert img.shape == (3, 16, 20, 3) and out['gt_seg_map'].shape == (3, 16, 20)
        # one geometry (resize, crop, flip) and one offset for all frames
        for t in (1, 2):
            np.testing.assert_array_equal(img[t, ..., :2], img[0, ..., :2])
            np.testing.assert_allclose(img[t, ..., 2] - img[0, ..., 2], 10 * t, atol=1e-4)
        corners.add((float(img[0, 0, 0, 0]), float(img[0, 0, 0, 1])))
        assert out['img_path'] == ['frame0', 'frame1', 'frame2']
    assert len(corners) > 1  # but a new draw for every clip


def test_clip_transform_loads_real_files_and_keeps_identical_frames_identical(tiny_root):
    clips = _clips(tiny_root, clip_len=3, max_step=30)
    same = dict(clips[0], img_path=[clips[0]['img_path'][0]] * 3,
                seg_map_path=[clips[0]['seg_map_path'][0]] * 3)
    out = ClipTransform([
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='RandomResize', scale=(64, 48), ratio_range=(0.5, 2.0), keep_ratio=True),
        dict(type='RandomCrop', crop_size=(16, 20)),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'),
    ])(same)
    assert out['img'].dtype == np.uint8 and out['img'].shape == (3, 16, 20, 3)
    for t in (1, 2):
        assert np.array_equal(out['img'][t], out['img'][0])
        assert np.array_equal(out['gt_seg_map'][t], out['gt_seg_map'][0])
    with pytest.raises(ValueError, match='img_path'):
        ClipTransform([])(dict(img_path='one.jpg'))


def test_pack_clip_inputs(tiny_root):
    clips = _clips(tiny_root, clip_len=2, max_step=2)
    out = ClipTransform([dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')])(
        dict(clips[0]))
    packed = PackClipSegInputs()(out)
    assert packed['inputs'].shape == (3, 2, 24, 32) and packed['inputs'].dtype == torch.uint8
    assert torch.equal(packed['inputs'][:, 1], torch.from_numpy(out['img'][1]).permute(2, 0, 1))
    sample = packed['data_samples']
    assert sample.gt_sem_seg.data.shape == (2, 24, 32)
    assert sample.gt_sem_seg.data.dtype == torch.int64
    assert sample.frame_ids == [7959, 7961] and sample.ori_shape == (24, 32)
    with pytest.raises(ValueError, match='ClipTransform'):
        PackClipSegInputs()(dict(img=np.zeros((4, 4, 3), np.uint8)))
    # test pipelines load the labels after the resize: they keep the original frame size
    resized = ClipTransform([
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(64, 48), keep_ratio=True),
        dict(type='LoadAnnotations')
    ])(dict(clips[0]))
    packed = PackClipSegInputs()(resized)
    assert packed['inputs'].shape == (3, 2, 48, 64)
    assert packed['data_samples'].gt_sem_seg.data.shape == (2, 24, 32)
    assert packed['data_samples'].ori_shape == (24, 32)
    with pytest.raises(ValueError, match='one map per frame'):
        PackClipSegInputs()(dict(img=np.zeros((2, 4, 4, 3), np.uint8),
                                 gt_seg_map=np.zeros((3, 4, 4), np.uint8)))


def test_real_camvid_val_is_one_run_of_101_frames(camvid_root):
    val = CamVidClipDataset(
        data_root=str(camvid_root),
        data_prefix=dict(img_path='images/val', seg_map_path='labels/val'),
        pipeline=[],
        clip_len=8,
        max_step=2)
    assert len(val) == 12
    assert val[0]['frame_ids'][:2] == [7959, 7961] and val[11]['frame_ids'][-1] == 8149
    pairs = CamVidClipDataset(
        data_root=str(camvid_root),
        data_prefix=dict(img_path='images/train', seg_map_path='labels/train'),
        pipeline=[],
        clip_len=2,
        clip_stride=1,
        max_step=30)
    # train is at 1 Hz: 360 pairs 30 frames apart, one 29 apart (0016E5_00901 -> 00930)
    steps = sorted(b - a for a, b in (info['frame_ids'] for info in pairs))
    assert len(pairs) == 361 and steps[0] == 29 and steps[1:] == [30] * 360

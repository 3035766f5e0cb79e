"""Damaged files through a real loading pipeline: every failure names the file.

Construction-time checks (missing files, size mismatch, colour-coded labels, grey/RGBA photos)
are in test_sp_datasets.py; these are the failures that only show when the pixels are decoded.
"""
import os

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS
from PIL import Image
from test_sp_datasets import SEG_PIPELINE, bsds, camvid, write_bsds, write_pair

from mmsp.utils import make_tiny_camvid

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]


def _camvid(root, **kwargs):
    init_default_scope('mmseg')
    return DATASETS.build(
        dict(type='CamVidDataset', data_root=str(root), pipeline=PIPELINE,
             data_prefix=dict(img_path='images/train', seg_map_path='labels/train'), **kwargs))


def _truncate(path, keep=1 / 3):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])  # the header survives, the pixels do not


@pytest.fixture(name='camvid')
def camvid_fixture(tmp_path):
    make_tiny_camvid(str(tmp_path), {'train': 3}, size=(48, 64), seed=0)
    return tmp_path


def test_intact_set_loads(camvid):
    ds = _camvid(camvid)
    assert [tuple(ds[i]['inputs'].shape) for i in range(3)] == [(3, 48, 64)] * 3


def test_truncated_image_names_the_file(camvid):
    img = sorted((camvid / 'images' / 'train').iterdir())[0]
    _truncate(img)
    ds = _camvid(camvid)  # the header is intact: construction passes
    with pytest.raises(Exception, match=str(img)):
        ds[0]


def test_truncated_annotation_names_the_file(camvid):
    label = sorted((camvid / 'labels' / 'train').iterdir())[1]
    _truncate(label, keep=1 / 2)
    ds = _camvid(camvid)
    with pytest.raises(OSError, match=str(label)) as info:
        ds[1]
    assert 'truncated' in str(info.value) and info.value.__cause__ is not None
    assert ds[0]['inputs'].shape[0] == 3  # the other samples still load


def test_file_removed_after_construction_names_the_file(camvid):
    ds = _camvid(camvid)
    img = sorted((camvid / 'images' / 'train').iterdir())[2]
    os.remove(img)
    with pytest.raises(FileNotFoundError, match=str(img)):
        ds[2]


def test_garbage_annotation_names_the_file(camvid):
    label = sorted((camvid / 'labels' / 'train').iterdir())[0]
    label.write_bytes(b'not a png at all')
    with pytest.raises(ValueError, match=str(label)):
        _camvid(camvid)  # caught by the header check at construction


def test_corrupt_bsds_ground_truth_names_the_file(tmp_path):
    from mmsp.datasets import load_bsds_segmentations
    bad = tmp_path / '1.mat'
    bad.write_bytes(b'MATLAB 5.0 MAT-file, truncated')
    with pytest.raises(ValueError, match=str(bad)):
        load_bsds_segmentations(str(bad))


# ---------------------------------------------------------------------- label values
def test_16bit_labels_above_255_are_named_at_construction(tmp_path):
    write_pair(tmp_path, 'val', 'wide', label=0)
    label = np.zeros((6, 8), np.uint16)
    label[0, :3] = [300, 511, 1000]  # read as uint8 these would be classes 44, 255 and 232
    path = tmp_path / 'labels' / 'val' / 'wide.png'
    Image.fromarray(label).save(path)
    assert Image.open(path).mode.startswith('I')
    with pytest.raises(ValueError, match=rf'{path} .* values outside 0\.\.255: \[300, 511, 1000\]'):
        camvid(tmp_path)
    label[0, :3] = [3, 11, 7]  # a 16-bit map with byte-sized values loads as is
    Image.fromarray(label).save(path)
    gt = camvid(tmp_path)[0]['data_samples'].gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(gt[0, :3], [3, 255, 7])


@pytest.mark.parametrize('test_mode', [False, True])
def test_labels_outside_the_classes_are_named_in_training_and_evaluation(tmp_path, test_mode):
    label = np.zeros((6, 8), np.uint8)
    label[2, 2:4] = [200, 12]  # 11 is Unlabelled (ignored); 12 and 200 are no class
    write_pair(tmp_path, 'val', 'stray', label=label)
    path = tmp_path / 'labels' / 'val' / 'stray.png'
    ds = camvid(tmp_path, test_mode=test_mode)
    with pytest.raises(ValueError, match=rf'{path} has label values \[12, 200\] outside the 11 '
                       r'classes \(0\.\.10\) and the ignore index 255'):
        ds[0]


def test_parts58_labels_outside_the_classes_are_named(tmp_path):
    write_pair(tmp_path, 'val', 'p', label=58, img_dir='JPEGImages', ann_dir='Parts')
    init_default_scope('mmseg')
    ds = DATASETS.build(dict(type='PascalParts58Dataset', data_root=str(tmp_path),
                             data_prefix=dict(img_path='JPEGImages/val',
                                              seg_map_path='Parts/val'),
                             pipeline=SEG_PIPELINE))
    with pytest.raises(ValueError, match=r'p\.png has label values \[58\] outside the 58'):
        ds[0]


# ---------------------------------------------------------------------- empty sets
def test_empty_split_file_and_folder_are_named(tmp_path):
    split = tmp_path / 'val.txt'
    split.write_text('\n\n')
    (tmp_path / 'images' / 'val').mkdir(parents=True)
    (tmp_path / 'labels' / 'val').mkdir(parents=True)
    with pytest.raises(ValueError, match=rf'empty dataset: the split file \(ann_file\) {split} '
                       'lists no sample'):
        camvid(tmp_path, ann_file=str(split))
    with pytest.raises(ValueError, match=r'image folder .*images/val holds no \*\.jpg file'):
        camvid(tmp_path)
    with pytest.raises(ValueError, match=r'image folder .*images/val holds no'):
        bsds(tmp_path)


# ---------------------------------------------------------------------- BSDS .mat values
@pytest.mark.parametrize('value, words', [(np.nan, 'non-finite'), (2.5, 'fractional')])
def test_bsds_non_integer_segmentations_are_named(tmp_path, value, words):
    seg = np.ones((4, 6))
    seg[1, 1] = value
    write_bsds(tmp_path, '7', [np.ones((4, 6)), seg], dtype=np.float64)
    path = tmp_path / 'groundTruth' / 'val' / '7.mat'
    with pytest.raises(ValueError, match=rf'{path}: annotation 1 has .*{words}'):
        bsds(tmp_path)[0]
    write_bsds(tmp_path, '7', [np.ones((4, 6)), np.full((4, 6), 3.0)], dtype=np.float64)
    gt = bsds(tmp_path)[0]['data_samples'].gt_sem_seg.data
    assert gt.dtype == torch.int64 and gt[1].unique().tolist() == [3]

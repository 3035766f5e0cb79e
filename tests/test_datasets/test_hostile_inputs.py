"""Damaged files through a real loading pipeline: every failure names the file.

Construction-time checks (missing files, size mismatch, colour-coded labels, grey/RGBA photos)
are in test_sp_datasets.py; these are the failures that only show when the pixels are decoded.
"""
import os

import pytest
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

from mmsp.utils import make_tiny_camvid

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]


def _camvid(root):
    init_default_scope('mmseg')
    return DATASETS.build(
        dict(type='CamVidDataset', data_root=str(root), pipeline=PIPELINE,
             data_prefix=dict(img_path='images/train', seg_map_path='labels/train')))


def _truncate(path, keep=1 / 3):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])  # the header survives, the pixels do not


@pytest.fixture
def camvid(tmp_path):
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

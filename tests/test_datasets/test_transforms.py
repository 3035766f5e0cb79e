"""MapLabels (fine -> coarse look-up), PackSegInputsWithMaps and the CamVid coarse table."""
import re

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, TRANSFORMS
from PIL import Image

from mmsp.datasets import (CAMVID_COARSE_CLASSES, CAMVID_FINE_TO_COARSE, CamVidDataset, MapLabels,
                           PackSegInputsWithMaps)

init_default_scope('mmseg')

# the coarse category of every CamVid class, written out by name
COARSE_OF = dict(Sky='sky', Building='construction', Pole='object', Road='flat', Pavement='flat',
                 Tree='nature', SignSymbol='object', Fence='construction', Car='vehicle',
                 Pedestrian='human', Bicyclist='human')


def test_camvid_table_maps_every_class_by_name():
    fine = CamVidDataset.METAINFO['classes']
    assert len(CAMVID_FINE_TO_COARSE) == len(fine) + 1  # + Unlabelled (raw id 11)
    for i, name in enumerate(fine):
        assert CAMVID_COARSE_CLASSES[CAMVID_FINE_TO_COARSE[i]] == COARSE_OF[name]
    assert CAMVID_FINE_TO_COARSE[CamVidDataset.UNLABELLED_ID] == 255
    assert sorted(set(CAMVID_FINE_TO_COARSE) - {255}) == list(range(7))


def test_map_labels_keeps_ignore_and_dtype():
    labels = np.array([[0, 3, 4, 255], [8, 9, 10, 11]], np.uint8)
    t = TRANSFORMS.build(dict(type='MapLabels', lut=CAMVID_FINE_TO_COARSE))
    out = t(dict(gt_seg_map=labels, seg_fields=['gt_seg_map']))
    assert out['gt_coarse_seg_map'].tolist() == [[4, 0, 0, 255], [6, 5, 5, 255]]
    assert out['gt_coarse_seg_map'].dtype == np.uint8
    assert out['seg_fields'] == ['gt_seg_map', 'gt_coarse_seg_map']
    assert np.array_equal(out['gt_seg_map'], labels)  # the source map is left alone
    # values that do not fit the input's dtype widen it
    out = MapLabels([300, 1])(dict(gt_seg_map=np.array([[0, 1]], np.uint8)))
    assert out['gt_coarse_seg_map'].tolist() == [[300, 1]]


def test_map_labels_dict_table_and_custom_keys():
    t = MapLabels({0: 2, 5: 0}, in_key='a', out_key='b', ignore_index=7)
    out = t(dict(a=np.array([[5, 0, 7]])))
    assert out['b'].tolist() == [[0, 2, 7]] and out['seg_fields'] == ['b']
    assert 'lut=[2, -1, -1, -1, -1, 0]' in repr(t)


@pytest.mark.parametrize('labels,bad', [([[0, 12]], '[12]'), ([[200, 1, 254]], '[200, 254]'),
                                        ([[-1, 0]], '[-1]')])
def test_map_labels_rejects_labels_outside_the_table(labels, bad):
    t = MapLabels(CAMVID_FINE_TO_COARSE)
    with pytest.raises(ValueError, match=re.escape(bad) + r'.*x\.png.*not in the look-up table'):
        t(dict(gt_seg_map=np.array(labels), seg_map_path='x.png'))
    with pytest.raises(ValueError, match=r'labels \[1\]'):  # a gap of a dict table
        MapLabels({0: 0, 2: 1})(dict(gt_seg_map=np.array([[0, 1, 2]])))


def test_map_labels_argument_errors():
    with pytest.raises(ValueError, match='ignore_index'):
        MapLabels([0, -3])
    with pytest.raises(ValueError, match='out_key must differ'):
        MapLabels([0], out_key='gt_seg_map')
    with pytest.raises(ValueError, match='empty'):
        MapLabels([])
    with pytest.raises(TypeError, match='sequence or a dict'):
        MapLabels('0123')
    with pytest.raises(KeyError, match='LoadAnnotations'):
        MapLabels([0])(dict())


def test_geometric_transforms_after_map_labels_move_both_maps():
    rng = np.random.default_rng(0)
    fine = rng.integers(0, 11, (12, 10)).astype(np.uint8)
    results = dict(img=rng.integers(0, 255, (12, 10, 3), dtype=np.uint8), gt_seg_map=fine,
                   seg_fields=['gt_seg_map'], img_shape=(12, 10))
    for cfg in (dict(type='MapLabels', lut=CAMVID_FINE_TO_COARSE),
                dict(type='RandomFlip', prob=1.0, direction='horizontal'),
                dict(type='RandomCrop', crop_size=(7, 6))):
        results = TRANSFORMS.build(cfg)(results)
    lut = np.array(CAMVID_FINE_TO_COARSE)
    assert results['gt_coarse_seg_map'].shape == (7, 6)
    assert np.array_equal(results['gt_coarse_seg_map'], lut[results['gt_seg_map']])


def test_pack_extra_maps():
    fine = np.array([[0, 3], [9, 255]], np.uint8)
    results = MapLabels(CAMVID_FINE_TO_COARSE)(
        dict(img=np.zeros((2, 2, 3), np.uint8), gt_seg_map=fine, img_path='a.jpg'))
    packed = TRANSFORMS.build(dict(type='PackSegInputsWithMaps'))(results)
    sample = packed['data_samples']
    assert sample.gt_coarse_sem_seg.data.dtype == torch.int64
    assert sample.gt_coarse_sem_seg.data.tolist() == [[[4, 0], [5, 255]]]
    assert sample.gt_sem_seg.data.tolist() == [[[0, 3], [9, 255]]]  # as PackSegInputs packs it
    assert sample.img_path == 'a.jpg' and packed['inputs'].shape == (3, 2, 2)
    # absent maps are skipped (inference without labels)
    bare = PackSegInputsWithMaps()(dict(img=np.zeros((2, 2, 3), np.uint8)))['data_samples']
    assert 'gt_coarse_sem_seg' not in bare and 'gt_sem_seg' not in bare


def test_pack_extra_maps_errors():
    with pytest.raises(ValueError, match='choose other names'):
        PackSegInputsWithMaps(extra_maps=dict(gt_coarse_seg_map='gt_sem_seg'))
    pack = PackSegInputsWithMaps(extra_maps=dict(parts='gt_part_sem_seg'))
    with pytest.raises(ValueError, match='differ in size'):
        pack(dict(gt_seg_map=np.zeros((4, 4), np.uint8), parts=np.zeros((4, 3), np.uint8)))
    with pytest.raises(ValueError, match=r'must be \(H, W\)'):
        pack(dict(parts=np.zeros((1, 4, 3), np.uint8)))


def test_camvid_pipeline_packs_the_coarse_level(tmp_path):
    (tmp_path / 'images').mkdir()
    (tmp_path / 'labels').mkdir()
    labels = np.array([[0, 1, 2, 3], [8, 9, 10, 11], [4, 5, 6, 7]], np.uint8)
    Image.fromarray(np.zeros((3, 4, 3), np.uint8)).save(tmp_path / 'images' / 'f.jpg')
    Image.fromarray(labels).save(tmp_path / 'labels' / 'f.png')
    dataset = DATASETS.build(dict(
        type='CamVidDataset', data_root=str(tmp_path),
        data_prefix=dict(img_path='images', seg_map_path='labels'),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                  dict(type='MapLabels', lut=CAMVID_FINE_TO_COARSE),
                  dict(type='PackSegInputsWithMaps')]))
    sample = dataset[0]['data_samples']
    lut = np.array(CAMVID_FINE_TO_COARSE)
    assert sample.gt_sem_seg.data[0, 1, 3] == 255  # Unlabelled, mapped by the dataset
    assert np.array_equal(sample.gt_coarse_sem_seg.data[0].numpy(), lut[labels])

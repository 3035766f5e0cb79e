"""CamVid, BSDS500 and Pascal-Parts-58 datasets: real shared data (skipped if absent) + fixtures."""
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, TRANSFORMS
from PIL import Image

from mmsp.datasets import (BSDS500Dataset, CamVidDataset, PascalParts58Dataset,
                           load_bsds_segmentations, voc_colormap)

init_default_scope('mmseg')
SEG_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
BSDS_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadBSDSAnnotations'),
    dict(type='PackMultiAnnotationInputs')
]


def write_pair(root,
               split,
               stem,
               size=(8, 6),
               mode='RGB',
               label=None,
               label_size=None,
               label_mode='L',
               img_dir='images',
               ann_dir='labels'):
    """An image and an index annotation under ``root/{images,labels}/split``."""
    (root / img_dir / split).mkdir(parents=True, exist_ok=True)
    (root / ann_dir / split).mkdir(parents=True, exist_ok=True)
    w, h = size
    rng = np.random.default_rng(len(stem))
    pixels = rng.integers(0, 255, (h, w, len(mode) if mode != 'L' else 1), dtype=np.uint8)
    Image.fromarray(pixels.squeeze(-1) if mode == 'L' else pixels,
                    mode).save(root / img_dir / split /
                               f'{stem}.{"png" if mode in ("RGBA", "LA") else "jpg"}' if mode in (
                                   'RGBA', 'LA') else root / img_dir / split / f'{stem}.jpg')
    if label is not None:
        lw, lh = label_size or size
        lab = np.full((lh, lw), label, np.uint8) if np.isscalar(label) else label
        Image.fromarray(lab if label_mode == 'L' else np.stack([lab] * 3, -1)).save(
            root / ann_dir / split / f'{stem}.png')


# ---------------------------------------------------------------------------- CamVid
def camvid(root, **kw):
    kw.setdefault('pipeline', SEG_PIPELINE)
    return DATASETS.build(
        dict(
            type='CamVidDataset',
            data_root=str(root),
            data_prefix=dict(img_path='images/val', seg_map_path='labels/val'),
            **kw))


@pytest.mark.data
def test_camvid_real_data(camvid_root):
    ds = camvid(camvid_root)
    assert len(ds) == 101
    assert ds.metainfo['classes'][0] == 'Sky' and len(ds.metainfo['classes']) == 11
    assert len(ds.metainfo['palette']) == 11
    sample = ds[0]
    assert tuple(sample['inputs'].shape) == (3, 360, 480)
    values = set(np.unique(sample['data_samples'].gt_sem_seg.data.numpy()).tolist())
    assert values <= set(range(11)) | {255} and 11 not in values


def test_camvid_unlabelled_maps_to_ignore_and_class_subsets(tmp_path):
    label = np.array([[0, 3, 11, 10]] * 2, np.uint8)
    write_pair(tmp_path, 'val', 'a', size=(4, 2), label=label)
    gt = camvid(tmp_path)[0]['data_samples'].gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(gt[0], [0, 3, 255, 10])
    # a class subset composes with the Unlabelled mapping; a custom ignore_index is honoured
    sub = camvid(tmp_path, metainfo=dict(classes=('Road', 'Sky')), ignore_index=254)
    gt = sub[0]['data_samples'].gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(gt[0], [1, 0, 254, 254])  # dropped class 10: ignored too


def test_camvid_grayscale_and_rgba_images_load_as_3_channels(tmp_path):
    write_pair(tmp_path, 'val', 'gray', mode='L', label=1)
    ds = camvid(tmp_path)
    assert tuple(ds[0]['inputs'].shape) == (3, 6, 8)
    write_pair(tmp_path, 'val', 'rgba', mode='RGBA', label=1)
    ds = DATASETS.build(
        dict(
            type='CamVidDataset',
            data_root=str(tmp_path),
            img_suffix='.png',
            data_prefix=dict(img_path='images/val', seg_map_path='labels/val'),
            pipeline=SEG_PIPELINE))
    assert len(ds) == 1 and tuple(ds[0]['inputs'].shape) == (3, 6, 8)


def test_camvid_bad_files_name_the_file(tmp_path):
    write_pair(tmp_path, 'val', 'ok', label=1)
    write_pair(tmp_path, 'val', 'nolabel')
    with pytest.raises(FileNotFoundError, match='nolabel.png'):
        camvid(tmp_path)
    (tmp_path / 'images/val/nolabel.jpg').unlink()
    write_pair(tmp_path, 'val', 'small', label=1, label_size=(4, 3))
    with pytest.raises(ValueError, match=r'small.png is 4x3 .* is 8x6'):
        camvid(tmp_path)
    (tmp_path / 'labels/val/small.png').unlink()
    write_pair(tmp_path, 'val', 'small', label=1, label_mode='RGB')
    with pytest.raises(ValueError, match='colour-coded'):
        camvid(tmp_path)
    assert len(camvid(tmp_path, check_files=False)) == 2  # checks can be switched off
    with pytest.raises(ValueError, match='reduce_zero_label'):
        camvid(tmp_path, reduce_zero_label=True)


def test_camvid_split_file(tmp_path):
    for stem in ('a', 'b', 'c'):
        write_pair(tmp_path, 'val', stem, label=0)
    (tmp_path / 'split.txt').write_text('c\n\na\n')
    ds = camvid(tmp_path, ann_file='split.txt')
    assert [ds.get_data_info(i)['img_path'][-5:] for i in range(len(ds))] == ['a.jpg', 'c.jpg']
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        camvid(tmp_path, ann_file='missing.txt')


# ---------------------------------------------------------------------------- BSDS500
def write_bsds(root, stem, segs, size=(6, 4), dtype=np.uint16):
    from scipy.io import savemat
    (root / 'images/val').mkdir(parents=True, exist_ok=True)
    (root / 'groundTruth/val').mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(root / f'images/val/{stem}.jpg')
    cells = np.empty((1, len(segs)), dtype=object)
    for k, seg in enumerate(segs):
        cells[0, k] = {
            'Segmentation': seg.astype(dtype),
            'Boundaries': np.zeros_like(seg, np.uint8)
        }
    savemat(root / f'groundTruth/val/{stem}.mat', {'groundTruth': cells})


def bsds(root, **kw):
    kw.setdefault('pipeline', BSDS_PIPELINE)
    return DATASETS.build(
        dict(
            type='BSDS500Dataset',
            data_root=str(root),
            data_prefix=dict(img_path='images/val', seg_map_path='groundTruth/val'),
            **kw))


def test_bsds_fixture_all_and_each(tmp_path):
    segs = [
        np.ones((4, 6), int),
        np.repeat([[1, 1, 1, 2, 2, 2]], 4, 0),
        np.arange(24).reshape(4, 6) + 1
    ]
    write_bsds(tmp_path, '1', segs)
    write_bsds(tmp_path, '2', segs[:2])
    np.testing.assert_array_equal(
        load_bsds_segmentations(str(tmp_path / 'groundTruth/val/1.mat')), np.stack(segs))
    ds = bsds(tmp_path)
    assert len(ds) == 2
    gt = ds[0]['data_samples'].gt_sem_seg.data
    assert tuple(gt.shape) == (3, 4, 6) and gt.dtype.is_floating_point is False
    np.testing.assert_array_equal(gt.numpy(), np.stack(segs))
    each = bsds(
        tmp_path,
        annotation_mode='each',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadBSDSAnnotations'),
            dict(type='PackSegInputs')
        ])
    assert len(each) == 5
    np.testing.assert_array_equal(each[1]['data_samples'].gt_sem_seg.data[0].numpy(), segs[1])
    with pytest.raises(ValueError, match='annotation_mode'):
        bsds(tmp_path, annotation_mode='first')


def test_bsds_bad_files(tmp_path):
    write_bsds(tmp_path, '1', [np.ones((4, 6), int)])
    (tmp_path / 'images/val/2.jpg').write_bytes((tmp_path / 'images/val/1.jpg').read_bytes())
    with pytest.raises(FileNotFoundError, match='2.mat'):
        bsds(tmp_path)
    (tmp_path / 'groundTruth/val/2.mat').write_bytes(b'not a mat file')
    ds = bsds(tmp_path)
    with pytest.raises(ValueError, match='not a BSDS500 ground-truth file'):
        ds[1]
    write_bsds(tmp_path, '3', [np.ones((5, 6), int)])  # annotation taller than the image
    with pytest.raises(ValueError, match='do not match the image'):
        bsds(tmp_path)[2]
    load = TRANSFORMS.build(dict(type='LoadBSDSAnnotations'))
    with pytest.raises(IndexError, match='out of range'):
        load(dict(seg_map_path=str(tmp_path / 'groundTruth/val/1.mat'), annotation_index=3))


@pytest.mark.data
def test_bsds_real_data(bsds_root):
    ds = bsds(bsds_root, indices=3)
    assert len(ds) == 3
    sample = ds[0]
    gt = sample['data_samples'].gt_sem_seg.data
    assert 4 <= gt.shape[0] <= 9 and tuple(gt.shape[1:]) in ((321, 481), (481, 321))
    assert tuple(sample['inputs'].shape[1:]) == tuple(gt.shape[1:])
    assert int(gt.min()) >= 1  # region ids are 1-based
    full = BSDS500Dataset(
        data_root=str(bsds_root),
        annotation_mode='each',
        pipeline=[],
        data_prefix=dict(img_path='images/val', seg_map_path='groundTruth/val'))
    assert len(full) == 546  # image-annotation pairs of BSDS500 val


# ---------------------------------------------------------------------------- Pascal-Parts-58
def test_pascal_parts58_fixture(tmp_path):
    label = np.array([[0, 57, 255, 12]] * 2, np.uint8)
    for stem in ('2008_000001', '2008_000002'):
        write_pair(
            tmp_path,
            '',
            stem,
            size=(4, 2),
            label=label,
            img_dir='JPEGImages',
            ann_dir='SegmentationPart58')
    (tmp_path / 'ImageSets').mkdir()
    (tmp_path / 'ImageSets/val.txt').write_text('2008_000002\n')
    ds = DATASETS.build(
        dict(
            type='PascalParts58Dataset',
            data_root=str(tmp_path),
            data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationPart58'),
            ann_file='ImageSets/val.txt',
            pipeline=SEG_PIPELINE))
    assert len(ds) == 1 and len(ds.metainfo['classes']) == 58
    assert ds.metainfo['classes'][0] == 'background' and len(ds.metainfo['palette']) == 58
    np.testing.assert_array_equal(ds[0]['data_samples'].gt_sem_seg.data[0, 0].numpy(), label[0])
    (tmp_path / 'SegmentationPart58/2008_000002.png').unlink()
    with pytest.raises(FileNotFoundError, match='2008_000002.png'):
        PascalParts58Dataset(
            data_root=str(tmp_path),
            ann_file='ImageSets/val.txt',
            data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationPart58'))


def test_voc_colormap():
    cmap = voc_colormap(21)
    assert cmap[:4] == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    assert cmap[15] == [192, 128, 128]  # VOC 'person'
    assert len({tuple(c) for c in voc_colormap(58)}) == 58


def test_camvid_is_importable_from_mmsp():
    assert DATASETS.get('CamVidDataset') is CamVidDataset

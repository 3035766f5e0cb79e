"""make_tiny_camvid: the generated CamVid-layout fallback set."""
import numpy as np
import pytest
from mmengine.registry import DefaultScope
from PIL import Image

from mmsp.utils import make_tiny_camvid


def test_layout_values_and_determinism(tmp_path):
    root = make_tiny_camvid(str(tmp_path / 'a'), {'train': 3, 'val': 1}, size=(40, 56), seed=1)
    images = sorted((tmp_path / 'a' / 'images' / 'train').glob('*.jpg'))
    labels = sorted((tmp_path / 'a' / 'labels' / 'train').glob('*.png'))
    assert root == str(tmp_path / 'a')
    assert len(images) == len(labels) == 3
    assert [p.stem for p in images] == [p.stem for p in labels]
    assert len(list((tmp_path / 'a' / 'images' / 'val').glob('*.jpg'))) == 1
    for img, lab in zip(images, labels):
        image, label = Image.open(img), Image.open(lab)
        assert image.mode == 'RGB' and image.size == (56, 40)
        assert label.mode == 'L' and label.size == (56, 40)
        values = np.unique(np.asarray(label))
        assert values.max() <= 11 and 11 in values and len(values) >= 2
    make_tiny_camvid(str(tmp_path / 'b'), {'train': 3, 'val': 1}, size=(40, 56), seed=1)
    for rel in ('labels/train', 'images/train'):
        for a, b in zip(sorted((tmp_path / 'a' / rel).iterdir()),
                        sorted((tmp_path / 'b' / rel).iterdir())):
            assert a.read_bytes() == b.read_bytes()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='at least'):
        make_tiny_camvid(str(tmp_path), size=(4, 64))
    with pytest.raises(ValueError, match="'val'"):
        make_tiny_camvid(str(tmp_path), {'train': 1, 'val': 0})


def test_camvid_dataset_reads_it(tmp_path):
    from mmseg.registry import DATASETS
    make_tiny_camvid(str(tmp_path), {'train': 2, 'val': 1})
    with DefaultScope.overwrite_default_scope('mmseg'):
        dataset = DATASETS.build(dict(
            type='CamVidDataset', data_root=str(tmp_path),
            data_prefix=dict(img_path='images/train', seg_map_path='labels/train'),
            pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]))
    assert len(dataset) == 2
    sample = dataset[0]
    raw = np.asarray(Image.open(sample['seg_map_path']))
    seg = sample['gt_seg_map']
    assert (seg[raw == 11] == 255).all() and (seg[raw < 11] == raw[raw < 11]).all()

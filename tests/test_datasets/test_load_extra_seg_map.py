"""LoadExtraSegMap: the second label map of an image from a parallel folder, cropped and
flipped with gt_seg_map, packed next to it."""
import numpy as np
import pytest
from mmcv.transforms import Compose, LoadImageFromFile
from mmseg.datasets.transforms import LoadAnnotations, RandomFlip
from PIL import Image

import mmsp  # noqa: F401
from mmsp.datasets.transforms import LoadExtraSegMap, PackSegInputsWithMaps


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)


def test_reads_the_parallel_folder_and_follows_the_geometry(tmp_path):
    rng = np.random.default_rng(0)
    parts = rng.integers(0, 5, (12, 16))
    objects = rng.integers(0, 3, (12, 16))
    objects[0, 0] = 0
    _write(tmp_path / 'parts' / 'train' / 'a.png', parts)
    _write(tmp_path / 'objects' / 'train' / 'a.png', objects)
    _write(tmp_path / 'img' / 'a.png', rng.integers(0, 255, (12, 16, 3)))
    pipeline = Compose([
        LoadImageFromFile(),
        LoadAnnotations(),
        LoadExtraSegMap(replace=('parts', 'objects')),
        RandomFlip(prob=1.0),
        PackSegInputsWithMaps(),
    ])
    out = pipeline(dict(img_path=str(tmp_path / 'img' / 'a.png'),
                        seg_map_path=str(tmp_path / 'parts' / 'train' / 'a.png'),
                        reduce_zero_label=False, seg_fields=[]))
    sample = out['data_samples']
    np.testing.assert_array_equal(sample.gt_sem_seg.data[0].numpy(), parts[:, ::-1])
    np.testing.assert_array_equal(sample.gt_coarse_sem_seg.data[0].numpy(), objects[:, ::-1])
    # reduce_zero_label: 0 -> 255, k -> k - 1
    loaded = LoadExtraSegMap(('parts', 'objects'), out_key='obj', reduce_zero_label=True)(
        dict(seg_map_path=str(tmp_path / 'parts' / 'train' / 'a.png')))
    expected = np.where(objects == 0, 255, objects - 1)
    np.testing.assert_array_equal(loaded['obj'], expected)
    assert loaded['seg_fields'] == ['obj']


def test_errors(tmp_path):
    with pytest.raises(ValueError, match='replace must be two folder names'):
        LoadExtraSegMap(('parts', ))
    with pytest.raises(ValueError, match='out_key must differ'):
        LoadExtraSegMap(('a', 'b'), out_key='gt_seg_map')
    with pytest.raises(ValueError, match="folder 'parts' is not in"):
        LoadExtraSegMap(('parts', 'objects'))(dict(seg_map_path=str(tmp_path / 'x' / 'a.png')))
    with pytest.raises(KeyError, match='no seg_map_path'):
        LoadExtraSegMap(('parts', 'objects'))({})
    # only a folder is replaced, never the file name
    assert LoadExtraSegMap(('a', 'b')).extra_path('/r/a/x/a') == '/r/b/x/a'

"""The metric's per-image state is O(classes + superpixels), never O(pixels).

mmengine keeps ``metric.results`` for the whole dataset and pickles it to gather the ranks, so
what :meth:`SuperpixelMetric.process` stores per image must not grow with the image size.
"""
import pickle

import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmsp.evaluation import SuperpixelMetric


def _state_bytes(size: int, num_classes: int = 19, cell: int = 64) -> int:
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[:size, :size]
    sp = (ys // cell) * (size // cell) + xs // cell  # (size / cell)^2 superpixels
    gt = np.kron(rng.integers(0, num_classes, (size // 32, size // 32)), np.ones((32, 32), int))
    gt[:, :3] = 255
    ds = SegDataSample(metainfo=dict(img_path='synthetic.png'))
    ds.pred_superpixels = PixelData(data=torch.as_tensor(sp)[None])
    ds.gt_sem_seg = PixelData(data=torch.as_tensor(gt)[None])
    sample = ds.to_dict()
    sample['ori_img'] = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    metric = SuperpixelMetric(num_classes=num_classes)  # every default key, EV and CO included
    metric.process({}, [sample])
    out = metric.compute_metrics(metric.results)
    assert out['num_superpixels'] == (size // cell)**2
    return len(pickle.dumps(metric.results))


def test_state_does_not_grow_with_pixels():
    small, large = _state_bytes(256), _state_bytes(2048)  # 64 vs 1024 superpixels, 64x pixels
    assert large < 4096, large  # the 2048x2048 label map alone is 32 MB as int64
    assert abs(large - small) < 256, (small, large)

"""SuperpixelVisualizationHook draws panels during val/test iterations."""
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import HOOKS
from mmseg.structures import SegDataSample


def make_sample(path, with_assoc=False):
    ds = SegDataSample(metainfo=dict(img_path=str(path), association_cell_size=2))
    ids = torch.arange(4).repeat_interleave(4).view(4, 4)
    ds.pred_superpixels = PixelData(data=ids.view(1, 8, 2).repeat(1, 1, 3)[:, :, :6])
    if with_assoc:
        ds.pred_association = PixelData(data=torch.zeros(9, 4, 3))
    return ds


class FakeRunner:

    def __init__(self, work_dir):
        self.work_dir, self.timestamp, self.iter = str(work_dir), 'ts', 0
        self.images = []
        self.visualizer = SimpleNamespace(
            add_image=lambda name, img, step: self.images.append((name, img.shape, step)))


def test_hook_draws_every_interval(tmp_path):
    cv2.imwrite(str(tmp_path / 'a.png'), np.full((8, 6, 3), 90, np.uint8))
    hook = HOOKS.build(dict(type='SuperpixelVisualizationHook', draw=True, interval=2))
    runner = FakeRunner(tmp_path)
    for i in range(4):
        hook.after_test_iter(runner, i, None, [make_sample(tmp_path / 'a.png')])
    assert [r[0] for r in runner.images] == ['test_a_superpixels'] * 2
    assert [r[2] for r in runner.images] == [0, 2]
    # with the association: a third (heat map) panel; to PNG files with out_dir
    hook = HOOKS.build(
        dict(type='SuperpixelVisualizationHook', draw=True, interval=1, out_dir='vis'))
    hook.after_val_iter(runner, 0, None, [make_sample(tmp_path / 'a.png', with_assoc=True)])
    written = cv2.imread(str(tmp_path / 'ts' / 'vis' / 'val_a_superpixels.png'))
    two = hook.render(make_sample(tmp_path / 'a.png'))
    assert written is not None and written.shape[1] > two.shape[1]


def test_hook_off_by_default_and_checks(tmp_path):
    hook = HOOKS.build(dict(type='SuperpixelVisualizationHook'))
    runner = FakeRunner(tmp_path)
    hook.after_test_iter(runner, 0, None, [make_sample(tmp_path / 'missing.png')])
    assert runner.images == []
    with pytest.raises(ValueError, match='interval'):
        HOOKS.build(dict(type='SuperpixelVisualizationHook', interval=0))
    cv2.imwrite(str(tmp_path / 'b.png'), np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(ValueError, match='differ in size'):
        HOOKS.build(dict(type='SuperpixelVisualizationHook')).render(
            make_sample(tmp_path / 'b.png'))

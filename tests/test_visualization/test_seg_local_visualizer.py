"""SuperpixelSegLocalVisualizer: [gt |] prediction | superpixel boundaries, side by side."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import VISUALIZERS
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer

import mmsp  # noqa: F401
from mmsp.visualization import SuperpixelSegLocalVisualizer

META = dict(classes=('a', 'b'), palette=[[255, 0, 0], [0, 0, 255]])
H, W = 12, 16


def _sample(superpixels=True, ids_size=(H, W)):
    sample = SegDataSample()
    labels = torch.zeros(1, H, W, dtype=torch.long)
    labels[:, :, W // 2:] = 1
    sample.gt_sem_seg = PixelData(data=labels)
    sample.pred_sem_seg = PixelData(data=labels.clone())
    if superpixels:
        ids = torch.zeros(1, *ids_size, dtype=torch.long)
        ids[:, :, ids_size[1] // 4:] = 1  # one vertical boundary
        sample.pred_superpixels = PixelData(data=ids)
    return sample


def _visualizer(cls, name):
    vis = cls(name=name, alpha=0.5)
    vis.dataset_meta = META
    return vis


def _image():
    return np.full((H, W, 3), 100, np.uint8)


def test_registered():
    assert VISUALIZERS.get('SuperpixelSegLocalVisualizer') is SuperpixelSegLocalVisualizer


def test_third_panel_draws_the_superpixel_boundary(tmp_path):
    vis = _visualizer(SuperpixelSegLocalVisualizer, 'sp_vis_a')
    out = tmp_path / 'a.png'
    vis.add_datasample('a', _image(), _sample(), out_file=str(out))
    drawn = vis.get_image()
    assert drawn.shape == (H, 3 * W, 3) and out.is_file()
    panel = drawn[:, 2 * W:]
    # reference: pixels whose right or left 4-neighbour has another id are boundary pixels
    ids = np.zeros((H, W), int)
    ids[:, W // 4:] = 1
    edge = np.zeros((H, W), bool)
    edge[:, :-1] |= ids[:, :-1] != ids[:, 1:]
    edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    assert (panel[edge] == (255, 255, 0)).all()
    assert (panel[~edge] == 100).all()


def test_panels_without_gt_and_with_resized_ids():
    vis = _visualizer(SuperpixelSegLocalVisualizer, 'sp_vis_b')
    vis.add_datasample('b', _image(), _sample(ids_size=(H // 2, W // 2)), draw_gt=False)
    drawn = vis.get_image()
    assert drawn.shape == (H, 2 * W, 3)
    assert (drawn[:, W:][:, W // 4 - 1:W // 4 + 1] == (255, 255, 0)).all()


def test_samples_without_superpixels_are_drawn_as_by_mmseg():
    ours = _visualizer(SuperpixelSegLocalVisualizer, 'sp_vis_c')
    stock = _visualizer(SegLocalVisualizer, 'seg_vis_c')
    ours.add_datasample('c', _image(), _sample(superpixels=False))
    stock.add_datasample('c', _image(), _sample(superpixels=False))
    np.testing.assert_array_equal(ours.get_image(), stock.get_image())


def test_bad_colour():
    with pytest.raises(ValueError, match='boundary_color'):
        SuperpixelSegLocalVisualizer(name='sp_vis_d', boundary_color=(1, 2))


def test_fourth_panel_draws_groups_in_their_mean_colour():
    """A two-level prediction (``pred_groups``) adds a panel: each group filled with the mean
    colour of its pixels, its boundary in the boundary colour."""
    vis = _visualizer(SuperpixelSegLocalVisualizer, 'sp_vis_groups')
    image = np.zeros((H, W, 3), np.uint8)
    image[:, :, 0] = np.arange(W, dtype=np.uint8)[None] * 10  # red ramp along x
    sample = _sample()
    groups = torch.zeros(1, H, W, dtype=torch.long)
    groups[:, H // 2:] = 1  # two horizontal bands
    sample.pred_groups = PixelData(data=groups)
    vis.add_datasample('g', image, sample)
    drawn = vis.get_image()
    assert drawn.shape == (H, 4 * W, 3)
    panel = drawn[:, 3 * W:]
    edge = np.zeros((H, W), bool)
    edge[H // 2 - 1:H // 2 + 1] = True  # rows on either side of the band boundary
    assert (panel[edge] == (255, 255, 0)).all()
    mean_red = round(float(np.arange(W).mean() * 10))  # both bands hold every column
    assert (np.abs(panel[~edge][:, 0].astype(int) - mean_red) <= 1).all()
    assert (panel[~edge][:, 1:] == 0).all()
    # without pred_groups the drawing stays at three panels
    vis.add_datasample('g2', image, _sample())
    assert vis.get_image().shape == (H, 3 * W, 3)

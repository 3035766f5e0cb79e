"""Superpixel drawing primitives (pure numpy / OpenCV, PNG output)."""
import cv2
import numpy as np
import pytest
import torch

from mmsp.ops import association_logits, merge_heads
from mmsp.visualization import (association_heatmap, colorize_ids, draw_boundaries, make_panel,
                                mean_color_image, occlude_image, overlay_heatmap, rotate_image,
                                save_rgb, wrap_title)

IDS = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2]])


def test_draw_boundaries_marks_both_sides_only():
    img = np.zeros((3, 4, 3), np.uint8)
    out = draw_boundaries(img, IDS, color=(255, 0, 0))
    marked = out[..., 0] == 255
    np.testing.assert_array_equal(marked, [[0, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1]])
    assert (out[..., 1:] == 0).all() and (img == 0).all()  # input untouched
    with pytest.raises(ValueError, match='differ in size'):
        draw_boundaries(img, IDS[:2])


def test_mean_color_image_by_hand():
    img = np.zeros((3, 4, 3), np.uint8)
    img[0, 0] = (40, 80, 120)
    out = mean_color_image(img, IDS * 7 - 3)  # arbitrary ids
    np.testing.assert_array_equal(out[1, 1], (10, 20, 30))  # 4 pixels in superpixel 0
    assert (out[:, 2:][:2] == 0).all() and (out[2] == 0).all()
    assert len({tuple(c) for c in colorize_ids(IDS).reshape(-1, 3)}) == 3


def test_association_heatmaps_sum_to_one_over_superpixels():
    torch.manual_seed(0)
    x = torch.randn(1, 4, 8, 12)
    z = torch.randn(1, 4, 2, 3)
    logits = merge_heads(association_logits(x, z, stride=4, num_heads=2))[0]  # (9, 8, 12)
    total = sum(
        association_heatmap(logits, 4, superpixel=(r, c)) for r in range(2) for c in range(3))
    np.testing.assert_allclose(total, 1.0, atol=1e-5)  # every pixel's weights over all superpixels
    weights = torch.softmax(logits, 0)
    sp = association_heatmap(logits, 4, superpixel=(0, 0))
    assert sp[1, 1] == pytest.approx(float(weights[4, 1, 1]))  # own cell = candidate 4
    assert sp[6, 10] == 0  # outside the 3x3-cell window of superpixel (0, 0)
    px = association_heatmap(logits, 4, pixel=(5, 6))
    assert 0 < px.max() <= 1 and px.shape == (8, 12)
    with pytest.raises(ValueError, match='exactly one'):
        association_heatmap(logits, 4)
    with pytest.raises(ValueError, match='outside'):
        association_heatmap(logits, 4, superpixel=(2, 0))
    with pytest.raises(ValueError, match=r'\(9, H, W\)'):
        association_heatmap(logits[:4], 4, pixel=(0, 0))


def test_overlay_panel_variants_and_save(tmp_path):
    img = np.full((20, 30, 3), 100, np.uint8)
    heat = np.zeros((5, 8))
    heat[2, 3] = 1
    over = overlay_heatmap(img, heat)
    assert over.shape == img.shape and not np.array_equal(over, img)
    panel = make_panel([img, over, img[:10]], ['a', 'b', 'c'], cols=2)
    assert panel.shape[0] > 2 * 20 and panel.shape[1] > 2 * 30
    rot = rotate_image(img, 90)
    assert rot.shape == img.shape and (rot[0, 0] == 0).all()  # corners filled
    np.testing.assert_array_equal(rotate_image(img, 0), img)
    occ = occlude_image(img, 4, top_left=(2, 3), fill=(1, 2, 3))
    np.testing.assert_array_equal(occ[2:6, 3:7], np.broadcast_to((1, 2, 3), (4, 4, 3)))
    assert (occ[:2] == 100).all()
    path = save_rgb(str(tmp_path / 'sub' / 'p.png'), panel)
    back = cv2.imread(path)[..., ::-1]
    np.testing.assert_array_equal(back, panel)
    with pytest.raises(ValueError, match='titles'):
        make_panel([img], ['a', 'b'])


def test_titles_wrap_instead_of_being_cut():
    assert wrap_title('spformer-t_cifar10 [iter_2000] (16) original', 16) == [
        'spformer-t_cifar', '10 [iter_2000]', '(16) original'
    ]
    assert wrap_title('', 5) == [''] and wrap_title('ab cd', 5) == ['ab cd']
    assert all(len(line) <= 7 for line in wrap_title('a long title with abcdefghijklmno', 7))
    img = np.full((20, 40, 3), 255, np.uint8)  # 5 characters per line
    one = make_panel([img, img], ['a', 'b'])
    three = make_panel([img, img], ['a', 'abcde fghij klmno'])
    assert three.shape[0] == one.shape[0] + 2 * 16  # two more title lines, nothing cut
    title_rows = three[4:4 + 3 * 16 + 6, 4 + 44:4 + 44 + 40]  # the second cell's title area
    inked = np.nonzero((title_rows < 128).any(axis=(1, 2)))[0]
    assert inked.min() < 16 and inked.max() > 2 * 16  # ink on the first and the last line


def test_colorbar_strip_and_labels():
    from mmsp.visualization import draw_colorbar
    img = np.zeros((40, 90, 3), np.uint8)
    out = draw_colorbar(img, 0.0, 0.5, bar_width=10)
    assert out.shape == img.shape and (img == 0).all()  # a copy
    margin = 10 + 8 + 8 * 4
    assert (out[:, :90 - margin] == 0).all()  # the image is untouched left of the strip
    bar = out[4:36, 90 - margin + 2:90 - margin + 12].astype(int)
    # JET: red at the top (high values), blue at the bottom
    assert bar[0, 0, 0] > 100 and bar[0, 0, 2] < 50 and bar[-1, 0, 2] > 100 and bar[-1, 0, 0] < 50
    assert (out[:, 90 - margin + 15:] < 255).any()  # the labels
    with pytest.raises(ValueError, match='too small'):
        draw_colorbar(np.zeros((10, 90, 3), np.uint8), 0, 1)


def test_fit_width():
    from mmsp.visualization import fit_width
    assert fit_width((321, 481), 5) == (264, 395)  # (2000 - 4) // 5 - 4 = 395
    assert fit_width((10, 20), 3) == (10, 20)  # never enlarged
    for cols in (1, 4, 9):
        h, w = fit_width((500, 700), cols, 1000)
        assert cols * (w + 4) + 4 <= 1000
    with pytest.raises(ValueError):
        fit_width((10, 10), 0)

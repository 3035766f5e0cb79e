"""tools/visualization/visualize_supervoxels.py: a public-domain pan clip, one colour per
supervoxel across frames, the PNG panel."""
import cv2
import numpy as np
import pytest
from tools_helpers import load_tool

V = load_tool('visualization/visualize_supervoxels')


def test_astronaut_pan_moves_the_window():
    clip = V.astronaut_pan(3, (40, 50), 5)
    assert clip.shape == (3, 40, 50, 3) and clip.dtype == np.uint8
    np.testing.assert_array_equal(clip[1, :-5, :-5], clip[0, 5:, 5:])
    with pytest.raises(ValueError, match='--step'):
        V.astronaut_pan(8, (240, 320), 40)


def test_overlay_gives_a_supervoxel_one_colour_in_every_frame():
    rgb = np.zeros((3, 8, 8, 3), np.uint8)
    ids = np.zeros((3, 8, 8), np.int64)
    ids[:, :, 4:] = 1
    ids[2, :, :4] = 2  # a new supervoxel in the last frame
    drawn = V.overlay(rgb, ids, alpha=1.0)
    inner = drawn[:, 2:6, 1]  # away from the boundaries
    assert (inner[0] == inner[1]).all() and not (inner[2] == inner[0]).all()
    np.testing.assert_array_equal(drawn[0, 3, 6], drawn[2, 3, 6])


def test_writes_the_panel(tmp_path):
    out = str(tmp_path / 'panel.png')
    results = V.main(['--frames', '4', '--size', '48', '64', '--step', '4', '--scale', '1',
                      '--out', out])
    assert list(results) == ['grid-3d', 'slic-3d']
    panel = cv2.imread(out)
    assert panel is not None and panel.shape[1] >= 4 * 64 and panel.shape[0] >= 2 * 48
    V.main(['--frames', '4', '--size', '48', '64', '--step', '4', '--scale', '1', '--show', '0',
            '2', '--out', out])
    assert 2 * 64 <= cv2.imread(out).shape[1] < 3 * 64
    with pytest.raises(ValueError, match='--show'):
        V.main(['--frames', '4', '--size', '48', '64', '--show', '4', '--out', out])
    with pytest.raises(ValueError, match='go together'):
        V.main(['--config', 'x.py', '--out', out])

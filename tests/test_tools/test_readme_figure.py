"""tools/visualization/readme_figure.py: superpixel panels, group panels for two-level models."""
import numpy as np

from tools_helpers import load_tool


def _maps():
    img = np.zeros((20, 30, 3), np.uint8)
    img[:, 15:] = 200
    ids = np.zeros((20, 30), np.int64)
    ids[:, 10:] = 1
    ids[:, 20:] = 2
    groups = (ids > 0).astype(np.int64)
    return img, ids, groups


def test_figure_has_two_panels_without_groups_and_four_with():
    tool = load_tool('visualization/readme_figure')
    img, ids, groups = _maps()
    two = tool.draw_figure(img, ids, 'model')
    four = tool.draw_figure(img, ids, 'model', groups)
    assert two.ndim == 3 and four.ndim == 3 and two.dtype == four.dtype == np.uint8
    # the group panels are as wide as the superpixel panels: twice the width, same height
    assert four.shape[0] == two.shape[0]
    assert abs(four.shape[1] - 2 * two.shape[1]) <= 2 * 10
    # the group mean-colour panel holds the right group's mean, (5 * 0 + 15 * 200) / 20 = 150 on
    # the first channel, a colour no superpixel has (their means are 0, 100 and 200)
    # (count pixels: panel resizing blends neighbouring colours along edges only)
    near = lambda fig: int((np.abs(fig[..., 0].astype(int) - 150) <= 1).sum())  # noqa: E731
    assert near(four) > 20 * near(two) + 100

"""make_moving_shapes: labels consistent with the drawn shapes, motion, occlusion, speed."""
import time

import numpy as np
import pytest

from mmsp.datasets import SHAPE_CLASSES, make_moving_shapes


def _inside(kind, y, x, cy, cx, r):
    """Whether pixel (y, x) lies in a shape of class ``kind`` centred at (cy, cx)."""
    dy, dx = y - cy, x - cx
    if SHAPE_CLASSES[kind] == 'disc':
        return dy * dy + dx * dx <= r * r
    if SHAPE_CLASSES[kind] == 'square':
        return abs(dy) <= r and abs(dx) <= r
    return dy <= r and abs(dx) <= (dy + r) / 2  # triangle, apex up


def test_shapes_dtypes_and_determinism():
    clip = make_moving_shapes()
    assert clip.video.shape == (8, 64, 64, 3) and clip.video.dtype == np.uint8
    assert clip.instances.shape == clip.classes.shape == (8, 64, 64)
    assert clip.centres.shape == (3, 8, 2) and clip.radii.shape == clip.shape_classes.shape == (3, )
    again = make_moving_shapes()
    for a, b in zip(clip, again):
        assert np.array_equal(a, b)
    assert not np.array_equal(clip.instances, make_moving_shapes(seed=1).instances)
    other = make_moving_shapes(T=5, H=20, W=33, n_shapes=2, seed=4)
    assert other.video.shape == (5, 20, 33, 3) and other.instances.max() <= 2


@pytest.mark.parametrize('seed', range(4))
def test_labels_follow_the_depth_order_of_the_drawn_shapes(seed):
    """Every pixel carries the front-most shape that covers it (painter's order), its class
    and colour; uncovered pixels are the static background."""
    clip = make_moving_shapes(T=3, H=24, W=28, n_shapes=4, seed=seed, entering=True)
    n, occluded = len(clip.radii), 0
    for t in range(3):
        for y in range(24):
            for x in range(28):
                covering = [
                    k + 1 for k in range(n) if _inside(clip.shape_classes[k], y, x,
                                                       *clip.centres[k, t], clip.radii[k])
                ]
                front = max(covering, default=0)
                occluded += len(covering) > 1
                assert clip.instances[t, y, x] == front
                assert clip.classes[t, y, x] == (clip.shape_classes[front - 1] if front else 0)
    for k in range(1, n + 1):  # one flat colour per shape, the same in every frame
        assert len(np.unique(clip.video[clip.instances == k], axis=0)) == 1
    still = clip.instances == 0
    assert np.array_equal(clip.video[0][still[0] & still[2]], clip.video[2][still[0] & still[2]])
    assert np.abs(clip.video[still].astype(int) - 128).mean() < 20  # low contrast
    assert occluded > 0  # shapes do hide each other here


@pytest.mark.parametrize('seed', range(6))
def test_speed_and_bouncing(seed):
    clip = make_moving_shapes(T=40, H=32, W=48, n_shapes=3, max_speed=3.0, seed=seed)
    steps = np.linalg.norm(np.diff(clip.centres, axis=1), axis=2)
    assert (steps <= 3.0 + 1e-9).all() and (steps > 0).any()
    for k, r in enumerate(clip.radii):
        ys, xs = clip.centres[k, :, 0], clip.centres[k, :, 1]
        assert ys.min() >= r - 1e-9 and ys.max() <= 31 - r + 1e-9
        assert xs.min() >= r - 1e-9 and xs.max() <= 47 - r + 1e-9
    # over 40 frames at up to 3 px/frame every shape has turned at least once
    turned = [np.any(np.diff(np.sign(np.diff(clip.centres[k], axis=0)), axis=0) != 0)
              for k in range(3)]
    assert all(turned)


def test_entering_shape():
    clip = make_moving_shapes(seed=0, entering=True)
    k = len(clip.radii)  # the entering shape is the last (front) one
    visible = [(clip.instances[t] == k).sum() for t in range(8)]
    assert visible[0] == 0 and visible[-1] > 0
    assert np.all(np.diff(clip.centres[k - 1, :, 1]) == 2.0)  # straight in, at max_speed


def test_fast_and_argument_errors():
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        make_moving_shapes(entering=True)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.010
    with pytest.raises(ValueError, match='max_speed'):
        make_moving_shapes(max_speed=-1)
    assert make_moving_shapes(n_shapes=0).instances.max() == 0

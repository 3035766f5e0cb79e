"""Synthetic clips of moving shapes, with exact instance and class labels (tests, demos)."""
import math
from typing import NamedTuple

import numpy as np

__all__ = ['SHAPE_CLASSES', 'MovingShapes', 'make_moving_shapes']

#: Class ids of :func:`make_moving_shapes`.
SHAPE_CLASSES = ('background', 'disc', 'square', 'triangle')


class MovingShapes(NamedTuple):
    """A generated clip.

    Attributes:
        video (np.ndarray): (T, H, W, 3) uint8 RGB frames.
        instances (np.ndarray): (T, H, W) int64; 0 is the background, ``k >= 1`` the k-th shape,
            the same id in every frame.
        classes (np.ndarray): (T, H, W) int64 ids of :data:`SHAPE_CLASSES`.
        shape_classes (np.ndarray): (n,) class id of every shape (``shape_classes[k - 1]``).
        centres (np.ndarray): (n, T, 2) float (y, x) centre of every shape in every frame.
        radii (np.ndarray): (n,) float radius of every shape.
    """
    video: np.ndarray
    instances: np.ndarray
    classes: np.ndarray
    shape_classes: np.ndarray
    centres: np.ndarray
    radii: np.ndarray


def _shape_masks(kind: int, cy: np.ndarray, cx: np.ndarray, radius: float, height: int,
                 width: int) -> np.ndarray:
    """(T, H, W) masks of one shape whose centre is at ``(cy[t], cx[t])``."""
    dy = np.arange(height)[None, :, None] - cy[:, None, None]
    dx = np.arange(width)[None, None, :] - cx[:, None, None]
    if kind == 1:  # disc
        return dy**2 + dx**2 <= radius**2
    if kind == 2:  # axis-aligned square of side 2r
        return (np.abs(dy) <= radius) & (np.abs(dx) <= radius)
    # isosceles triangle: apex r above the centre, base r below it, 2r wide
    return (dy <= radius) & (np.abs(dx) <= (dy + radius) / 2)


def make_moving_shapes(T: int = 8,
                       H: int = 64,
                       W: int = 64,
                       n_shapes: int = 3,
                       max_speed: float = 2.0,
                       seed: int = 0,
                       entering: bool = False,
                       noise: float = 8.0) -> MovingShapes:
    """A clip of shapes moving over a noise background, with exact labels.

    Each shape (drawn at random: disc ``|p - c| <= r``, square ``|dy|, |dx| <= r``, or triangle
    with its apex ``r`` above the centre and a ``2r`` wide base ``r`` below it) has a random
    colour with one channel at 0 or 255, a radius ``r`` of 1/10 to 1/5 of the frame's smaller
    side and a constant velocity of up to ``max_speed`` pixels per frame; it bounces off the
    frame borders (its centre stays at least ``r`` inside). Shapes are stacked in a fixed depth
    order, shape ``k + 1`` in front of shape ``k``, so they occlude each other. The background
    is a static low-contrast texture: grey 128 plus Gaussian noise of standard deviation
    ``noise``.

    With ``entering=True`` one more shape (the front one) starts just outside the left border
    and moves right at ``max_speed`` without bouncing: it is invisible in frame 0 and enters
    from about frame ``1 / max_speed`` on (if the clip is long enough). Deterministic for a
    given ``seed``; about 2 ms at the default size.

    Args:
        T, H, W (int): frames, height and width.
        n_shapes (int): number of bouncing shapes.
        max_speed (float): maximum speed in pixels per frame.
        seed (int): random seed.
        entering (bool): add a shape that enters from the left.
        noise (float): standard deviation of the background texture.

    Returns:
        MovingShapes: video, instance ids, class ids and the class of every shape.
    """
    if min(T, H, W) < 1 or n_shapes < 0 or max_speed < 0 or noise < 0:
        raise ValueError(f'make_moving_shapes: need T, H, W >= 1, n_shapes >= 0, '
                         f'max_speed >= 0 and noise >= 0; got T={T}, H={H}, W={W}, '
                         f'n_shapes={n_shapes}, max_speed={max_speed}, noise={noise}')
    rng = np.random.default_rng(seed)
    background = np.clip(128 + noise * rng.standard_normal((H, W, 3)), 0, 255).astype(np.uint8)
    video = np.repeat(background[None], T, axis=0)
    instances = np.zeros((T, H, W), np.int64)
    classes = np.zeros((T, H, W), np.int64)
    num = n_shapes + int(entering)
    kinds = rng.integers(1, len(SHAPE_CLASSES), num)
    side = min(H, W)
    radii = rng.uniform(max(side / 10, 1.0), max(side / 5, 1.0), num)
    all_centres = np.zeros((num, T, 2))
    for k in range(num):
        colour = rng.integers(0, 256, 3)
        colour[rng.integers(3)] = 255 * rng.integers(2)  # one saturated channel: contrast
        r = radii[k]
        if k < n_shapes:
            lo, hi = np.minimum(r, [H / 2, W / 2]), np.maximum([H - 1 - r, W - 1 - r], r)
            lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
            pos = rng.uniform(lo, hi)
            angle = rng.uniform(0, 2 * math.pi)
            vel = rng.uniform(0.5, 1.0) * max_speed * np.array([math.sin(angle),
                                                                math.cos(angle)])
            centres = np.empty((T, 2))
            for t in range(T):
                centres[t] = pos
                pos = pos + vel
                low, high = pos < lo, pos > hi  # bounce: reflect at the border
                pos = np.where(low, 2 * lo - pos, np.where(high, 2 * hi - pos, pos))
                vel = np.where(low | high, -vel, vel)
                pos = np.clip(pos, lo, hi)
        else:  # enters from the left
            y = rng.uniform(min(r, H / 2), max(H - 1 - r, H / 2))
            start = -r - 1.0
            centres = np.stack([np.full(T, y), start + max_speed * np.arange(T)], axis=1)
        all_centres[k] = centres
        mask = _shape_masks(int(kinds[k]), centres[:, 0], centres[:, 1], r, H, W)
        video[mask] = colour.astype(np.uint8)
        instances[mask] = k + 1
        classes[mask] = kinds[k]
    return MovingShapes(video, instances, classes, kinds.astype(np.int64), all_centres, radii)

"""upsample_association against a per-window loop reference written from its docstring.

For every superpixel the reference gathers its (3s)x(3s) window of logits from the pixel side
(window pixel -> the pixel's candidate that points at this superpixel), upsamples the window
with a hand-written bilinear formula (half-pixel centres, ``align_corners=False``) normalised
by the valid entries, and writes the result back to the pixel side of the finer grid.
"""
import math

import numpy as np
import pytest
import torch

from mmsp.ops import upsample_association


def _taps(i: int, size: int, factor: int):
    """Input samples and weights of output sample ``i`` (bilinear, half-pixel centres)."""
    src = max((i + 0.5) / factor - 0.5, 0.0)
    i0 = int(math.floor(src))
    i1 = min(i0 + 1, size - 1)
    frac = src - i0
    return [(i0, 1.0 - frac), (i1, frac)]


def _reference(logits: np.ndarray, s: int, f: int) -> np.ndarray:
    batch, heads, _, height, width = logits.shape
    rows, cols = -(-height // s), -(-width // s)
    side, fine_side = 3 * s, 3 * s * f
    out = np.full((batch, heads, 9, height * f, width * f), -np.inf)
    for b in range(batch):
        for m in range(heads):
            for cy in range(rows):
                for cx in range(cols):
                    # the window of superpixel (cy, cx), read from the pixel side
                    window = np.zeros((side, side))
                    valid = np.zeros((side, side), bool)
                    for i in range(side):
                        for j in range(side):
                            y, x = (cy - 1) * s + i, (cx - 1) * s + j
                            if 0 <= y < height and 0 <= x < width:
                                dy, dx = cy - y // s, cx - x // s
                                value = logits[b, m, 3 * (dy + 1) + (dx + 1), y, x]
                                if np.isfinite(value):
                                    window[i, j], valid[i, j] = value, True
                    # valid-weighted bilinear upsampling, written back to the finer pixels
                    for i in range(fine_side):
                        for j in range(fine_side):
                            y, x = (cy - 1) * s * f + i, (cx - 1) * s * f + j
                            if not (0 <= y < height * f and 0 <= x < width * f):
                                continue
                            num = den = 0.0
                            for ii, wi in _taps(i, side, f):
                                for jj, wj in _taps(j, side, f):
                                    if valid[ii, jj]:
                                        num += wi * wj * window[ii, jj]
                                        den += wi * wj
                            dy, dx = cy - y // (s * f), cx - x // (s * f)
                            out[b, m, 3 * (dy + 1) + (dx + 1), y, x] = (
                                num / den if den > 0 else -np.inf)
    return out


@pytest.mark.parametrize('size,stride,factor', [((7, 8), 3, 2), ((5, 6), 2, 3), ((4, 5), 1, 2),
                                                ((6, 9), 3, 2)])
def test_matches_the_per_window_reference(size, stride, factor):
    g = torch.Generator().manual_seed(sum(size) + stride + factor)
    logits = torch.randn(2, 2, 9, *size, generator=g, dtype=torch.float64)
    out = upsample_association(logits, stride, factor)
    expected = _reference(logits.numpy(), stride, factor)
    assert out.shape == expected.shape and out.dtype == torch.float64
    out = out.numpy()
    assert np.array_equal(np.isinf(out), np.isinf(expected))  # masked entries agree
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], rtol=0, atol=1e-12)


def test_invalid_pixels_carry_no_weight():
    """Masked (-inf) logits inside the image are left out of the interpolation, not filled."""
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(1, 1, 9, 6, 6, generator=g, dtype=torch.float64)
    logits[0, 0, 4, 2, 3] = float('-inf')
    out = upsample_association(logits, 2, 2).numpy()
    expected = _reference(logits.numpy(), 2, 2)
    finite = np.isfinite(expected)
    assert np.array_equal(finite, np.isfinite(out))
    np.testing.assert_allclose(out[finite], expected[finite], rtol=0, atol=1e-12)

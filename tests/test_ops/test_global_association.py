"""Global association ops against loops: logits, per-head weighted sums, pixel -> group
composition (rows sum to one; equal to the explicit sum over each pixel's 9 candidates)."""
import math

import pytest
import torch

from mmsp.ops import (association_logits, compose_group_association, global_association_logits,
                      heads_weighted_sum, upsample_association)


def test_logits_and_weighted_sum_match_loops():
    torch.manual_seed(0)
    q, k = torch.randn(2, 5, 6, dtype=torch.double), torch.randn(2, 7, 6, dtype=torch.double)
    logits = global_association_logits(q, k, num_heads=3)
    assert logits.shape == (2, 3, 5, 7)
    for m in range(3):
        sl = slice(2 * m, 2 * m + 2)
        torch.testing.assert_close(logits[:, m], q[..., sl] @ k[..., sl].transpose(1, 2) /
                                   math.sqrt(2))
    weights = torch.softmax(logits, -1)
    v = torch.randn(2, 7, 9, dtype=torch.double)
    out = heads_weighted_sum(weights, v)
    expected = torch.zeros(2, 5, 9, dtype=torch.double)
    for m in range(3):
        for i in range(5):
            for j in range(7):
                sl = slice(3 * m, 3 * m + 3)
                expected[:, i, sl] += weights[:, m, i, j, None] * v[:, j, sl]
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match='divisible by 4 heads'):
        global_association_logits(q, k, num_heads=4)
    with pytest.raises(ValueError, match='must be'):
        heads_weighted_sum(weights, torch.randn(2, 6, 9))


def _reference_composition(assoc, weights, stride):
    """sum_n softmax_n(merged A_p)_n mean_m b[m, c_n(p), g] by explicit candidate loops."""
    b, m, _, height, width = assoc.shape
    rows, cols = -(-height // stride), -(-width // stride)
    merged = assoc.sum(1) / math.sqrt(m)
    probs = torch.softmax(merged, dim=1)  # -inf candidates get 0
    bbar = weights.mean(1)  # (B, N, G)
    out = torch.zeros(b, weights.shape[-1], height, width, dtype=assoc.dtype)
    for y in range(height):
        for x in range(width):
            cy, cx = y // stride, x // stride
            for n in range(9):
                ny, nx = cy + n // 3 - 1, cx + n % 3 - 1
                if 0 <= ny < rows and 0 <= nx < cols:
                    out[:, :, y, x] += probs[:, n, y, x, None] * bbar[:, ny * cols + nx]
    return out


@pytest.mark.parametrize('size,stride', [((8, 12), 4), ((7, 10), 3), ((5, 5), 5)])
def test_composition_matches_candidate_loop(size, stride):
    torch.manual_seed(0)
    pixels = torch.randn(2, 4, *size, dtype=torch.double)
    grid = (-(-size[0] // stride), -(-size[1] // stride))
    sp = torch.randn(2, 4, *grid, dtype=torch.double)
    assoc = association_logits(pixels, sp, stride, num_heads=2)  # -inf outside the grid
    weights = torch.softmax(torch.randn(2, 3, grid[0] * grid[1], 5, dtype=torch.double), -1)
    probs = compose_group_association(assoc, weights, stride)
    assert probs.shape == (2, 5, *size)
    torch.testing.assert_close(probs.sum(1), torch.ones(2, *size, dtype=torch.double))
    torch.testing.assert_close(probs, _reference_composition(assoc, weights, stride))
    # with upsampling: the composition of the upsampled association
    up = compose_group_association(assoc, weights, stride, factor=2)
    torch.testing.assert_close(
        up, _reference_composition(upsample_association(assoc, stride, 2), weights, 2 * stride))


def test_composition_errors():
    assoc = torch.zeros(1, 2, 9, 8, 8)
    with pytest.raises(ValueError, match='4 superpixels in the group weights'):
        compose_group_association(assoc, torch.ones(1, 1, 4, 3) / 3, stride=2)
    with pytest.raises(ValueError, match='expected association'):
        compose_group_association(assoc[0], torch.ones(1, 1, 4, 3), stride=4)

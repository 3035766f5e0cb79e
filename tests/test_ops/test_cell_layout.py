"""Channels-last cell layout helpers, the fused window fold, the candidate softmax, mask caching."""
import pytest
import torch

from mmsp.ops import SuperpixelGrid, shift_to_superpixels, to_blocks
from mmsp.ops.association import candidate_softmax
from mmsp.ops.cell_layout import cell_heads, fold_to_superpixels, from_cells, to_cells

SHAPES = [(8, 8, 4), (10, 7, 3), (5, 7, 1), (3, 3, 4), (1, 6, 2), (12, 5, 5)]


@pytest.mark.parametrize('h,w,s', SHAPES)
def test_cells_match_block_layout_and_roundtrip(h, w, s):
    grid = SuperpixelGrid.of((h, w), s)
    x = torch.randn(2, 6, h, w, dtype=torch.float64)
    cells = to_cells(x, grid)
    assert cells.shape == (2, grid.rows, grid.cols, s * s, 6)
    # the per-head view is exactly the head-leading block layout of mmsp.ops.grid
    assert torch.equal(cell_heads(cells, 3), to_blocks(x, grid, 3))
    back = from_cells(cells, grid)
    assert back.is_contiguous() and torch.equal(back, x)


@pytest.mark.parametrize('h,w', [(1, 1), (1, 4), (3, 1), (4, 5)])
def test_fold_equals_shift_then_sum(h, w):
    u = torch.randn(2, 3, h, w, 9, 5, dtype=torch.float64, requires_grad=True)
    ours = fold_to_superpixels(u)
    ref = shift_to_superpixels(u).sum(dim=4)
    torch.testing.assert_close(ours, ref, atol=1e-12, rtol=1e-12)
    g = torch.randn_like(ref)
    g_ours, = torch.autograd.grad(ours, u, g)
    g_ref, = torch.autograd.grad(ref, u, g)
    torch.testing.assert_close(g_ours, g_ref)


def test_candidate_softmax_matches_torch_with_masked_entries():
    logits = torch.randn(2, 3, 4, 5, 16, 9, dtype=torch.float64) * 5
    logits[..., 0] = float('-inf')
    logits[0, 0, 0, 0, :, :8] = float('-inf')  # one valid candidate only
    logits.requires_grad_()
    ours = candidate_softmax(logits)
    ref = torch.softmax(logits, -1)
    torch.testing.assert_close(ours, ref)
    g = torch.randn_like(ref)
    torch.testing.assert_close(torch.autograd.grad(ours, logits, g)[0],
                               torch.autograd.grad(ref, logits, g)[0])
    assert candidate_softmax(torch.randn(3, 9, dtype=torch.bfloat16)).dtype == torch.float32


def test_masks_are_cached_and_correct():
    grid = SuperpixelGrid.of((10, 7), 3)
    assert grid.neighbor_mask() is SuperpixelGrid.of((11, 9), 3).neighbor_mask()  # same 4 x 3 grid
    assert grid.pixel_mask() is SuperpixelGrid.of((10, 7), 3).pixel_mask()
    assert grid.is_padded and not SuperpixelGrid.of((9, 6), 3).is_padded
    # against a direct construction
    valid = grid.neighbor_mask()
    for r in range(grid.rows):
        for c in range(grid.cols):
            for n in range(9):
                rr, cc = r + n // 3 - 1, c + n % 3 - 1
                assert valid[r, c, n] == (0 <= rr < grid.rows and 0 <= cc < grid.cols)
    pm = grid.pixel_mask()
    ones = to_blocks(torch.ones(1, 1, 10, 7), grid)[0, 0, :, :, :, 0]
    assert torch.equal(pm, ones.bool())
    with torch.inference_mode():
        fresh = SuperpixelGrid.of((13, 13), 6).neighbor_mask()
    assert not fresh.is_inference()


@pytest.mark.parametrize('h,w,s', [(8, 8, 4), (10, 7, 3)])
def test_from_cells_channels_last_has_the_same_values(h, w, s):
    grid = SuperpixelGrid.of((h, w), s)
    x = torch.randn(2, 6, h, w, dtype=torch.float64)
    back = from_cells(to_cells(x, grid), grid, channels_last=True)
    assert back.is_contiguous(memory_format=torch.channels_last) and torch.equal(back, x)


@pytest.mark.parametrize('h,w,s', [(8, 8, 4), (10, 7, 3), (4, 4, 4)])
def test_superpixel_update_with_values_shared_by_the_heads(h, w, s):
    """Values (B, 1, ...) shared by M heads equal the same values expanded to every head."""
    from mmsp.ops import block_superpixel_update
    grid = SuperpixelGrid.of((h, w), s)
    raw = torch.randn(2, 3, grid.rows, grid.cols, s * s, 9, dtype=torch.float64,
                      requires_grad=True)
    values = torch.randn(2, 1, grid.rows, grid.cols, s * s, 5, dtype=torch.float64,
                         requires_grad=True)

    def logits():
        return raw.masked_fill(~grid.neighbor_mask()[:, :, None, :], float('-inf'))

    shared = block_superpixel_update(logits(), values, grid)
    expanded = block_superpixel_update(logits(), values.expand(-1, 3, -1, -1, -1, -1), grid)
    torch.testing.assert_close(shared, expanded, atol=1e-12, rtol=1e-12)
    g = torch.randn_like(shared)
    for a, r in zip(torch.autograd.grad(shared, [raw, values], g),
                    torch.autograd.grad(expanded, [raw, values], g)):
        torch.testing.assert_close(a, r)
    with pytest.raises(ValueError, match='1 or 3 heads'):
        block_superpixel_update(logits(), values.expand(-1, 2, -1, -1, -1, -1), grid)

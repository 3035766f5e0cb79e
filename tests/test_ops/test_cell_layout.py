"""Cell (block) layout round trips, 2-D and 3-D, and the candidate softmax."""
import pytest
import torch

from mmsp.ops import SuperpixelGrid, to_blocks
from mmsp.ops.association import candidate_softmax
from mmsp.ops.cell_layout import cell_heads, from_cells, to_cells

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


@pytest.mark.parametrize('size,cell', [((5, 9, 7), (2, 4, 4)), ((4, 8, 8), (4, 4, 4)),
                                       ((1, 3, 2), (1, 2, 2))])
def test_cells_3d_roundtrip_and_order(size, cell):
    grid = SuperpixelGrid.of(size, cell)
    x = torch.randn(2, 4, *size, dtype=torch.float64)
    cells = to_cells(x, grid)
    assert cells.shape == (2, *grid.shape, grid.cell_pixels, 4)
    # slot (i, j, k) of cell (a, b, c) is voxel (a st + i, b s + j, c s + k), row-major
    t, y, xx = 1 % size[0], 2 % size[1], 3 % size[2]
    c = (t // cell[0], y // cell[1], xx // cell[2])
    slot = ((t % cell[0]) * cell[1] + y % cell[1]) * cell[2] + xx % cell[2]
    assert torch.equal(cells[(0, ) + c + (slot, )], x[0, :, t, y, xx])
    back = from_cells(cells, grid, channels_last=True)
    assert back.is_contiguous(memory_format=torch.channels_last_3d) and torch.equal(back, x)


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

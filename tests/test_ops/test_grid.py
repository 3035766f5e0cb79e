"""Neighbour re-indexing on the superpixel grid against explicit loops (float64)."""
import pytest
import torch

from mmsp.ops import (NEIGHBOR_OFFSETS, SuperpixelGrid, gather_neighbors, shift_to_pixels,
                      shift_to_superpixels)
from mmsp.ops.grid import candidate_rows
from mmsp.ops.cell_layout import fold_to_superpixels as fold_windows

# (h, w, rest): grids down to 1x1 and one or two trailing dims
SHAPES = [(4, 5, (3, )), (1, 1, (2, )), (2, 1, ()), (1, 3, (2, 3)), (3, 3, ())]


def _loop_shift(u, sign, fill):
    """out[..., c, n, :] = u[..., c + sign * offset(n), n, :] by loops."""
    out = torch.full_like(u, fill)
    h, w = u.shape[2:4]
    for i in range(h):
        for j in range(w):
            for n, (dy, dx) in enumerate(NEIGHBOR_OFFSETS):
                y, x = i + sign * dy, j + sign * dx
                if 0 <= y < h and 0 <= x < w:
                    out[:, :, i, j, n] = u[:, :, y, x, n]
    return out


@pytest.mark.parametrize('h,w,rest', SHAPES)
def test_gather_neighbors_matches_loops(h, w, rest):
    z = torch.randn(2, 3, h, w, *rest, dtype=torch.float64)
    out = gather_neighbors(z, fill=-7.0)
    assert out.shape == (2, 3, h, w, 9, *rest)
    for i in range(h):
        for j in range(w):
            for n, (dy, dx) in enumerate(NEIGHBOR_OFFSETS):
                y, x = i + dy, j + dx
                ref = z[:, :, y, x] if 0 <= y < h and 0 <= x < w else torch.full_like(
                    z[:, :, 0, 0], -7.0)
                assert torch.equal(out[:, :, i, j, n], ref), (i, j, n)


@pytest.mark.parametrize('h,w,rest', SHAPES)
def test_shifts_and_fold_match_loops(h, w, rest):
    u = torch.randn(2, 3, h, w, 9, *rest, dtype=torch.float64)
    assert torch.equal(shift_to_pixels(u, 5.0), _loop_shift(u, 1, 5.0))
    assert torch.equal(shift_to_superpixels(u, float('-inf')), _loop_shift(u, -1, float('-inf')))
    torch.testing.assert_close(fold_windows(u), _loop_shift(u, -1, 0.0).sum(4))
    # the two shifts are inverse on the entries that stay inside the grid
    back = shift_to_pixels(shift_to_superpixels(u, 0.0), 0.0)
    inside = _loop_shift(torch.ones_like(u), -1, 0.0) > 0
    assert torch.equal(back[_loop_shift(inside.double(), 1, 0.0) > 0],
                       u[_loop_shift(inside.double(), 1, 0.0) > 0])


def test_gradients_match_loops_and_gradcheck():
    u = torch.randn(1, 2, 3, 4, 9, 2, dtype=torch.float64, requires_grad=True)
    z = torch.randn(1, 2, 3, 4, 2, dtype=torch.float64, requires_grad=True)
    for ours, ref, leaf in ((fold_windows, lambda t: _loop_shift(t, -1, 0.0).sum(4), u),
                            (shift_to_pixels, lambda t: _loop_shift(t, 1, 0.0), u),
                            (shift_to_superpixels, lambda t: _loop_shift(t, -1, 0.0), u)):
        out = ours(leaf)
        g = torch.randn_like(out)
        torch.testing.assert_close(
            torch.autograd.grad(out, leaf, g)[0],
            torch.autograd.grad(ref(leaf), leaf, g)[0])
        assert torch.autograd.gradcheck(ours, (leaf, ))
    # the adjoint of gathering the candidates is folding them back onto the superpixels
    g = torch.randn(1, 2, 3, 4, 9, 2, dtype=torch.float64)
    torch.testing.assert_close(
        torch.autograd.grad(gather_neighbors(z), z, g)[0], fold_windows(g))
    assert torch.autograd.gradcheck(gather_neighbors, (z, ))


@pytest.mark.parametrize('b,h,w', [(2, 3, 4), (1, 1, 1), (3, 2, 1), (1, 1, 5)])
def test_candidate_rows_read_the_candidates_in_place(b, h, w):
    z = torch.randn(b, h, w, 6, dtype=torch.float64)
    rows = candidate_rows(z)
    gathered = gather_neighbors(z.unsqueeze(1)).squeeze(1)  # (B, h, w, 9, K)
    valid = SuperpixelGrid.of((h, w), 1).neighbor_mask()  # (h, w, 9)
    for dy, view in zip((-1, 0, 1), rows):
        assert view.shape == (b * h * w, 3, 6)
        for dx in (-1, 0, 1):
            n = 3 * (dy + 1) + dx + 1
            ours = view[:, dx + 1].reshape(b, h, w, 6)
            keep = valid[..., n].expand(b, h, w)
            assert torch.equal(ours[keep], gathered[..., n, :][keep])
    assert rows[1].storage_offset() != rows[0].storage_offset()  # views of one padded copy
    assert rows[0].untyped_storage().data_ptr() == rows[2].untyped_storage().data_ptr()

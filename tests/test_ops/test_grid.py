"""Grid geometry and neighbour re-indexing against explicit loops (float64), 2-D and 3-D."""
import itertools

import pytest
import torch

from mmsp.ops import NEIGHBOR_OFFSETS, SuperpixelGrid, gather_neighbors, shift_to_pixels, \
    shift_to_superpixels
from mmsp.ops.grid import fold_to_superpixels

# (grid shape, trailing dims): 2-D grids down to 1x1, 3-D grids down to 1x1x1
SHAPES = [((4, 5), (3, )), ((1, 1), (2, )), ((2, 1), ()), ((1, 3), (2, 3)), ((3, 3), ()),
          ((2, 3, 4), (2, )), ((1, 2, 2), ()), ((3, 1, 1), (2, ))]


def _offsets(ndim):
    """Row-major offsets over {-1, 0, 1} ** ndim, written out."""
    if ndim == 2:
        return [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return [(dt, dy, dx) for dt in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def _inside(cell, shape):
    return all(0 <= c < n for c, n in zip(cell, shape))


def _loop_shift(u, ndim, sign, fill):
    """out[:, :, c, n] = u[:, :, c + sign * offset(n), n] by loops."""
    shape = u.shape[2:2 + ndim]
    out = torch.full_like(u, fill)
    for cell in itertools.product(*(range(n) for n in shape)):
        for n, off in enumerate(_offsets(ndim)):
            src = tuple(c + sign * o for c, o in zip(cell, off))
            if _inside(src, shape):
                out[(slice(None), slice(None)) + cell + (n, )] = u[(slice(None), slice(None)) +
                                                                   src + (n, )]
    return out


def test_offsets_and_center():
    assert NEIGHBOR_OFFSETS == tuple(_offsets(2)) and NEIGHBOR_OFFSETS[4] == (0, 0)
    grid = SuperpixelGrid.of((5, 7, 9), (2, 4, 4))
    assert grid.offsets == tuple(_offsets(3)) and grid.offsets[grid.center] == (0, 0, 0)
    assert grid.num_candidates == 27 and grid.shape == (3, 2, 3) and grid.cell_pixels == 32


@pytest.mark.parametrize('shape,rest', SHAPES)
def test_gather_neighbors_matches_loops(shape, rest):
    nd = len(shape)
    z = torch.randn(2, 3, *shape, *rest, dtype=torch.float64)
    out = gather_neighbors(z, nd, fill=-7.0)
    assert out.shape == (2, 3, *shape, 3**nd, *rest)
    for cell in itertools.product(*(range(n) for n in shape)):
        for n, off in enumerate(_offsets(nd)):
            src = tuple(c + o for c, o in zip(cell, off))
            ref = z[(slice(None), slice(None)) + src] if _inside(src, shape) else torch.full_like(
                z[(slice(None), slice(None)) + (0, ) * nd], -7.0)
            assert torch.equal(out[(slice(None), slice(None)) + cell + (n, )], ref), (cell, n)


@pytest.mark.parametrize('shape,rest', SHAPES)
def test_shifts_and_fold_match_loops(shape, rest):
    nd = len(shape)
    u = torch.randn(2, 3, *shape, 3**nd, *rest, dtype=torch.float64)
    assert torch.equal(shift_to_pixels(u, nd, fill=5.0), _loop_shift(u, nd, 1, 5.0))
    assert torch.equal(shift_to_superpixels(u, nd, fill=float('-inf')),
                       _loop_shift(u, nd, -1, float('-inf')))
    torch.testing.assert_close(fold_to_superpixels(u, nd), _loop_shift(u, nd, -1, 0.0).sum(2 + nd))


@pytest.mark.parametrize('shape', [(3, 4), (2, 2, 3)])
def test_gradients_match_loops_and_adjoint(shape):
    nd = len(shape)
    u = torch.randn(1, 2, *shape, 3**nd, 2, dtype=torch.float64, requires_grad=True)
    z = torch.randn(1, 2, *shape, 2, dtype=torch.float64, requires_grad=True)
    for ours, ref in ((lambda t: fold_to_superpixels(t, nd),
                       lambda t: _loop_shift(t, nd, -1, 0.0).sum(2 + nd)),
                      (lambda t: shift_to_pixels(t, nd), lambda t: _loop_shift(t, nd, 1, 0.0))):
        out = ours(u)
        g = torch.randn_like(out)
        torch.testing.assert_close(
            torch.autograd.grad(out, u, g)[0],
            torch.autograd.grad(ref(u), u, g)[0])
    # the adjoint of gathering the candidates is folding them back onto the superpixels
    g = torch.randn(1, 2, *shape, 3**nd, 2, dtype=torch.float64)
    torch.testing.assert_close(
        torch.autograd.grad(gather_neighbors(z, nd), z, g)[0], fold_to_superpixels(g, nd))


@pytest.mark.parametrize('size,cell', [((10, 7), (3, 3)), ((8, 8), (4, 4)), ((5, 9, 7), (2, 4, 4)),
                                       ((1, 3, 5), (1, 2, 2))])
def test_masks_and_ids_match_loops(size, cell):
    grid = SuperpixelGrid.of(size, cell)
    nd = len(size)
    valid = grid.neighbor_mask()
    for c in itertools.product(*(range(n) for n in grid.shape)):
        for n, off in enumerate(_offsets(nd)):
            assert valid[c + (n, )] == _inside(tuple(a + o for a, o in zip(c, off)), grid.shape)
    ids = grid.cell_ids()
    steps = [1] * nd
    for d in range(nd - 2, -1, -1):
        steps[d] = steps[d + 1] * grid.shape[d + 1]
    for p in itertools.product(*(range(n) for n in size)):
        assert ids[p] == sum((v // c) * s for v, c, s in zip(p, cell, steps))
    expected = [sum(o * s for o, s in zip(off, steps)) for off in _offsets(nd)]
    assert grid.neighbor_id_offsets().tolist() == expected
    # block-layout slots that are real pixels: the padded map's ones, laid out in cells
    from mmsp.ops import to_blocks
    index = (0, 0) + (slice(None), ) * (nd + 1) + (0, )
    ones = to_blocks(torch.ones(1, 1, *size), grid)[index]
    assert torch.equal(grid.pixel_mask(), ones.bool())
    pixel_valid = grid.pixel_neighbor_mask()  # (K, *size)
    for p in itertools.product(*(range(n) for n in size)):
        c = tuple(v // s for v, s in zip(p, cell))
        assert torch.equal(pixel_valid[(slice(None), ) + p], valid[c])


def test_masks_are_cached_and_not_inference_tensors():
    grid = SuperpixelGrid.of((10, 7), 3)
    assert grid.neighbor_mask() is SuperpixelGrid.of((11, 9), 3).neighbor_mask()  # same 4 x 3 grid
    assert grid.pixel_mask() is SuperpixelGrid.of((10, 7), 3).pixel_mask()
    assert grid.is_padded and not SuperpixelGrid.of((9, 6), 3).is_padded
    with torch.inference_mode():
        fresh = SuperpixelGrid.of((13, 13), 6).neighbor_mask()
    assert not fresh.is_inference()


def test_grid_arguments_are_checked():
    with pytest.raises(ValueError, match='positive ints'):
        SuperpixelGrid.of((4, 0), 2)
    with pytest.raises(ValueError, match='different lengths'):
        SuperpixelGrid((4, 4), (2, ))
    with pytest.raises(ValueError, match='inconsistent'):
        SuperpixelGrid.from_tensors(torch.zeros(1, 2, 8, 8), torch.zeros(1, 2, 3, 2), 4)


def test_candidate_counts_of_a_clip_grid_interior_face_edge_corner():
    """27 candidates inside a clip grid, 18 on a face, 12 on an edge, 8 at a corner."""
    counts = SuperpixelGrid.of((6, 12, 12), (2, 4, 4)).neighbor_mask().sum(-1)  # 3 x 3 x 3 cells
    inside = [sum(0 < c < 2 for c in cell) for cell in itertools.product(range(3), repeat=3)]
    expected = {3: 27, 2: 18, 1: 12, 0: 8}  # by the number of interior coordinates
    assert counts.flatten().tolist() == [expected[i] for i in inside]


def test_causal_grid_masks_exactly_the_next_temporal_cell():
    """A causal grid keeps dt in {-1, 0}: 18 candidates inside, 9 in the first temporal cell."""
    grid = SuperpixelGrid.of((6, 12, 12), (2, 4, 4), causal=True)
    full = SuperpixelGrid.of((6, 12, 12), (2, 4, 4)).neighbor_mask()
    valid = grid.neighbor_mask()
    for c in itertools.product(range(3), repeat=3):
        for n, (dt, dy, dx) in enumerate(_offsets(3)):
            assert valid[c + (n, )] == (full[c + (n, )] and dt <= 0)
    assert valid[1, 1, 1].sum() == 18 and valid[0, 1, 1].sum() == 9 and valid[2, 1, 1].sum() == 18
    assert valid[2, 0, 0].sum() == 8 and valid[0, 0, 0].sum() == 4
    assert grid.pixel_neighbor_mask()[18:].logical_not().all()  # no pixel has a dt = +1 candidate
    assert grid != SuperpixelGrid.of((6, 12, 12), (2, 4, 4))  # distinct masks in the cache
    with pytest.raises(ValueError, match='causal'):
        SuperpixelGrid((4, 4), (2, 2), causal=1)

"""Hard superpixels: argmax ids, contiguity, upsampling and the connectivity pass."""
import numpy as np
import pytest
import torch
from scipy import ndimage

from mmsp.ops import (SuperpixelGrid, association_logits, association_to_superpixels,
                      enforce_connectivity, hard_assignment, ids_present, infer_pixel_stride,
                      merge_heads, relabel_contiguous, upsample_association)
from mmsp.ops.reference import dense_association_logits


def _logits(h, w, s, m=2, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    grid = SuperpixelGrid.of((h, w), s)
    return association_logits(torch.randn(2, c, h, w, generator=g),
                              torch.randn(2, c, grid.rows, grid.cols, generator=g), s, m)


def _slow_ids(logits, s):
    """Per-pixel loop: merged heads, own-cell tie bias, absolute id of the winner."""
    merged = merge_heads(logits)
    b, _, h, w = merged.shape
    grid = SuperpixelGrid.of((h, w), s)
    out = torch.empty(b, h, w, dtype=torch.long)
    for bi in range(b):
        for y in range(h):
            for x in range(w):
                vals = merged[bi, :, y, x]
                top = float(vals.max())
                n = 4 if vals[4] >= top - 1e-5 * max(1.0, abs(top)) else int(vals.argmax())
                out[bi, y, x] = (y // s + n // 3 - 1) * grid.cols + (x // s + n % 3 - 1)
    return out


@pytest.mark.parametrize('h,w,s', [(9, 13, 4), (7, 7, 1), (3, 5, 4)])
def test_ids_match_slow_reference_and_are_valid_neighbors(h, w, s):
    logits = _logits(h, w, s)
    ids, counts = hard_assignment(logits, s, contiguous=False)
    assert ids.dtype == torch.int64 and ids.shape == (2, h, w)
    assert torch.equal(ids, _slow_ids(logits, s))
    grid = SuperpixelGrid.of((h, w), s)
    assert ids.min() >= 0 and ids.max() < grid.num_superpixels
    cy, cx = ids // grid.cols, ids % grid.cols
    ys = (torch.arange(h) // s).view(1, -1, 1)
    xs = (torch.arange(w) // s).view(1, 1, -1)
    assert ((cy - ys).abs() <= 1).all() and ((cx - xs).abs() <= 1).all()
    assert torch.equal(counts, torch.tensor([len(torch.unique(i)) for i in ids]))


def test_ties_go_to_own_cell():
    logits = torch.zeros(1, 1, 9, 8, 8)
    ids, counts = hard_assignment(logits, 4, contiguous=False)
    assert torch.equal(ids[0], SuperpixelGrid.of((8, 8), 4).cell_ids())
    assert counts.tolist() == [4]


def test_ties_go_to_own_cell_for_large_interpolated_logits():
    # a constant (large) logit field: after interpolation every candidate ties up to rounding
    cells = torch.arange(6) // 3
    valid = SuperpixelGrid.of((6, 6), 3).neighbor_mask()[cells][:, cells].permute(2, 0, 1)
    logits = torch.full((1, 2, 9, 6, 6), 1.2345e4).masked_fill(~valid, float('-inf'))
    ids, counts = association_to_superpixels(logits, 3, pixel_stride=4)
    assert torch.equal(ids[0], SuperpixelGrid.of((24, 24), 12).cell_ids())
    assert counts.tolist() == [4]


def test_relabel_contiguous_per_image():
    ids = torch.tensor([[[5, 5, 9], [9, 2, 2]], [[0, 7, 7], [7, 7, 7]]])
    out, counts = relabel_contiguous(ids)
    assert out.tolist() == [[[1, 1, 2], [2, 0, 0]], [[0, 1, 1], [1, 1, 1]]]
    assert counts.tolist() == [3, 2]


def test_ids_present_and_a_given_bound_against_sets():
    torch.manual_seed(0)
    ids = torch.randint(0, 11, (3, 4, 5))
    present = ids_present(ids, 13)
    for b in range(3):
        assert set(present[b].nonzero().flatten().tolist()) == set(ids[b].flatten().tolist())
    # a bound above the largest id gives the same relabelling as the default
    out, counts = relabel_contiguous(ids, 13)
    ref_out, ref_counts = relabel_contiguous(ids)
    assert torch.equal(out, ref_out) and torch.equal(counts, ref_counts)
    assert counts.tolist() == [len(set(ids[b].flatten().tolist())) for b in range(3)]


def test_upsample_factor_one_is_identity_and_shapes():
    logits = _logits(6, 7, 3)
    assert upsample_association(logits, 3, 1) is logits
    up = upsample_association(logits, 3, 4)
    assert up.shape == (2, 2, 9, 24, 28)
    # the border mask of the fine grid (cell 12) is re-applied
    fine_valid = SuperpixelGrid.of((24, 28), 12).neighbor_mask()
    cy, cx = torch.arange(24) // 12, torch.arange(28) // 12
    expect_inf = ~fine_valid[cy][:, cx].permute(2, 0, 1)
    assert torch.equal(torch.isinf(up[0, 0]), expect_inf)


def test_upsampled_ids_agree_with_coarse_ids_inside_pixels():
    # constant logits inside each coarse pixel's window field -> nearest-like behaviour at
    # coarse pixel centres: the fine pixel at the centre of each coarse pixel keeps its id
    s, f = 2, 4
    logits = dense_association_logits(torch.randn(1, 4, 6, 6), torch.randn(1, 4, 3, 3), s, 2)
    coarse, _ = hard_assignment(logits, s, contiguous=False)
    fine = upsample_association(logits, s, f)
    fine_ids, _ = hard_assignment(fine, s * f, contiguous=False)
    # bilinear interpolation (align_corners=False, even factor) is exact between 4 fine pixels
    # around each coarse centre only approximately; check the majority agrees
    centres = fine_ids[0, f // 2::f, f // 2::f]
    assert (centres == coarse[0]).float().mean() > 0.8


def test_association_to_superpixels_crops_and_counts():
    logits = _logits(6, 7, 3)
    ids, counts = association_to_superpixels(logits, 3, pixel_stride=4, out_size=(22, 25))
    assert ids.shape == (2, 22, 25)
    for b in range(2):
        assert sorted(torch.unique(ids[b]).tolist()) == list(range(int(counts[b])))
    with pytest.raises(ValueError, match='out_size'):
        association_to_superpixels(logits, 3, pixel_stride=4, out_size=(30, 25))


def test_connectivity_pass_yields_connected_regions():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, size=(30, 40))  # heavily fragmented
    out, k = enforce_connectivity(ids, min_size=0)
    assert out.max() + 1 == k == len(np.unique(out))
    for label in range(k):
        _, n = ndimage.label(out == label)
        assert n == 1
    merged, k2 = enforce_connectivity(ids, min_size=20)
    sizes = np.bincount(merged.ravel())
    assert k2 < k and (sizes >= 20).all()
    for label in range(k2):
        _, n = ndimage.label(merged == label)
        assert n == 1
    # every merged region is a union of original pieces: pieces are never split
    for label in range(k):
        assert len(np.unique(merged[out == label])) == 1


def test_connectivity_single_region_and_bad_input():
    out, k = enforce_connectivity(np.zeros((4, 5), dtype=int), min_size=100)
    assert k == 1 and (out == 0).all()
    with pytest.raises(ValueError, match='expected'):
        enforce_connectivity(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r'expected \(B, 9, \*size\)'):
        hard_assignment(torch.zeros(1, 8, 4, 4), 2)


def _smallest_ceil_stride(in_size, size):
    """Reference: the smallest s with ceil(in / s) == size on both axes, by trying them all."""
    for s in range(1, max(in_size) + 1):
        if all(-(-i // s) == n for i, n in zip(in_size, size)):
            return s
    return None


@pytest.mark.parametrize('in_size,stride', [((64, 96), 4), ((61, 83), 4), ((100, 150), 8),
                                            ((7, 5), 4), ((9, 8), 4), ((5, 5), 2)])
def test_infer_pixel_stride_reproduces_the_association_size(in_size, stride):
    """A provider that ceils odd sizes: the inferred stride gives back the association size
    (7x5 at stride 4 is a 2x2 association: ratios 3.5 and 2.5 round apart)."""
    size = tuple(-(-i // stride) for i in in_size)
    inferred = infer_pixel_stride(in_size, size, 'test')
    assert all(-(-i // inferred) == n for i, n in zip(in_size, size))
    if round(in_size[0] / size[0]) != round(in_size[1] / size[1]):
        assert inferred == _smallest_ceil_stride(in_size, size) == stride


def test_infer_pixel_stride_errors_name_the_owner():
    with pytest.raises(ValueError, match='Owner: cannot infer one pixel stride'):
        infer_pixel_stride((64, 128), (16, 16), 'Owner')
    with pytest.raises(ValueError, match='Owner: empty input'):
        infer_pixel_stride((0, 5), (1, 1), 'Owner')


def _clip_logits(size, cell, m=2, c=4, seed=0, causal=False):
    g = torch.Generator().manual_seed(seed)
    grid = SuperpixelGrid.of(size, cell)
    return association_logits(torch.randn(2, c, *size, generator=g),
                              torch.randn(2, c, *grid.shape, generator=g), cell, m,
                              causal=causal)


def test_clip_upsampling_by_one_frame_factor_is_per_frame_2d_upsampling():
    """(1, f, f) upsampling of a one-temporal-cell clip is the 2-D upsampling of its dt = 0
    candidates, frame by frame (the temporal factor 1 mixes no frames)."""
    logits = _clip_logits((2, 6, 7), (2, 3, 3))
    up = upsample_association(logits, (2, 3, 3), (1, 4, 4))
    assert up.shape == (2, 2, 27, 2, 24, 28)
    assert torch.isinf(up[:, :, :9]).all() and torch.isinf(up[:, :, 18:]).all()
    for t in range(2):
        torch.testing.assert_close(up[:, :, 9:18, t],
                                   upsample_association(logits[:, :, 9:18, t], 3, 4))


def test_clip_superpixels_are_valid_and_causal_ids_never_point_ahead():
    size, cell = (6, 8, 8), (2, 4, 4)
    for causal in (False, True):
        logits = _clip_logits(size, cell, causal=causal)
        ids, counts = association_to_superpixels(logits, cell, (1, 2, 2), out_size=(5, 15, 16),
                                                 causal=causal)
        assert ids.shape == (2, 5, 15, 16)
        for b in range(2):
            assert sorted(torch.unique(ids[b]).tolist()) == list(range(int(counts[b])))
        grid_ids, grid_counts = hard_assignment(logits, cell, contiguous=False, causal=causal)
        assert grid_counts.tolist() == [len(torch.unique(g)) for g in grid_ids]
        fine = SuperpixelGrid.of(size, cell)
        # the temporal cell of each voxel's supervoxel: own or previous (causal), or next
        dt = grid_ids // (fine.shape[1] * fine.shape[2]) - (torch.arange(6) // 2).view(1, -1, 1, 1)
        assert dt.min() >= -1 and dt.max() == (0 if causal else 1)
    # a causal hard assignment ignores the dt = +1 candidates of non-causal logits
    full = _clip_logits(size, cell)
    full[:, :, 18:] = 1e3
    assert torch.equal(hard_assignment(full, cell, contiguous=False, causal=True)[0],
                       hard_assignment(full.index_fill(2, torch.arange(18, 27), float('-inf')),
                                       cell, contiguous=False)[0])


def test_relabel_contiguous_per_clip():
    ids = torch.tensor([[[[5, 9]], [[9, 2]]], [[[0, 7]], [[7, 7]]]])  # (2, T=2, 1, 2)
    out, counts = relabel_contiguous(ids)
    assert out.tolist() == [[[[1, 2]], [[2, 0]]], [[[0, 1]], [[1, 1]]]]
    assert counts.tolist() == [3, 2]

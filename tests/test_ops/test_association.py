"""The block-layout association equals the dense masked reference; gradients are exact."""
import math

import pytest
import torch

from mmsp.ops import (SuperpixelGrid, association_logits, association_weights, merge_heads,
                      superpixel_update, unfold_superpixels, unfold_with_logits)
from mmsp.ops.reference import (dense_association_logits, dense_superpixel_update, dense_unfold,
                                neighbor_pair_mask)

# (H, W, stride, heads): odd sizes, stride 1, a 1x1 grid, grids that do not divide
SHAPES = [(9, 13, 4, 2), (8, 8, 4, 1), (5, 7, 1, 3), (3, 3, 4, 1), (17, 10, 3, 2), (4, 4, 4, 2),
          (1, 6, 2, 1), (12, 5, 5, 3)]


def _inputs(h, w, s, channels=6, batch=2, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    grid = SuperpixelGrid.of((h, w), s)
    pix = torch.randn(batch, channels, h, w, generator=g, dtype=dtype)
    sp = torch.randn(batch, channels, grid.rows, grid.cols, generator=g, dtype=dtype)
    pv = torch.randn(batch, channels, h, w, generator=g, dtype=dtype)
    sv = torch.randn(batch, channels, grid.rows, grid.cols, generator=g, dtype=dtype)
    return pix, sp, pv, sv


@pytest.mark.parametrize('h,w,s,m', SHAPES)
def test_logits_match_dense_reference(h, w, s, m):
    pix, sp, _, _ = _inputs(h, w, s)
    ours = association_logits(pix, sp, s, m)
    ref = dense_association_logits(pix, sp, s, m)
    assert ours.shape == (2, m, 9, h, w)
    assert torch.equal(torch.isinf(ours), torch.isinf(ref))
    finite = torch.isfinite(ref)
    torch.testing.assert_close(ours[finite], ref[finite], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('h,w,s,m', SHAPES)
def test_update_and_unfold_match_dense_reference(h, w, s, m):
    pix, sp, pv, sv = _inputs(h, w, s)
    # superpixel update: superpixel queries (sp) against pixel keys (pix)
    ours = superpixel_update(association_logits(pix, sp, s, m), pv, s)
    ref = dense_superpixel_update(pix, sp, pv, s, m)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    # unfolding: pixel-side softmax over the 9 candidates
    ours = unfold_superpixels(association_weights(association_logits(pix, sp, s, m)), sv, s)
    ref = dense_unfold(pix, sp, sv, s, m)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    # the same from the logits (softmax in block layout), also written channels-last
    for channels_last in (False, True):
        fused = unfold_with_logits(association_logits(pix, sp, s, m), sv, s, channels_last)
        assert fused.is_contiguous(
            memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        torch.testing.assert_close(fused, ref, atol=1e-5, rtol=1e-5)


def test_border_candidates_masked_and_rows_normalised():
    h, w, s = 10, 11, 4  # 3 x 3 grid: corners have 4 candidates, edges 6, interior 9
    pix, sp, _, _ = _inputs(h, w, s)
    weights = association_weights(association_logits(pix, sp, s, 2))
    torch.testing.assert_close(weights.sum(dim=2), torch.ones(2, 2, h, w))
    valid = SuperpixelGrid.of((h, w), s).neighbor_mask()  # (h, w, 9)
    counts = valid.sum(-1)
    assert counts[0, 0] == 4 and counts[0, 1] == 6 and counts[1, 1] == 9
    cells_y, cells_x = torch.arange(h) // s, torch.arange(w) // s
    pixel_valid = valid[cells_y][:, cells_x].permute(2, 0, 1)  # (9, H, W)
    assert (weights[:, :, ~pixel_valid] == 0).all()
    assert (weights[:, :, pixel_valid] > 0).all()


def test_zero_weight_on_every_non_neighbor():
    h, w, s = 9, 9, 3
    pix, sp, _, sv = _inputs(h, w, s, channels=4, batch=1)
    # one-hot superpixel values reveal which superpixels each pixel uses
    grid = SuperpixelGrid.of((h, w), s)
    onehot = torch.eye(grid.num_superpixels).reshape(grid.num_superpixels, grid.rows,
                                                     grid.cols)[None]
    weights = association_weights(association_logits(pix, sp, s, 1))
    used = unfold_superpixels(weights, onehot, s)  # (1, M_sp, H, W)
    allowed = neighbor_pair_mask(grid).T.reshape(grid.num_superpixels, h, w)
    assert (used[0][~allowed] == 0).all()
    torch.testing.assert_close(used.sum(1), torch.ones(1, h, w))


@pytest.mark.parametrize('h,w,s,m', [(5, 7, 2, 2), (4, 4, 4, 1), (6, 3, 1, 1)])
def test_gradcheck(h, w, s, m):
    pix, sp, pv, sv = _inputs(h, w, s, channels=4, batch=1, dtype=torch.float64)
    for t in (pix, sp, pv, sv):
        t.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a, b: association_weights(association_logits(a, b, s, m)), (pix, sp))
    assert torch.autograd.gradcheck(
        lambda a, b, v: superpixel_update(association_logits(a, b, s, m), v, s), (pix, sp, pv))
    assert torch.autograd.gradcheck(
        lambda a, b, v: unfold_superpixels(association_weights(association_logits(a, b, s, m)),
                                           v, s), (pix, sp, sv))


def test_merge_heads_equals_single_head_over_all_channels():
    pix, sp, _, _ = _inputs(7, 8, 3, channels=6)
    merged = merge_heads(association_logits(pix, sp, 3, num_heads=3))
    single = association_logits(pix, sp, 3, num_heads=1)[:, 0]
    finite = torch.isfinite(single)
    torch.testing.assert_close(merged[finite], single[finite], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_low_precision_close_to_fp32(dtype):
    pix, sp, pv, _ = _inputs(16, 20, 4, channels=8)
    ref = superpixel_update(association_logits(pix, sp, 4, 2), pv, 4)
    with torch.autocast('cpu', dtype=dtype):
        logits = association_logits(pix.to(dtype), sp.to(dtype), 4, 2)
        out = superpixel_update(logits, pv.to(dtype), 4)
    assert logits.dtype == torch.float32  # softmax inputs are promoted
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), ref, atol=5e-2, rtol=5e-2)


def test_bad_inputs_name_the_shapes():
    pix, sp, pv, sv = _inputs(8, 8, 4)
    with pytest.raises(ValueError, match=r'channel mismatch.*\(2, 6, 8, 8\)'):
        association_logits(pix, sp[:, :4], 4)
    with pytest.raises(ValueError, match=r'\(3, 3\) is inconsistent.*\(8, 8\).*stride 4'):
        association_logits(pix, torch.randn(2, 6, 3, 3), 4)
    with pytest.raises(ValueError, match='same rank'):
        association_logits(pix[0], sp, 4)
    with pytest.raises(ValueError, match='heads'):
        association_logits(pix, sp, 4, num_heads=4)
    with pytest.raises(ValueError, match='stride'):
        association_logits(pix, sp, 0)
    logits = association_logits(pix, sp, 4, 2)
    with pytest.raises(ValueError, match=r'association \(2, 2, 9, 8, 8\).*\(2, 6, 7, 8\)'):
        superpixel_update(logits, pv[:, :, :7], 4)
    with pytest.raises(ValueError, match='do not match'):
        unfold_superpixels(association_weights(logits), sv[:, :, :1], 4)
    with pytest.raises(ValueError, match=r'unfold_with_logits: superpixels .* do not match'):
        unfold_with_logits(logits, sv[:, :, :1], 4)
    with pytest.raises(ValueError, match=r'unfold_with_logits: batch mismatch'):
        unfold_with_logits(logits, sv[:1], 4)
    with pytest.raises(ValueError,
                       match=r'unfold_with_logits: association \(2, 9, 8, 8\) must be \(B, M, K'):
        unfold_with_logits(logits[0], sv, 4)
    with pytest.raises(ValueError, match='heads'):
        unfold_with_logits(torch.cat([logits, logits], 1), sv, 4)  # 4 heads, 6 channels
    with pytest.raises(ValueError, match='batch'):
        association_logits(pix, sp[:1], 4)


def test_scale_default_is_inverse_sqrt_head_dim():
    pix, sp, _, _ = _inputs(4, 4, 2, channels=8)
    a = association_logits(pix, sp, 2, num_heads=2)
    b = association_logits(pix, sp, 2, num_heads=2, scale=1.0 / math.sqrt(4))
    torch.testing.assert_close(a, b)


def _dense_3d(q, k, v, cell, num_heads, causal=False):
    """Clips: every voxel against every supervoxel, non-neighbours masked; written with loops
    over the supervoxel grid and no mmsp helper. Returns the logits (B, M, 27, T, H, W) and the
    superpixel update (B, C, t, h, w). ``causal``: supervoxels of later temporal cells are no
    neighbours."""
    b, c, t_, h_, w_ = q.shape
    st, s, sw = cell
    gt, gh, gw = -(-t_ // st), -(-h_ // s), -(-w_ // sw)
    d = c // num_heads
    vox = [(t, y, x) for t in range(t_) for y in range(h_) for x in range(w_)]
    sps = [(a, i, j) for a in range(gt) for i in range(gh) for j in range(gw)]
    qh = q.reshape(b, num_heads, d, -1)
    kh = k.reshape(b, num_heads, d, -1)
    logits = torch.einsum('bmdp,bmdj->bmpj', qh, kh) / math.sqrt(d)  # (B, M, voxels, sp)
    mask = torch.zeros(len(vox), len(sps), dtype=torch.bool)
    for p, (t, y, x) in enumerate(vox):
        for j, (a, i, jj) in enumerate(sps):
            dt = a - t // st
            mask[p, j] = (-1 <= dt <= (0 if causal else 1) and abs(y // s - i) <= 1
                          and abs(x // sw - jj) <= 1)
    logits = logits.masked_fill(~mask, float('-inf'))
    out = torch.full((b, num_heads, 27, len(vox)), float('-inf'), dtype=q.dtype)
    for p, (t, y, x) in enumerate(vox):
        for n, (dt, dy, dx) in enumerate([(a, i, j) for a in (-1, 0, 1) for i in (-1, 0, 1)
                                          for j in (-1, 0, 1)]):
            a, i, jj = t // st + dt, y // s + dy, x // sw + dx
            if 0 <= a < gt and 0 <= i < gh and 0 <= jj < gw and not (causal and dt > 0):
                out[:, :, n, p] = logits[:, :, p, (a * gh + i) * gw + jj]
    update = torch.einsum('bmpj,bmdp->bmdj', torch.softmax(logits, 2),
                          v.reshape(b, num_heads, d, -1)).reshape(b, c, gt, gh, gw)
    return out.reshape(b, num_heads, 27, t_, h_, w_), update


@pytest.mark.parametrize('size,cell,m', [((4, 8, 8), (2, 4, 4), 2), ((3, 5, 7), (2, 2, 3), 1),
                                         ((1, 6, 5), (1, 2, 2), 2)])
def test_3d_association_matches_dense_reference(size, cell, m):
    g = torch.Generator().manual_seed(3)
    shape = tuple(-(-n // c) for n, c in zip(size, cell))
    q = torch.randn(2, 4, *size, generator=g, dtype=torch.float64)
    k = torch.randn(2, 4, *shape, generator=g, dtype=torch.float64)
    v = torch.randn(2, 4, *size, generator=g, dtype=torch.float64)
    ref_logits, ref_update = _dense_3d(q, k, v, cell, m)
    ours = association_logits(q, k, cell, m)
    assert ours.shape == (2, m, 27, *size)
    assert torch.equal(torch.isinf(ours), torch.isinf(ref_logits))
    finite = torch.isfinite(ref_logits)
    torch.testing.assert_close(ours[finite], ref_logits[finite])
    torch.testing.assert_close(superpixel_update(ours, v, cell), ref_update)


@pytest.mark.parametrize('size,cell', [((6, 8, 8), (2, 4, 4)), ((5, 5, 7), (2, 2, 3))])
def test_causal_3d_association_matches_dense_reference(size, cell):
    """Causal: 18 candidates (dt in {-1, 0}); update and unfolding see only those."""
    g = torch.Generator().manual_seed(5)
    shape = tuple(-(-n // c) for n, c in zip(size, cell))
    q = torch.randn(1, 4, *size, generator=g, dtype=torch.float64)
    k = torch.randn(1, 4, *shape, generator=g, dtype=torch.float64)
    v = torch.randn(1, 4, *size, generator=g, dtype=torch.float64)
    ref_logits, ref_update = _dense_3d(q, k, v, cell, 2, causal=True)
    ours = association_logits(q, k, cell, 2, causal=True)
    assert torch.equal(torch.isinf(ours), torch.isinf(ref_logits))
    assert torch.isinf(ours[:, :, 18:]).all()
    finite = torch.isfinite(ref_logits)
    torch.testing.assert_close(ours[finite], ref_logits[finite])
    torch.testing.assert_close(superpixel_update(ours, v, cell, causal=True), ref_update)
    # the causal functions mask the dt = +1 candidates themselves: non-causal logits give the
    # causal result, and differ from the non-causal result
    full = association_logits(q, k, cell, 2)
    torch.testing.assert_close(superpixel_update(full, v, cell, causal=True), ref_update)
    assert not torch.allclose(superpixel_update(full, v, cell), ref_update)
    torch.testing.assert_close(unfold_with_logits(full, k, cell, causal=True),
                               unfold_with_logits(ours, k, cell))
    weights = torch.softmax(ours, dim=2)
    assert weights[:, :, 18:].eq(0).all() and not weights.isnan().any()
    torch.testing.assert_close(weights.sum(2), torch.ones_like(weights[:, :, 0]))


def test_3d_with_one_temporal_cell_is_the_2d_association():
    """A clip whose temporal cells are one cell (t_s = 1) has only the dt = 0 candidates."""
    pix, sp, pv, sv = _inputs(9, 13, 4, dtype=torch.float64)
    logits2d = association_logits(pix, sp, 4, 2)
    logits3d = association_logits(pix[:, :, None], sp[:, :, None], (1, 4, 4), 2)
    assert torch.isinf(logits3d[:, :, :9]).all() and torch.isinf(logits3d[:, :, 18:]).all()
    torch.testing.assert_close(logits3d[:, :, 9:18, 0], logits2d)
    torch.testing.assert_close(superpixel_update(logits3d, pv[:, :, None], (1, 4, 4))[:, :, 0],
                               superpixel_update(logits2d, pv, 4))
    torch.testing.assert_close(unfold_with_logits(logits3d, sv[:, :, None], (1, 4, 4))[:, :, 0],
                               unfold_with_logits(logits2d, sv, 4))


def test_unfold_with_logits_masks_out_of_grid_candidates_itself():
    pix, sp, _, sv = _inputs(9, 13, 4)
    logits = association_logits(pix, sp, 4, 2)
    unmasked = torch.where(torch.isinf(logits), torch.full_like(logits, 50.0), logits)
    torch.testing.assert_close(unfold_with_logits(unmasked, sv, 4),
                               unfold_with_logits(logits, sv, 4))
    torch.testing.assert_close(superpixel_update(unmasked, sv.new_ones(2, 6, 9, 13), 4),
                               superpixel_update(logits, sv.new_ones(2, 6, 9, 13), 4))


def test_3d_candidate_counts_and_normalised_weights_at_corners_edges_faces_inside():
    """A 3 x 3 x 3 grid of cells: a voxel has 8 valid candidates in a corner cell, 12 on an
    edge, 18 on a face and 27 inside; the softmax over them sums to 1 with no NaN."""
    g = torch.Generator().manual_seed(7)
    q = torch.randn(1, 4, 6, 6, 6, generator=g)
    k = torch.randn(1, 4, 3, 3, 3, generator=g)
    logits = association_logits(q, k, (2, 2, 2), 2)  # (1, 2, 27, 6, 6, 6)
    valid = torch.isfinite(logits).sum(2)[0, 0]
    for t, y, x in [(0, 0, 0), (5, 5, 0), (0, 2, 5), (3, 0, 2), (2, 3, 4), (3, 2, 3)]:
        border = sum(c in (0, 2) for c in (t // 2, y // 2, x // 2))
        assert int(valid[t, y, x]) == {0: 27, 1: 18, 2: 12, 3: 8}[border]
    weights = torch.softmax(logits, dim=2)
    assert not weights.isnan().any()
    torch.testing.assert_close(weights.sum(2), torch.ones_like(weights[:, :, 0]))

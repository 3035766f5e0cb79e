"""Property-based checks of the association operators over random shapes and strides."""
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsp.ops import (SuperpixelGrid, association_logits, association_to_superpixels,
                      association_weights, superpixel_update, unfold_superpixels)
from mmsp.ops.reference import dense_superpixel_update, dense_unfold

shapes = st.tuples(
    st.integers(1, 14),  # H
    st.integers(1, 14),  # W
    st.integers(1, 6),  # stride
    st.sampled_from([1, 2, 3]),  # heads
    st.integers(1, 2),  # batch
    st.integers(0, 2**16))  # seed


def _make(h, w, s, m, b, seed):
    g = torch.Generator().manual_seed(seed)
    grid = SuperpixelGrid.of((h, w), s)
    c = 2 * m
    pix = torch.randn(b, c, h, w, generator=g, dtype=torch.float64)
    sp = torch.randn(b, c, grid.rows, grid.cols, generator=g, dtype=torch.float64)
    return grid, pix, sp


@settings(max_examples=60, deadline=None)
@given(shapes)
def test_matches_dense_reference(args):
    h, w, s, m, b, seed = args
    grid, pix, sp = _make(h, w, s, m, b, seed)
    logits = association_logits(pix, sp, s, m)
    weights = association_weights(logits)
    torch.testing.assert_close(weights.sum(2), torch.ones(b, m, h, w, dtype=torch.float64))
    torch.testing.assert_close(unfold_superpixels(weights, sp, s),
                               dense_unfold(pix, sp, sp, s, m))
    torch.testing.assert_close(superpixel_update(logits, pix, s),
                               dense_superpixel_update(pix, sp, pix, s, m))


@settings(max_examples=60, deadline=None)
@given(shapes, st.integers(1, 4))
def test_superpixels_cover_image_with_contiguous_ids(args, factor):
    h, w, s, m, b, seed = args
    grid, pix, sp = _make(h, w, s, m, b, seed)
    logits = association_logits(pix, sp, s, m)
    out_h, out_w = max(1, h * factor - 1), max(1, w * factor - 1)
    ids, counts = association_to_superpixels(logits, s, factor, (out_h, out_w))
    assert ids.shape == (b, out_h, out_w) and ids.dtype == torch.int64
    for i in range(b):
        assert sorted(torch.unique(ids[i]).tolist()) == list(range(int(counts[i])))
        assert 1 <= counts[i] <= grid.num_superpixels

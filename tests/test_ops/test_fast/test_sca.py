"""Pieces of the factorised SCA (mmsp.ops.fast.sca) against their definitions; the whole layer
is compared with a dense float64 reference in tests/test_models/test_utils/
test_superpixel_cross_attention.py, plain and fast."""
import pytest
import torch

from mmsp.ops import SuperpixelGrid, gather_neighbors
from mmsp.ops.fast.sca import block_logits_absorbed, candidate_rows


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
    assert rows[0].untyped_storage().data_ptr() == rows[2].untyped_storage().data_ptr()


@pytest.mark.parametrize('h,w,s', [(8, 8, 4), (10, 7, 4), (5, 5, 5)])
def test_absorbed_logits_are_the_projected_logits(h, w, s):
    """r_p <A^T k_c, x_p> + <b, k_c> = <r_p A x_p + b, k_c>, masked outside the grid."""
    g = torch.Generator().manual_seed(0)
    grid = SuperpixelGrid.of((h, w), s)
    c, d, heads = 5, 3, 2
    x = torch.randn(2, grid.rows, grid.cols, s * s, c, generator=g, dtype=torch.float64)
    r = torch.rand(2, grid.rows, grid.cols, s * s, 1, generator=g, dtype=torch.float64) + 0.5
    a = torch.randn(heads, d, c, generator=g, dtype=torch.float64)
    bias = torch.randn(heads, d, generator=g, dtype=torch.float64)
    k = torch.randn(2, grid.rows, grid.cols, heads, d, generator=g, dtype=torch.float64)
    keys = torch.einsum('bhwmd,mdc->bhwmc', k, a)
    offsets = (k * bias).sum(-1)
    ours = block_logits_absorbed(x, keys, offsets, grid, pixel_scale=r)
    projected = torch.einsum('mdc,bhwpc->bmhwpd', a, x * r) + bias[None, :, None, None, None]
    neighbors = gather_neighbors(k.movedim(3, 1))  # (B, M, h, w, 9, d)
    ref = torch.einsum('bmhwpd,bmhwnd->bmhwpn', projected, neighbors)
    valid = grid.neighbor_mask()[:, :, None, :].expand_as(ref)
    assert torch.isinf(ours[:, :, ~valid[0, 0]]).all()
    torch.testing.assert_close(ours[:, :, valid[0, 0]], ref[:, :, valid[0, 0]])

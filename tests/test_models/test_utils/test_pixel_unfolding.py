"""PixelUnfolding: the block-layout path equals the formula written out per pixel."""
import pytest
import torch
import torch.nn.functional as F

from mmsp.models.utils import PixelUnfolding


def _reference(unfold, x, z, logits):
    """``X + gamma * sum_n softmax_n(A)_n P_{c_n(p)}`` per pixel and head, by loops.

    ``P = norm(conv1x1(Z))`` in NCHW; head ``m`` of the association weighs channel group ``m``.
    """
    p = unfold.norm(F.conv2d(z, unfold.proj.weight, unfold.proj.bias))
    b, m, _, height, width = logits.shape
    s, d = unfold.stride, p.shape[1] // m
    rows, cols = p.shape[2:]
    out = x.clone()
    for y in range(height):
        for xx in range(width):
            w = torch.softmax(logits[:, :, :, y, xx], dim=2)  # (B, M, 9), -inf -> 0
            acc = torch.zeros(b, p.shape[1], dtype=x.dtype)
            for n in range(9):
                cy, cx = y // s + n // 3 - 1, xx // s + n % 3 - 1
                if 0 <= cy < rows and 0 <= cx < cols:
                    for head in range(m):
                        sl = slice(head * d, (head + 1) * d)
                        acc[:, sl] += w[:, head, n, None] * p[:, sl, cy, cx]
            out[:, :, y, xx] += unfold.gamma * acc
    return out


def _logits(b, m, height, width, s, dtype=torch.float64):
    """Random (B, M, 9, H, W) logits, ``-inf`` at candidates outside the ceil(H/s) grid."""
    logits = torch.randn(b, m, 9, height, width, dtype=dtype)
    rows, cols = -(-height // s), -(-width // s)
    cy = torch.arange(height) // s
    cx = torch.arange(width) // s
    for n in range(9):
        dy, dx = n // 3 - 1, n % 3 - 1
        ok = ((cy + dy >= 0) & (cy + dy < rows))[:, None] & ((cx + dx >= 0) & (cx + dx < cols))
        logits[:, :, n][:, :, ~ok] = float('-inf')
    return logits


@pytest.mark.parametrize('size,stride,heads,norm,channels_last', [
    ((8, 12), 4, 2, dict(type='LN2d', eps=1e-6), True),
    ((9, 14), 4, 2, dict(type='LN2d', eps=1e-6), False),
    ((7, 10), 3, 1, dict(type='BN'), True),
    ((5, 5), 5, 4, None, False),
])
def test_matches_per_pixel_reference(size, stride, heads, norm, channels_last):
    torch.manual_seed(0)
    cp, cs = 8, 12
    unfold = PixelUnfolding(cs, cp, stride, norm_cfg=norm, layer_scale_init=0.7).double()
    with torch.no_grad():
        for p in unfold.parameters():
            p.add_(0.3 * torch.randn_like(p))
    unfold.train()  # BN: batch statistics, the same in both computations
    rows, cols = -(-size[0] // stride), -(-size[1] // stride)
    x = torch.randn(2, cp, *size, dtype=torch.float64, requires_grad=True)
    z = torch.randn(2, cs, rows, cols, dtype=torch.float64, requires_grad=True)
    logits = _logits(2, heads, *size, stride).requires_grad_()
    xin = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    ours, ref = unfold(xin, z, logits), _reference(unfold, x, z, logits)
    assert ours.shape == x.shape
    assert ours.is_contiguous(
        memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    torch.testing.assert_close(ours, ref, atol=1e-10, rtol=1e-10)
    leaves = [x, z, logits] + list(unfold.parameters())
    g = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad(ours, leaves, g), torch.autograd.grad(ref, leaves, g)):
        torch.testing.assert_close(a, r, atol=1e-9, rtol=1e-9)


def test_reference_can_fail():
    """Swapping the association heads changes the result (the heads are not interchangeable)."""
    torch.manual_seed(0)
    unfold = PixelUnfolding(8, 8, 4, layer_scale_init=1.).double()
    x = torch.randn(1, 8, 8, 8, dtype=torch.float64)
    z = torch.randn(1, 8, 2, 2, dtype=torch.float64)
    logits = _logits(1, 2, 8, 8, 4)
    ref = _reference(unfold, x, z, logits)
    assert not torch.allclose(unfold(x, z, logits.flip(1)), ref, atol=1e-6)


@pytest.mark.parametrize('shape', [(1, 2, 9, 8, 7), (1, 2, 8, 8, 8), (2, 2, 9, 8, 8),
                                   (1, 3, 9, 8, 8), (1, 9, 8, 8)])
def test_bad_association_shapes_raise(shape):
    unfold = PixelUnfolding(8, 8, 4)
    x, z = torch.randn(1, 8, 8, 8), torch.randn(1, 8, 2, 2)
    with pytest.raises(ValueError, match='association'):
        unfold(x, z, torch.zeros(shape))


def test_bad_superpixel_grid_raises():
    unfold = PixelUnfolding(8, 8, 4)
    with pytest.raises(ValueError, match='grid'):
        unfold(torch.randn(1, 8, 8, 8), torch.randn(1, 8, 3, 2), torch.zeros(1, 2, 9, 8, 8))

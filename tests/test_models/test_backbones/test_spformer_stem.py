"""SuperpixelInit equals conv -> LN2d -> GELU -> mean over each cell's real pixels, written out;
SPFormerStem equals its layers."""
import pytest
import torch
import torch.nn.functional as F

from mmsp.models.backbones.spformer_stem import STEM_LAYOUTS, SPFormerStem, SuperpixelInit
from mmsp.ops.fast import fast_path, use_fast_path


def _reference(init, x):
    """In NCHW: 1x1 conv, channel LN written out, GELU, mean over the real pixels of each cell."""
    y = F.conv2d(x, init.lift.weight, init.lift.bias)
    mean = y.mean(1, keepdim=True)
    var = ((y - mean)**2).mean(1, keepdim=True)
    y = (y - mean) / torch.sqrt(var + init.norm.eps)
    y = F.gelu(y * init.norm.weight.view(1, -1, 1, 1) + init.norm.bias.view(1, -1, 1, 1))
    s = init.stride
    rows, cols = -(-x.shape[2] // s), -(-x.shape[3] // s)
    out = y.new_zeros(y.shape[0], y.shape[1], rows, cols)
    for r in range(rows):
        for c in range(cols):
            out[:, :, r, c] = y[:, :, r * s:(r + 1) * s, c * s:(c + 1) * s].mean((2, 3))
    return out


@pytest.mark.parametrize('size,stride', [((8, 12), 4), ((9, 14), 4), ((7, 7), 7), ((5, 3), 2)])
def test_superpixel_init_matches_reference(size, stride):
    torch.manual_seed(0)
    with fast_path(False):
        init = SuperpixelInit(6, 10, stride).double()
    with torch.no_grad():
        for p in init.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(2, 6, *size, dtype=torch.float64, requires_grad=True)
    ours, ref = init(x), _reference(init, x)
    assert ours.shape == ref.shape == (2, 10, -(-size[0] // stride), -(-size[1] // stride))
    torch.testing.assert_close(ours, ref, atol=1e-10, rtol=1e-10)
    leaves = [x] + list(init.parameters())
    g = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad(ours, leaves, g), torch.autograd.grad(ref, leaves, g)):
        torch.testing.assert_close(a, r, atol=1e-9, rtol=1e-9)


def test_other_norms():
    torch.manual_seed(0)
    init = SuperpixelInit(4, 8, 3, norm_cfg=dict(type='GN', num_groups=2)).double().eval()
    x = torch.randn(1, 4, 7, 8, dtype=torch.float64)
    ref = F.avg_pool2d(F.gelu(init.norm(init.lift(x))), 3, 3, ceil_mode=True)
    torch.testing.assert_close(init(x), ref)


@pytest.mark.parametrize('stem_type', sorted(STEM_LAYOUTS))
def test_stem_is_its_conv_norm_act_layers(stem_type):
    torch.manual_seed(0)
    stem = SPFormerStem(stem_type, 3, 64).double()
    stride = STEM_LAYOUTS[stem_type][0]
    x = torch.randn(2, 3, 4 * stride, 2 * stride, dtype=torch.float64)
    y = x
    for layer in stem.layers:
        y = layer(y)
    torch.testing.assert_close(stem(x), y)
    assert y.shape == (2, 64, 4, 2)
    with pytest.raises(ValueError, match='multiple of the stem stride'):
        stem(x[..., :-1])


@pytest.mark.skipif(not use_fast_path(), reason='MMSP_FAST=0: fast paths are off')
@pytest.mark.parametrize('size,stride', [((8, 12), 4), ((9, 14), 4), ((5, 3), 2)])
def test_superpixel_init_fast_path_matches_reference(size, stride):
    torch.manual_seed(0)
    init = SuperpixelInit(6, 10, stride).double()
    assert init.fast_path
    with torch.no_grad():
        for p in init.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(2, 6, *size, dtype=torch.float64, requires_grad=True)
    ours, ref = init(x), _reference(init, x)
    torch.testing.assert_close(ours, ref, atol=1e-10, rtol=1e-10)
    leaves = [x] + list(init.parameters())
    g = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad(ours, leaves, g), torch.autograd.grad(ref, leaves, g)):
        torch.testing.assert_close(a, r, atol=1e-9, rtol=1e-9)


def _reference_3d(init, x):
    """Clips: 1x1x1 conv, channel LN, GELU, mean over the real voxels of each (s_t, s, s) cell."""
    y = F.conv3d(x, init.lift.weight, init.lift.bias).movedim(1, -1)
    y = F.gelu(F.layer_norm(y, (y.shape[-1], ), init.norm.weight, init.norm.bias, init.norm.eps))
    y = y.movedim(-1, 1)
    cell = init.stride
    shape = [-(-n // c) for n, c in zip(x.shape[2:], cell)]
    out = y.new_zeros(y.shape[0], y.shape[1], *shape)
    for a in range(shape[0]):
        for r in range(shape[1]):
            for c in range(shape[2]):
                window = y[:, :, a * cell[0]:(a + 1) * cell[0], r * cell[1]:(r + 1) * cell[1],
                           c * cell[2]:(c + 1) * cell[2]]
                out[:, :, a, r, c] = window.mean((2, 3, 4))
    return out


@pytest.mark.parametrize('fast', [False, True] if use_fast_path() else [False])
@pytest.mark.parametrize('size', [(4, 8, 8), (3, 9, 6), (1, 5, 8)])
def test_clip_superpixel_init_matches_reference(size, fast):
    """Supervoxel init: cells of 2 frames x 4 x 4, partial cells (also a one-frame clip)."""
    torch.manual_seed(0)
    with fast_path(fast):
        init = SuperpixelInit(6, 10, (2, 4, 4), spatial_dims=3).double()
    assert init.fast_path == fast and isinstance(init.lift, torch.nn.Conv3d)
    with torch.no_grad():
        for p in init.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(2, 6, *size, dtype=torch.float64)
    ref = _reference_3d(init, x)
    assert ref.shape == (2, 10, -(-size[0] // 2), -(-size[1] // 4), -(-size[2] // 4))
    torch.testing.assert_close(init(x), ref, atol=1e-10, rtol=1e-10)
    with pytest.raises(ValueError, match='spatial_dims'):
        SuperpixelInit(6, 10, 4, spatial_dims=4)

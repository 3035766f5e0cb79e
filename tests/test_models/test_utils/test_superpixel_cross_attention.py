"""SuperpixelCrossAttention equals a straightforward NCHW re-implementation of SPFormer's SCA.

The reference below uses no mmsp operator: dense (HW x hw) attention matrices with the
non-neighbour pairs masked, 1x1 convs via ``F.conv2d`` and a hand-written channel LayerNorm,
all in float64. The layer's plain form and its factorised fast path
(:mod:`mmsp.ops.fast.sca`, LN2d and no norm) must both match, values and gradients.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from mmsp.models.utils import SuperpixelCrossAttention
from mmsp.ops import fast as fast_module
from mmsp.ops.fast import fast_path, use_fast_path
from mmsp.ops.fast import layer_norm as ln_module

#: the implementations under test: the plain form always, the fast path unless switched off
IMPLEMENTATIONS = ['plain'] + (['fast'] if use_fast_path() else [])

# (Cp, Cs, heads, stride, H, W, batch): exact grids, padded grids, stride 1, a 1x1 grid, and
# cells of >= ABSORB_MIN_CELL_PIXELS pixels (the absorbed-key logits), exact and padded
CASES = [(8, 12, 2, 4, 8, 8, 1), (8, 12, 2, 3, 10, 7, 2), (6, 9, 3, 1, 4, 5, 2),
         (4, 8, 1, 5, 4, 3, 1), (8, 16, 2, 4, 13, 9, 2), (8, 12, 2, 8, 16, 24, 1),
         (6, 6, 3, 9, 20, 11, 2)]


def _ref_norm(layer_norm, y):
    """The configured norm, LN2d written out by hand (channel mean / biased variance)."""
    if not isinstance(layer_norm, torch.nn.LayerNorm):
        return layer_norm(y)
    mean = y.mean(1, keepdim=True)
    var = ((y - mean)**2).mean(1, keepdim=True)
    y = (y - mean) / torch.sqrt(var + layer_norm.eps)
    return y * layer_norm.weight.view(1, -1, 1, 1) + layer_norm.bias.view(1, -1, 1, 1)


def _dense_mask(height, width, stride):
    """(H*W, h*w) True where superpixel j is one of the 9 candidates of pixel p."""
    rows, cols = -(-height // stride), -(-width // stride)
    py = (torch.arange(height) // stride).view(-1, 1).expand(height, width).reshape(-1)
    px = (torch.arange(width) // stride).view(1, -1).expand(height, width).reshape(-1)
    sy = torch.arange(rows).view(-1, 1).expand(rows, cols).reshape(-1)
    sx = torch.arange(cols).view(1, -1).expand(rows, cols).reshape(-1)
    return ((py[:, None] - sy[None]).abs() <= 1) & ((px[:, None] - sx[None]).abs() <= 1)


def reference_sca(layer, x, z):
    """SCA (arXiv 2401.02931), NCHW, dense masked; returns (x', z', A (B, M, 9, H, W))."""
    b, cp, height, width = x.shape
    cs, rows, cols = z.shape[1:]
    m, s = layer.num_heads, layer.stride
    d = cp // m
    xe = x + F.conv2d(x, layer.pixel_pe.weight, layer.pixel_pe.bias, padding=1, groups=cp)
    ze = z + F.conv2d(z, layer.superpixel_pe.weight, layer.superpixel_pe.bias, padding=1,
                      groups=cs)
    sp = _ref_norm(layer.superpixel_norm, F.conv2d(ze, layer.superpixel_qkv.weight))
    px = _ref_norm(layer.pixel_norm, F.conv2d(xe, layer.pixel_qkv.weight))
    sq, sk, sv = sp.split([cp, cp, cp], 1)  # full width with or without the pixel update
    pq, pk, pv = px.split([cp, cp, cs], 1)
    mask = _dense_mask(height, width, s)  # (HW, hw)

    def heads(t):  # (B, C, ...) -> (B, M, positions, C/M)
        return t.reshape(b, m, t.shape[1] // m, -1).transpose(-1, -2)

    # superpixel update: softmax over the pixels of each superpixel's window
    logits = heads(sq) @ heads(pk).transpose(-1, -2) / math.sqrt(d)  # (B, M, hw, HW)
    logits = logits.masked_fill(~mask.T, float('-inf'))
    dz = torch.softmax(logits, -1) @ heads(pv)  # (B, M, hw, Cs/M)
    z_out = z + layer.gamma_superpixel.view(1, -1, 1, 1) * dz.transpose(-1, -2).reshape(
        b, cs, rows, cols)
    x_out = x
    if layer.update_pixels:
        pl = heads(pq) @ heads(sk).transpose(-1, -2) / math.sqrt(d)  # (B, M, HW, hw)
        dx = torch.softmax(pl.masked_fill(~mask, float('-inf')), -1) @ heads(sv)
        x_out = x + layer.gamma_pixel.view(1, -1, 1, 1) * dx.transpose(-1, -2).reshape(
            b, cp, height, width)
    # exported association: A[n, p] = logits[c_n(p), p], -inf outside the grid
    assoc = torch.full((b, m, 9, height, width), float('-inf'), dtype=x.dtype)
    for y in range(height):
        for xx in range(width):
            for n in range(9):
                r, c = y // s + n // 3 - 1, xx // s + n % 3 - 1
                if 0 <= r < rows and 0 <= c < cols:
                    assoc[:, :, n, y, xx] = logits[:, :, r * cols + c, y * width + xx]
    return x_out, z_out, assoc


def _layer(cp, cs, m, s, update_pixels=True, norm_cfg=dict(type='LN2d', eps=1e-6), seed=0,
           impl='plain'):
    torch.manual_seed(seed)
    with fast_path(impl == 'fast'):
        layer = SuperpixelCrossAttention(cp, cs, m, s, norm_cfg, layer_scale_init=0.5,
                                         update_pixels=update_pixels).double()
    supported = norm_cfg is None or norm_cfg['type'] == 'LN2d'
    assert layer.fast_path == (impl == 'fast' and supported)
    with torch.no_grad():  # non-trivial norms, biases and LayerScales
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return layer


def _inputs(cp, cs, s, height, width, batch, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cp, height, width, generator=g, dtype=torch.float64)
    z = torch.randn(batch, cs, -(-height // s), -(-width // s), generator=g, dtype=torch.float64)
    return x.requires_grad_(), z.requires_grad_()


def _loss(outs):
    """A generic scalar of all three outputs (finite entries of the association only)."""
    total = 0
    for i, o in enumerate(outs):
        o = torch.where(torch.isfinite(o), o, torch.zeros_like(o))
        w = torch.cos(torch.arange(o.numel(), dtype=o.dtype) * (0.37 + i)).view_as(o)
        total = total + (o * w).sum()
    return total


@pytest.mark.parametrize('impl', IMPLEMENTATIONS)
@pytest.mark.parametrize('update_pixels', [True, False])
@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('norm', ['LN2d', 'GN', None])
def test_matches_nchw_reference_values_and_gradients(case, update_pixels, norm, impl):
    cp, cs, m, s, height, width, batch = case
    norm_cfg = {'LN2d': dict(type='LN2d', eps=1e-6), 'GN': dict(type='GN', num_groups=1),
                None: None}[norm]
    layer = _layer(cp, cs, m, s, update_pixels, norm_cfg, impl=impl)
    x, z = _inputs(cp, cs, s, height, width, batch)
    ours = layer(x, z)
    ref = reference_sca(layer, x, z)
    assert ours[2].shape == (batch, m, 9, height, width)
    assert torch.equal(torch.isinf(ours[2]), torch.isinf(ref[2]))
    for a, r in zip(ours, ref):
        finite = torch.isfinite(r)
        torch.testing.assert_close(a[finite], r[finite], atol=1e-10, rtol=1e-10)
    if not update_pixels:
        assert torch.equal(ours[0], x)
    params = [p for p in layer.parameters()]
    g_ours = torch.autograd.grad(_loss(ours), [x, z] + params)
    g_ref = torch.autograd.grad(_loss(ref), [x, z] + params)
    names = ['x', 'z'] + [n for n, _ in layer.named_parameters()]
    for name, a, r in zip(names, g_ours, g_ref):
        torch.testing.assert_close(a, r, atol=1e-9, rtol=1e-9, msg=name)
        assert a.abs().sum() > 0, f'no gradient reaches {name}'


@pytest.mark.skipif('fast' not in IMPLEMENTATIONS, reason='MMSP_FAST=0: fast paths are off')
@pytest.mark.parametrize('update_pixels', [True, False])
@pytest.mark.parametrize('case', CASES)
def test_fast_path_inference_matches_reference(case, update_pixels, monkeypatch):
    """Without gradients the LN statistics take the QR path (mmsp.ops.fast.layer_norm, forced
    here for small maps): the same values."""
    monkeypatch.setattr(ln_module, 'QR_MIN_POSITIONS_PER_OUTPUT', 0)
    cp, cs, m, s, height, width, batch = case
    layer = _layer(cp, cs, m, s, update_pixels, impl='fast').eval()
    x, z = _inputs(cp, cs, s, height, width, batch)
    with torch.no_grad():
        ours = layer(x, z)
        ref = reference_sca(layer, x, z)
    for a, r in zip(ours, ref):
        finite = torch.isfinite(r)
        assert torch.equal(finite, torch.isfinite(a))
        torch.testing.assert_close(a[finite], r[finite], atol=1e-10, rtol=1e-10)


@pytest.mark.skipif('fast' not in IMPLEMENTATIONS, reason='MMSP_FAST=0: fast paths are off')
@pytest.mark.parametrize('scale', [1.0, 8.0])
@pytest.mark.parametrize('case', CASES + [(64, 96, 2, 4, 9, 14, 2), (32, 32, 1, 8, 17, 16, 2)])
def test_fast_path_float32_close_to_float64_reference(case, scale):
    """float32 fast path against the float64 reference (``scale`` widens the logit ranges)."""
    cp, cs, m, s, height, width, batch = case
    ref_layer = _layer(cp, cs, m, s).eval()
    with torch.no_grad():  # LN gains x scale: logits x scale^2
        ref_layer.pixel_norm.weight.mul_(scale)
        ref_layer.superpixel_norm.weight.mul_(scale)
    layer = SuperpixelCrossAttention(cp, cs, m, s, layer_scale_init=0.5).eval()
    layer.load_state_dict(ref_layer.state_dict())
    assert layer.fast_path
    x, z = (t.detach() for t in _inputs(cp, cs, s, height, width, batch))
    with torch.no_grad():
        ours = layer(x.float(), z.float())
        ref = reference_sca(ref_layer, x, z)
    assert torch.equal(torch.isinf(ours[2]), torch.isinf(ref[2]))
    for a, r in zip(ours, ref):
        finite = torch.isfinite(r)
        torch.testing.assert_close(a[finite].double(), r[finite], atol=5e-5 * scale, rtol=1e-4)


def test_switch_is_read_at_construction():
    with fast_path(False):
        plain = SuperpixelCrossAttention(8, 12, 2, 4)
    with fast_path(True):
        fast = SuperpixelCrossAttention(8, 12, 2, 4)
        gn = SuperpixelCrossAttention(8, 12, 2, 4, norm_cfg=dict(type='GN', num_groups=1))
    assert not plain.fast_path and fast.fast_path and not gn.fast_path
    with fast_module.paper_form(fast):
        assert not fast.fast_path
    assert fast.fast_path


def test_batchnorm_matches_reference_in_train_mode():
    # BN statistics span the whole (unpadded) map
    layer = _layer(8, 12, 2, 3, norm_cfg=dict(type='BN')).train()
    x, z = _inputs(8, 12, 3, 10, 7, 2)
    ours = layer(x, z)
    layer_ref = _layer(8, 12, 2, 3, norm_cfg=dict(type='BN')).train()
    ref = reference_sca(layer_ref, x, z)
    for a, r in zip(ours, ref):
        finite = torch.isfinite(r)
        torch.testing.assert_close(a[finite], r[finite], atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize('update_pixels', [True, False])
def test_parameter_names_and_shapes_are_stable(update_pixels):
    """Full-width projections and norms with or without the pixel update (the paper's layer)."""
    layer = SuperpixelCrossAttention(64, 384, 2, 4, update_pixels=update_pixels)
    shapes = {n: tuple(p.shape) for n, p in layer.state_dict().items()}
    want = {
        'pixel_pe.weight': (64, 1, 3, 3), 'pixel_pe.bias': (64, ),
        'superpixel_pe.weight': (384, 1, 3, 3), 'superpixel_pe.bias': (384, ),
        'superpixel_qkv.weight': (192, 384, 1, 1), 'superpixel_norm.weight': (192, ),
        'superpixel_norm.bias': (192, ), 'pixel_qkv.weight': (512, 64, 1, 1),
        'pixel_norm.weight': (512, ), 'pixel_norm.bias': (512, ),
        'gamma_superpixel': (384, )
    }
    if update_pixels:
        want['gamma_pixel'] = (64, )
    assert shapes == want


def test_without_pixel_update_normalises_like_the_full_layer():
    """Dropping the pixel update changes only the pixels: the association and the superpixels
    are those of the full layer with the same weights."""
    full = _layer(8, 12, 2, 4, update_pixels=True)
    last = _layer(8, 12, 2, 4, update_pixels=False)
    last.load_state_dict(full.state_dict(), strict=False)
    x, z = _inputs(8, 12, 4, 10, 7, 2)
    a, b = full(x, z), last(x, z)
    torch.testing.assert_close(a[1], b[1])
    torch.testing.assert_close(a[2], b[2])


@pytest.mark.parametrize('impl', IMPLEMENTATIONS)
def test_float32_and_bf16_autocast(impl):
    layer = _layer(8, 16, 2, 4, impl=impl).float()
    x = torch.randn(2, 8, 13, 9)
    z = torch.randn(2, 16, 4, 3)
    ref = [t.detach() for t in layer(x, z)]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = layer(x, z)
    assert out[0].dtype == x.dtype and out[1].dtype == z.dtype
    assert out[2].dtype == torch.float32
    for a, r in zip(out, ref):
        finite = torch.isfinite(r)
        assert torch.equal(torch.isfinite(a), finite)
        torch.testing.assert_close(a[finite].float(), r[finite], atol=0.1, rtol=0.05)
    _loss(out).backward()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


def test_works_after_inference_mode_then_trains():
    # the cached geometry masks built under inference_mode must be usable by autograd later
    layer = _layer(4, 8, 1, 2).float()
    x, z = torch.randn(1, 4, 5, 5), torch.randn(1, 8, 3, 3)
    with torch.inference_mode():
        layer(x, z)
    _loss(layer(x, z)).backward()
    assert layer.pixel_qkv.weight.grad is not None


def test_bad_inputs_raise():
    layer = SuperpixelCrossAttention(8, 12, 2, 4)
    with pytest.raises(ValueError, match='expected pixels'):
        layer(torch.randn(1, 6, 8, 8), torch.randn(1, 12, 2, 2))
    with pytest.raises(ValueError, match='expected pixels'):
        layer(torch.randn(1, 8, 8, 8), torch.randn(1, 10, 2, 2))
    with pytest.raises(ValueError, match=r'inconsistent'):
        layer(torch.randn(1, 8, 8, 8), torch.randn(1, 12, 3, 2))
    with pytest.raises(ValueError, match='2 spatial dims'):
        layer(torch.randn(8, 8, 8), torch.randn(1, 12, 2, 2))
    with pytest.raises(ValueError, match='batch'):
        layer(torch.randn(2, 8, 8, 8), torch.randn(1, 12, 2, 2))
    with pytest.raises(ValueError, match='num_heads'):
        SuperpixelCrossAttention(8, 12, 3, 4)
    with pytest.raises(ValueError, match='stride'):
        SuperpixelCrossAttention(8, 12, 2, 0)
    with pytest.raises(ValueError, match='spatial_dims'):
        SuperpixelCrossAttention(8, 12, 2, 4, spatial_dims=1)


@pytest.mark.parametrize('impl', IMPLEMENTATIONS)
def test_association_export_can_be_skipped(impl):
    layer = _layer(8, 12, 2, 4, impl=impl)
    x, z = _inputs(8, 12, 4, 10, 7, 2)
    full = layer(x, z)
    x2, z2, none = layer(x, z, return_association=False)
    assert none is None
    assert torch.equal(x2, full[0]) and torch.equal(z2, full[1])


@pytest.mark.parametrize('update_pixels', [True, False])
def test_clip_layer_with_one_frame_equals_the_image_layer(update_pixels):
    """A 3-D layer whose depthwise kernels are the 2-D ones in their centre slice, on a one-frame
    clip with one temporal cell, computes the 2-D layer."""
    layer2d = _layer(8, 12, 2, 4, update_pixels)
    with fast_path(False):
        layer3d = SuperpixelCrossAttention(8, 12, 2, (1, 4, 4), update_pixels=update_pixels,
                                           spatial_dims=3).double()
    state = {}
    for name, value in layer2d.state_dict().items():
        if name.endswith('pe.weight'):  # (C, 1, 3, 3) -> centre slice of (C, 1, 3, 3, 3)
            value = torch.stack([torch.zeros_like(value), value, torch.zeros_like(value)], 2)
        elif value.dim() == 4:  # 1x1 convs
            value = value[:, :, None]
        state[name] = value
    layer3d.load_state_dict(state)
    x, z = _inputs(8, 12, 4, 10, 7, 2)
    a = layer2d(x, z)
    b = layer3d(x[:, :, None], z[:, :, None])
    torch.testing.assert_close(b[0][:, :, 0], a[0])
    torch.testing.assert_close(b[1][:, :, 0], a[1])
    assert b[2].shape == (2, 2, 27, 1, 10, 7)
    torch.testing.assert_close(b[2][:, :, 9:18, 0], a[2])

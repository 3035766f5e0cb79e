"""SuperpixelCrossAttention equals a straightforward NCHW re-implementation of spec 3.3.

The reference below uses no mmsp operator: dense (HW x hw) attention matrices with the
non-neighbour pairs masked, 1x1 convs via ``F.conv2d`` and a hand-written channel LayerNorm,
all in float64. The layer runs its channels-last cell-layout fast path (LN2d) or its NCHW
fallback (any other norm); both must match, values and gradients.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from mmsp.models.utils import SuperpixelCrossAttention
from mmsp.models.utils import norm as norm_module

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
    """Spec 3.3 in NCHW with dense masked attention; returns (x', z', A (B, M, 9, H, W))."""
    b, cp, height, width = x.shape
    cs, rows, cols = z.shape[1:]
    m, s = layer.num_heads, layer.stride
    d = cp // m
    xe = x + F.conv2d(x, layer.pixel_pe.weight, layer.pixel_pe.bias, padding=1, groups=cp)
    ze = z + F.conv2d(z, layer.superpixel_pe.weight, layer.superpixel_pe.bias, padding=1,
                      groups=cs)
    sp = _ref_norm(layer.superpixel_norm, F.conv2d(ze, layer.superpixel_qkv.weight))
    px = _ref_norm(layer.pixel_norm, F.conv2d(xe, layer.pixel_qkv.weight))
    if layer.update_pixels:
        sq, sk, sv = sp.split([cp, cp, cp], 1)
        pq, pk, pv = px.split([cp, cp, cs], 1)
    else:
        sq, (pk, pv) = sp, px.split([cp, cs], 1)
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


def _layer(cp, cs, m, s, update_pixels=True, norm_cfg=dict(type='LN2d', eps=1e-6), seed=0):
    torch.manual_seed(seed)
    layer = SuperpixelCrossAttention(cp, cs, m, s, norm_cfg, layer_scale_init=0.5,
                                     update_pixels=update_pixels).double()
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


@pytest.mark.parametrize('update_pixels', [True, False])
@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('norm', ['LN2d', 'GN', None])
def test_matches_nchw_reference_values_and_gradients(case, update_pixels, norm):
    cp, cs, m, s, height, width, batch = case
    norm_cfg = {'LN2d': dict(type='LN2d', eps=1e-6), 'GN': dict(type='GN', num_groups=1),
                None: None}[norm]
    layer = _layer(cp, cs, m, s, update_pixels, norm_cfg)
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


@pytest.mark.parametrize('update_pixels', [True, False])
@pytest.mark.parametrize('case', CASES)
def test_inference_path_matches_reference(case, update_pixels, monkeypatch):
    """Without gradients the LN statistics take the QR path (mmsp.models.utils.norm, forced
    here for small maps) and the absorbed logits the per-pixel scale: the same values."""
    monkeypatch.setattr(norm_module, 'QR_MIN_POSITIONS_PER_OUTPUT', 0)
    cp, cs, m, s, height, width, batch = case
    layer = _layer(cp, cs, m, s, update_pixels).eval()
    x, z = _inputs(cp, cs, s, height, width, batch)
    with torch.no_grad():
        ours = layer(x, z)
        ref = reference_sca(layer, x, z)
    for a, r in zip(ours, ref):
        finite = torch.isfinite(r)
        assert torch.equal(finite, torch.isfinite(a))
        torch.testing.assert_close(a[finite], r[finite], atol=1e-10, rtol=1e-10)


def test_batchnorm_fallback_matches_reference_in_train_mode():
    # BN statistics span the whole (unpadded) map: the NCHW fallback must see exactly that
    layer = _layer(8, 12, 2, 3, norm_cfg=dict(type='BN')).train()
    x, z = _inputs(8, 12, 3, 10, 7, 2)
    ours = layer(x, z)
    layer_ref = _layer(8, 12, 2, 3, norm_cfg=dict(type='BN')).train()
    ref = reference_sca(layer_ref, x, z)
    for a, r in zip(ours, ref):
        finite = torch.isfinite(r)
        torch.testing.assert_close(a[finite], r[finite], atol=1e-10, rtol=1e-10)


def test_parameter_names_and_shapes_are_stable():
    layer = SuperpixelCrossAttention(64, 384, 2, 4)
    shapes = {n: tuple(p.shape) for n, p in layer.state_dict().items()}
    assert shapes == {
        'pixel_pe.weight': (64, 1, 3, 3), 'pixel_pe.bias': (64, ),
        'superpixel_pe.weight': (384, 1, 3, 3), 'superpixel_pe.bias': (384, ),
        'superpixel_qkv.weight': (192, 384, 1, 1), 'superpixel_norm.weight': (192, ),
        'superpixel_norm.bias': (192, ), 'pixel_qkv.weight': (512, 64, 1, 1),
        'pixel_norm.weight': (512, ), 'pixel_norm.bias': (512, ),
        'gamma_superpixel': (384, ), 'gamma_pixel': (64, )
    }


def test_float32_and_bf16_autocast():
    layer = _layer(8, 16, 2, 4).float()
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
    with pytest.raises(ValueError, match='channels'):
        layer(torch.randn(1, 6, 8, 8), torch.randn(1, 12, 2, 2))
    with pytest.raises(ValueError, match='channels'):
        layer(torch.randn(1, 8, 8, 8), torch.randn(1, 10, 2, 2))
    with pytest.raises(ValueError, match=r'inconsistent'):
        layer(torch.randn(1, 8, 8, 8), torch.randn(1, 12, 3, 2))
    with pytest.raises(ValueError, match='4D'):
        layer(torch.randn(8, 8, 8), torch.randn(1, 12, 2, 2))
    with pytest.raises(ValueError, match='batch'):
        layer(torch.randn(2, 8, 8, 8), torch.randn(1, 12, 2, 2))
    with pytest.raises(ValueError, match='num_heads'):
        SuperpixelCrossAttention(8, 12, 3, 4)
    with pytest.raises(ValueError, match='stride'):
        SuperpixelCrossAttention(8, 12, 2, 0)


def test_association_export_can_be_skipped():
    layer = _layer(8, 12, 2, 4)
    x, z = _inputs(8, 12, 4, 10, 7, 2)
    full = layer(x, z)
    x2, z2, none = layer(x, z, return_association=False)
    assert none is None
    assert torch.equal(x2, full[0]) and torch.equal(z2, full[1])


# cases for the fused CPU pass: cells of >= 16 pixels (absorbed keys), exact and padded grids,
# the widths the kernel specialises (C/M = 16, 32) and a generic one (20), 1-3 heads; cells of
# 16, 25, 36, 49, 64 and 81 pixels for the key-product micro-kernel: 16-pixel blocks alone
# (16, 64), with zero-padded slots (25), and with the last 8-pixel block (36, 49, 81)
FUSED_CASES = CASES + [(64, 96, 2, 4, 9, 14, 2), (48, 24, 3, 4, 12, 8, 1),
                       (40, 16, 2, 4, 8, 11, 1), (32, 32, 1, 8, 17, 16, 2),
                       (8, 12, 2, 6, 14, 13, 1), (16, 24, 2, 7, 15, 21, 1)]


@pytest.mark.parametrize('scale', [1.0, 8.0])
@pytest.mark.parametrize('update_pixels', [True, False])
@pytest.mark.parametrize('case', FUSED_CASES)
def test_fused_cpu_pass_matches_reference(cpu_kernels, monkeypatch, case, update_pixels, scale):
    """float32 inference of an absorbed-key LN2d layer takes the fused C++ pass
    (mmsp.ops.cpu_kernels): the same outputs as the float64 dense reference (``scale``
    widens the logit ranges), the exported association included; smaller cells keep the
    PyTorch ops."""
    import mmsp.models.utils.superpixel_cross_attention as sca_module
    calls = []
    monkeypatch.setattr(sca_module, 'sca_cell_pass',
                        lambda *a, **k: calls.append(1) or cpu_kernels.sca_cell_pass(*a, **k))
    cp, cs, m, s, height, width, batch = case
    ref_layer = _layer(cp, cs, m, s, update_pixels).eval()
    with torch.no_grad():  # LN gains x scale: logits x scale^2 (ranges of hundreds at 8)
        ref_layer.pixel_norm.weight.mul_(scale)
        ref_layer.superpixel_norm.weight.mul_(scale)
    layer = SuperpixelCrossAttention(cp, cs, m, s, layer_scale_init=0.5,
                                     update_pixels=update_pixels).eval()
    layer.load_state_dict(ref_layer.state_dict())
    x, z = (t.detach() for t in _inputs(cp, cs, s, height, width, batch))
    with torch.no_grad(), cpu_kernels.use_cpu_kernels(True):
        ours = layer(x.float(), z.float())
        no_assoc = layer(x.float(), z.float(), return_association=False)
        ref = reference_sca(ref_layer, x, z)
    assert bool(calls) == (s * s >= SuperpixelCrossAttention.ABSORB_MIN_CELL_PIXELS)
    assert ours[0].is_contiguous(memory_format=torch.channels_last)
    assert ours[1].is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(torch.isinf(ours[2]), torch.isinf(ref[2]))
    for a, r in zip(ours, ref):
        finite = torch.isfinite(r)
        torch.testing.assert_close(a[finite].double(), r[finite], atol=5e-5 * scale,
                                   rtol=1e-4)
    assert no_assoc[2] is None
    torch.testing.assert_close(no_assoc[0], ours[0], atol=0, rtol=0)
    torch.testing.assert_close(no_assoc[1], ours[1], atol=0, rtol=0)


@pytest.mark.parametrize('bias', [True, False])
def test_add_values_is_the_residual_of_the_values(bias):
    """``_FactorisedPixels.add_values`` (the fused path's superpixel update) against its
    definition ``z + gamma * heads_to_grid(values(...))``, from a strided window average."""
    from mmsp.models.utils.superpixel_cross_attention import _FactorisedPixels
    from mmsp.ops import heads_to_grid
    torch.manual_seed(0)
    m, c, cv, start = 3, 8, 12, 5
    px = _FactorisedPixels(None, None, torch.randn(start + cv, c, dtype=torch.float64),
                           torch.randn(start + cv, dtype=torch.float64) if bias else None)
    z = torch.randn(2, cv, 4, 5, dtype=torch.float64).contiguous(
        memory_format=torch.channels_last)
    gamma = torch.randn(cv, dtype=torch.float64)
    averaged = torch.randn(2, 4, 5, m, c, dtype=torch.float64).permute(0, 3, 1, 2, 4)
    before = z.clone()
    out = px.add_values(z, gamma, start, averaged)
    want = z + gamma.view(1, -1, 1, 1) * heads_to_grid(px.values(start, averaged))
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, want)
    assert torch.equal(z, before)  # a new tensor; z is left as it was

"""SuperpixelInit: the channels-last LN2d path equals conv -> LN2d -> GELU -> ceil-mode avg-pool;
SPFormerStem and SuperpixelInit take the fused LN + GELU kernel in float32 inference only."""
import pytest
import torch
import torch.nn.functional as F

import mmsp.models.backbones.spformer_stem as stem_module
from mmsp.models.backbones.spformer_stem import STEM_LAYOUTS, SPFormerStem, SuperpixelInit


def _reference(init, x):
    """Spec 3.2 in NCHW: 1x1 conv, channel LN written out, GELU, mean over real cell pixels."""
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
def test_channels_last_path_matches_reference(size, stride):
    torch.manual_seed(0)
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


def test_other_norms_use_the_nchw_path():
    torch.manual_seed(0)
    init = SuperpixelInit(4, 8, 3, norm_cfg=dict(type='GN', num_groups=2)).double().eval()
    x = torch.randn(1, 4, 7, 8, dtype=torch.float64)
    ref = F.avg_pool2d(F.gelu(init.norm(init.lift(x))), 3, 3, ceil_mode=True)
    torch.testing.assert_close(init(x), ref)


def test_chunked_batches_equal_one_pass(monkeypatch):
    torch.manual_seed(0)
    init = SuperpixelInit(4, 6, 3).double()
    x = torch.randn(5, 4, 7, 9, dtype=torch.float64)
    whole = init(x)
    monkeypatch.setattr(SuperpixelInit, 'CHUNK_BYTES', 1)  # one image at a time
    torch.testing.assert_close(init(x), whole, atol=1e-14, rtol=1e-14)
    torch.testing.assert_close(whole, _reference(init, x))


def _spy_kernel(monkeypatch, cpu_kernels):
    calls = []
    monkeypatch.setattr(
        stem_module, 'layer_norm_gelu',
        lambda *a, **k: calls.append(k.get('cell_mean', False)) or cpu_kernels.layer_norm_gelu(
            *a, **k))
    return calls


@pytest.mark.parametrize('size,stride', [((8, 12), 4), ((9, 14), 4), ((7, 7), 7)])
def test_fused_kernel_in_float32_inference(cpu_kernels, monkeypatch, size, stride):
    """The one-pass LN + GELU + cell mean (partial border cells included) against the float64
    reference; training keeps the folded path (no kernel call)."""
    calls = _spy_kernel(monkeypatch, cpu_kernels)
    torch.manual_seed(0)
    init = SuperpixelInit(16, 24, stride)
    with torch.no_grad():
        for p in init.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(3, 16, *size)
    with torch.no_grad():
        ours = init(x)
    assert calls == [True]
    assert ours.is_contiguous(memory_format=torch.channels_last)
    ref = _reference(init.double(), x.double())
    torch.testing.assert_close(ours.double(), ref, atol=2e-6, rtol=1e-5)
    init.float()(x).sum().backward()  # grad mode with trainable weights: the PyTorch ops
    assert calls == [True] and init.lift.weight.grad is not None


def _plain_stem(stem, x):
    """The stem's layers as configured (conv, LN2d, GELU), in float64."""
    for layer in stem.double().layers:
        x = layer(x)
    return x


@pytest.mark.parametrize('stem_type', sorted(STEM_LAYOUTS))
def test_stem_fused_kernel_matches_its_layers(cpu_kernels, monkeypatch, stem_type):
    calls = _spy_kernel(monkeypatch, cpu_kernels)
    torch.manual_seed(0)
    stem = SPFormerStem(stem_type, 3, 32)
    with torch.no_grad():
        for p in stem.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(2, 3, 24, 40)
    with torch.no_grad():
        ours = stem(x)
        with cpu_kernels.use_cpu_kernels(False):
            plain = stem(x)
    assert calls == [False] * len(STEM_LAYOUTS[stem_type][1])
    assert ours.shape == plain.shape == (2, 32, 24 // stem.stride, 40 // stem.stride)
    assert ours.is_contiguous(memory_format=torch.channels_last)
    ref = _plain_stem(stem, x.double())
    torch.testing.assert_close(ours.double(), ref, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(plain.double(), ref, atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize('case', ['grad', 'float64', 'tanh_gelu', 'batch_norm'])
def test_stem_keeps_its_layers_where_the_kernel_does_not_apply(cpu_kernels, monkeypatch, case):
    calls = _spy_kernel(monkeypatch, cpu_kernels)
    torch.manual_seed(0)
    kwargs = dict()
    if case == 'tanh_gelu':
        kwargs['act_cfg'] = dict(type='GELU', approximate='tanh')
    elif case == 'batch_norm':
        kwargs['norm_cfg'] = dict(type='BN')
    stem = SPFormerStem('cc4', 3, 16, **kwargs).eval()
    x = torch.randn(1, 3, 16, 16)
    if case == 'float64':
        stem, x = stem.double(), x.double()
    if case == 'grad':
        stem(x).sum().backward()
    else:
        with torch.no_grad():
            torch.testing.assert_close(stem(x), stem.layers(x))
    assert calls == []

"""mmsp.ops.cpu_kernels: when the fused C++ passes are used, and that whole models agree.

The kernels' values are tested against float64 references with the layers that use them
(``test_superpixel_cross_attention.py``, ``test_spformer_stage.py``); here: the switches, the
fallback when the build fails, the cases that must keep the PyTorch ops (autograd, tracing,
autocast, other dtypes), a whole SPFormer backbone with and without them, and the kernels'
argument checks.
"""
import warnings

import pytest
import torch
import torch.nn.functional as F

import mmsp.models.layers.superpixel_cross_attention as sca_module
from mmsp.models.backbones import SPFormer
from mmsp.models.layers import SuperpixelCrossAttention
from mmsp.ops import SuperpixelGrid
from mmsp.ops import cpu_kernels as ck


def _layer(seed=0):
    torch.manual_seed(seed)
    layer = SuperpixelCrossAttention(16, 24, 2, 4, layer_scale_init=0.5).eval()
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return layer


def _spy(monkeypatch, kernels):
    calls = []
    monkeypatch.setattr(sca_module, 'sca_cell_pass',
                        lambda *a, **k: calls.append(1) or kernels.sca_cell_pass(*a, **k))
    return calls


def test_switches(monkeypatch):
    monkeypatch.setenv('MMSP_CPU_KERNELS', '0')
    assert not ck.cpu_kernels_enabled()
    with ck.use_cpu_kernels(True):
        assert ck.cpu_kernels_enabled()
    assert not ck.cpu_kernels_enabled()
    assert ck.load_cpu_kernels() is None  # switched off: nothing is built
    monkeypatch.setenv('MMSP_CPU_KERNELS', '1')
    assert ck.cpu_kernels_enabled()
    with ck.use_cpu_kernels(False):
        assert not ck.cpu_kernels_enabled()
        assert not ck.cpu_kernels_apply(torch.zeros(1))


def test_failed_build_warns_once_and_falls_back(monkeypatch):
    import torch.utils.cpp_extension as cpp_extension

    def broken(*args, **kwargs):
        raise RuntimeError('no compiler here')

    monkeypatch.setattr(cpp_extension, 'load', broken)
    monkeypatch.setattr(ck, '_state', dict(enabled=True, module=None, failed=False))
    with pytest.warns(UserWarning, match='could not be built'):
        assert ck.load_cpu_kernels() is None
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no second warning
        assert ck.load_cpu_kernels() is None
        assert not ck.cpu_kernels_apply(torch.zeros(1))
    layer, x, z = _layer(), torch.randn(1, 16, 8, 8), torch.randn(1, 24, 2, 2)
    with torch.no_grad():
        out = layer(x, z)  # the PyTorch ops
    with ck.use_cpu_kernels(False), torch.no_grad():
        ref = layer(x, z)
    for a, r in zip(out, ref):
        assert torch.equal(a, r)


@pytest.mark.filterwarnings('ignore::torch.jit.TracerWarning')
@pytest.mark.parametrize('case', ['grad', 'float64', 'autocast', 'trace', 'off'])
def test_pytorch_ops_where_the_kernels_do_not_apply(cpu_kernels, monkeypatch, case):
    calls = _spy(monkeypatch, cpu_kernels)
    layer, x, z = _layer(), torch.randn(1, 16, 8, 8), torch.randn(1, 24, 2, 2)
    with torch.no_grad():
        layer(x, z)
    assert calls == [1]  # float32 inference: the fused pass
    calls.clear()
    if case == 'grad':
        out = layer(x, z)
        out[1].sum().backward()
        assert layer.gamma_superpixel.grad is not None
    elif case == 'float64':
        with torch.no_grad():
            layer.double()(x.double(), z.double())
    elif case == 'autocast':
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
            layer(x, z)
    elif case == 'trace':
        layer.requires_grad_(False)  # a traced function may not capture trainable tensors
        with torch.no_grad():
            torch.jit.trace(lambda a, b: layer(a, b, return_association=False)[:2], (x, z),
                            check_trace=False)
    else:
        with torch.no_grad(), cpu_kernels.use_cpu_kernels(False):
            layer(x, z)
    assert calls == []


@pytest.mark.parametrize('arch,size', [('tiny', (64, 64)), ('small', (72, 88))])
def test_spformer_backbone_with_and_without_kernels(cpu_kernels, monkeypatch, arch, size):
    """A whole backbone (SCA layers, unfolding, association export) agrees with the PyTorch
    ops, float rounding aside; 88 px is not a multiple of the 16-px superpixel stride."""
    calls = _spy(monkeypatch, cpu_kernels)
    torch.manual_seed(0)
    backbone = SPFormer(arch=arch, img_size=size, out_type='featmap').eval()
    backbone.init_weights()
    with torch.no_grad():  # non-trivial LayerScales: the updates matter
        for name, p in backbone.named_parameters():
            if 'gamma' in name:
                p.fill_(0.3)
    images = torch.rand(2, 3, *size)
    with torch.no_grad():
        with cpu_kernels.use_cpu_kernels(False):
            ref_outs, ref_assocs = backbone.forward_with_association(images)
        outs, assocs = backbone.forward_with_association(images)
    assert len(calls) == 4  # every SCA layer
    for a, r in zip(list(outs) + list(assocs), list(ref_outs) + list(ref_assocs)):
        assert torch.equal(torch.isinf(a), torch.isinf(r))
        finite = torch.isfinite(r)
        torch.testing.assert_close(a[finite], r[finite], atol=1e-4, rtol=1e-4)


def test_kernel_argument_checks(cpu_kernels):
    module = cpu_kernels.load_cpu_kernels()
    grid = SuperpixelGrid(8, 8, 4)
    keys = torch.zeros(1, 2, 2, 4, 8)
    offsets, cells = torch.zeros(1, 2, 2, 4), torch.zeros(4, 16, 8)
    cpu_kernels.sca_cell_pass(keys, offsets, cells, cells, 1e-6, grid, 2)  # well-formed
    with pytest.raises(RuntimeError, match=r'keys must be \(B, h, w, K, C_in\)'):
        cpu_kernels.sca_cell_pass(keys[..., :6], offsets, cells, cells, 1e-6, grid, 2)
    with pytest.raises(RuntimeError, match=r'keys must be \(B, h, w, K, C_in\)'):
        cpu_kernels.sca_cell_pass(keys[:, :, :, :3], offsets, cells, cells, 1e-6, grid, 2)
    with pytest.raises(RuntimeError, match='grid does not match'):
        cpu_kernels.sca_cell_pass(keys, offsets, cells, cells, 1e-6, SuperpixelGrid(8, 13, 4), 2)
    with pytest.raises(RuntimeError, match='float32'):
        cpu_kernels.sca_cell_pass(keys, offsets.double(), cells, cells, 1e-6, grid, 2)
    with pytest.raises(RuntimeError, match='go together'):
        module.sca_cell_pass(keys, offsets, cells, cells, 1e-6, 8, 8, 4, 2, torch.zeros(1),
                             None, None, False)
    with pytest.raises(RuntimeError, match='values do not match'):
        cpu_kernels.unfold_logits(torch.zeros(1, 2, 9, 8, 8), torch.zeros(1, 3, 2, 8), 4)
    with pytest.raises(RuntimeError, match='sums must be'):
        module.sca_window_sum(torch.zeros(4, 9, 8), torch.zeros(4, 9, 2), torch.zeros(4, 9, 2),
                              2, 2)


@pytest.mark.parametrize('shape', [(1, 384, 14, 14), (2, 64, 7, 9), (1, 20, 1, 1),
                                   (3, 7, 2, 5), (1, 80, 3, 1)])
@pytest.mark.parametrize('bias', [True, False])
def test_depthwise_conv3x3_matches_conv2d(cpu_kernels, shape, bias):
    """Channels 384 / 64 (8-register blocks), 80 (64 + 16), 20 (16 + a tail of 4), 7 (tail
    only); 1x1 and one-row maps (every tap at the border)."""
    torch.manual_seed(0)
    c = shape[1]
    conv = torch.nn.Conv2d(c, c, 3, padding=1, groups=c, bias=bias)
    x = torch.randn(*shape).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        ref = F.conv2d(x.double(), conv.weight.double(),
                       None if conv.bias is None else conv.bias.double(), 1, 1, 1, c)
        out = cpu_kernels.depthwise_conv3x3(x, conv)
        plus = cpu_kernels.depthwise_conv3x3(x, conv, add_identity=True)
    for got, want in ((out, ref), (plus, ref + x.double())):
        assert got.shape == x.shape and got.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('bad', ['stride', 'dilation', 'kernel', 'groups', 'nchw', 'reflect'])
def test_depthwise_conv3x3_takes_only_its_case(cpu_kernels, bad):
    c = 8
    kwargs = dict(padding=1, groups=c)
    kernel = 3
    if bad == 'stride':
        kwargs['stride'] = 2
    elif bad == 'dilation':
        kwargs.update(dilation=2, padding=2)
    elif bad == 'kernel':
        kernel, kwargs['padding'] = 5, 2
    elif bad == 'groups':
        kwargs['groups'] = 2
    elif bad == 'reflect':
        kwargs['padding_mode'] = 'reflect'
    conv = torch.nn.Conv2d(c, c, kernel, **kwargs)
    x = torch.randn(1, c, 6, 6)
    if bad != 'nchw':
        x = x.contiguous(memory_format=torch.channels_last)
    good = torch.nn.Conv2d(c, c, 3, padding=1, groups=c)
    assert cpu_kernels.depthwise_conv3x3_applies(
        torch.randn(1, c, 6, 6).contiguous(memory_format=torch.channels_last), good)
    assert not cpu_kernels.depthwise_conv3x3_applies(x, conv)
    with pytest.raises(ValueError, match='3x3 depthwise conv'):
        cpu_kernels.depthwise_conv3x3(x, conv)
    if bad in ('dilation', 'nchw', 'reflect'):  # still depthwise 3x3: the plain conv
        with torch.no_grad():  # (its own definition: zero padding, as the SCA layers build it)
            ref = x + F.conv2d(x, conv.weight, conv.bias, 1, conv.padding, conv.dilation,
                               conv.groups)
            torch.testing.assert_close(sca_module.add_position_encoding(conv, x), ref,
                                       rtol=1e-5, atol=1e-5)
    module = cpu_kernels.load_cpu_kernels()
    with pytest.raises(RuntimeError, match=r'weight must be \(C, 1, 3, 3\)'):
        module.depthwise_conv3x3(torch.zeros(1, 4, 4, c), torch.zeros(c, 1, 5, 5), None, False)
    with pytest.raises(RuntimeError, match='bias must be'):
        module.depthwise_conv3x3(torch.zeros(1, 4, 4, c), torch.zeros(c, 1, 3, 3),
                                 torch.zeros(c + 1), False)


@pytest.mark.parametrize('case', ['inference', 'grad', 'float64', 'off'])
def test_position_encoding_takes_the_kernel_in_inference_only(cpu_kernels, monkeypatch, case):
    calls = []
    monkeypatch.setattr(sca_module, 'depthwise_conv3x3',
                        lambda *a, **k: calls.append(1) or cpu_kernels.depthwise_conv3x3(*a, **k))
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 16, 3, padding=1, groups=16)
    x = torch.randn(2, 16, 5, 6).contiguous(memory_format=torch.channels_last)
    if case == 'float64':
        conv, x = conv.double(), x.double()
    ref = x + F.conv2d(x, conv.weight, conv.bias, 1, 1, 1, 16)
    if case == 'grad':
        out = sca_module.add_position_encoding(conv, x)
        out.sum().backward()
        assert conv.weight.grad is not None
    else:
        with torch.no_grad(), cpu_kernels.use_cpu_kernels(case != 'off'):
            out = sca_module.add_position_encoding(conv, x)
    assert calls == ([1] if case == 'inference' else [])
    torch.testing.assert_close(out, ref.detach(), rtol=1e-5, atol=1e-5)


def test_eager_cpu_inference_conditions():
    conv = torch.nn.Conv2d(4, 4, 1)
    x = torch.randn(1, 4, 2, 2)
    assert not ck.eager_cpu_inference()
    assert not ck.eager_cpu_inference(x, x.double())  # mixed dtypes
    assert not ck.eager_cpu_inference(x, module=conv)  # grad mode, trainable parameters
    assert ck.eager_cpu_inference(x)  # grad mode, but nothing needs a gradient
    assert not ck.eager_cpu_inference(x.requires_grad_())
    with torch.no_grad():
        assert ck.eager_cpu_inference(x, conv.weight, module=conv)
        assert ck.eager_cpu_inference(x.double(), x.double())
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert not ck.eager_cpu_inference(x)
    conv.requires_grad_(False)
    assert ck.eager_cpu_inference(x.detach(), conv.weight, module=conv)  # a frozen module
    assert not ck.cpu_kernels_apply(x.detach().double(), module=conv)  # kernels: float32 only


def _ln_gelu_reference(y, norm):
    """float64 ``gelu(layer_norm(y))`` over the last dimension, LN written out."""
    y = y.double()
    mean = y.mean(-1, keepdim=True)
    var = ((y - mean)**2).mean(-1, keepdim=True)
    v = (y - mean) / torch.sqrt(var + norm.eps) * norm.weight.double() + norm.bias.double()
    return v * 0.5 * torch.special.erfc(-v / 2**0.5)


@pytest.mark.parametrize('channels', [384, 64, 20, 7])
@pytest.mark.parametrize('gain', [1.0, 12.0])
def test_layer_norm_gelu_matches_reference(cpu_kernels, channels, gain):
    """Channels 384 / 64 (vector path), 20 (vectors + a tail), 7 (tail only); gain 12 puts the
    normalised values far into both tails of the GELU (outputs ~1e-30 on the negative side:
    the absolute error stays ~1e-7, no cancellation)."""
    torch.manual_seed(0)
    norm = torch.nn.LayerNorm(channels, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(gain * (1 + 0.3 * torch.randn(channels)))
        norm.bias.copy_(0.5 * torch.randn(channels))
    y = 3 * torch.randn(2, 3, 5, 16, channels) + 1
    with torch.no_grad():
        rows = cpu_kernels.layer_norm_gelu(y, norm)
        pooled = cpu_kernels.layer_norm_gelu(y, norm, cell_mean=True)
    ref = _ln_gelu_reference(y, norm)
    assert rows.shape == y.shape and pooled.shape == y.shape[:-2] + (channels, )
    # about as accurate as PyTorch's float32 ops (float rounding of v, ~1 ulp, dominates)
    plain = F.gelu(norm(y)).double()
    scale = ref.abs().clamp_min(1)
    error, plain_error = ((rows.double() - ref).abs() / scale).max(), ((plain - ref).abs() /
                                                                       scale).max()
    assert error < 2 * plain_error + 1e-6, (error, plain_error)
    torch.testing.assert_close(pooled.double(), ref.mean(-2), atol=2e-6 * gain, rtol=1e-5)


def test_layer_norm_gelu_mean_over_valid_pixels(cpu_kernels):
    """The mean is over each cell's real pixels (the mask broadcast over the batch)."""
    torch.manual_seed(0)
    norm = torch.nn.LayerNorm(24, eps=1e-6)
    grid = SuperpixelGrid(9, 14, 4)  # partial cells at the bottom and the right
    valid = grid.pixel_mask()
    y = torch.randn(2, grid.rows, grid.cols, 16, 24)
    y[:, ~valid] = 1e4  # padding slots must not count
    with torch.no_grad():
        out = cpu_kernels.layer_norm_gelu(y, norm, cell_mean=True, valid=valid)
    ref = _ln_gelu_reference(y, norm)
    mask = valid[None, ..., None].double()
    want = (ref * mask).sum(-2) / mask.sum(-2)
    torch.testing.assert_close(out.double(), want, atol=2e-6, rtol=1e-5)


def test_layer_norm_gelu_argument_checks(cpu_kernels):
    norm = torch.nn.LayerNorm(8)
    y = torch.randn(4, 16, 8)
    with pytest.raises(ValueError, match='LayerNorm over the 6 channels'):
        cpu_kernels.layer_norm_gelu(torch.randn(4, 6), norm)
    with pytest.raises(ValueError, match='valid needs cell_mean'):
        cpu_kernels.layer_norm_gelu(y, norm, valid=torch.ones(16, dtype=torch.bool))
    with pytest.raises(ValueError, match='trailing'):
        cpu_kernels.layer_norm_gelu(y, norm, cell_mean=True,
                                    valid=torch.ones(3, 16, dtype=torch.bool))
    with pytest.raises(ValueError, match='cell_mean needs'):
        cpu_kernels.layer_norm_gelu(torch.randn(8), norm, cell_mean=True)
    empty = torch.ones(4, 16, dtype=torch.bool)
    empty[2] = False
    with pytest.raises(RuntimeError, match='every cell needs a valid pixel'):
        cpu_kernels.layer_norm_gelu(y, norm, cell_mean=True, valid=empty)
    with pytest.raises(RuntimeError, match='float32'):
        cpu_kernels.layer_norm_gelu(y.double(), norm.double())
    module = cpu_kernels.load_cpu_kernels()
    with pytest.raises(RuntimeError, match='weight and bias'):
        module.layer_norm_gelu(y, torch.ones(7), torch.zeros(8), 1e-6, False, None)


def test_layer_norm_gelu_applies():
    norm, gelu = torch.nn.LayerNorm(8), torch.nn.GELU()
    x = torch.randn(2, 8)
    with torch.no_grad():
        assert ck.layer_norm_gelu_applies(norm, gelu, x) == (ck.load_cpu_kernels() is not None)
        assert not ck.layer_norm_gelu_applies(norm, torch.nn.GELU(approximate='tanh'), x)
        assert not ck.layer_norm_gelu_applies(norm, torch.nn.ReLU(), x)
        assert not ck.layer_norm_gelu_applies(torch.nn.LayerNorm(8, elementwise_affine=False),
                                              gelu, x)
        assert not ck.layer_norm_gelu_applies(torch.nn.LayerNorm((2, 4)), gelu, x)
        assert not ck.layer_norm_gelu_applies(torch.nn.BatchNorm1d(8), gelu, x)
        assert not ck.layer_norm_gelu_applies(norm, gelu, x.double())
        with ck.use_cpu_kernels(False):
            assert not ck.layer_norm_gelu_applies(norm, gelu, x)
    assert not ck.layer_norm_gelu_applies(norm, gelu, x)  # grad mode, trainable norm
    lift = torch.nn.Linear(8, 8)
    with torch.no_grad():
        assert ck.layer_norm_gelu_applies(norm, gelu, x, module=lift) == (
            ck.load_cpu_kernels() is not None)

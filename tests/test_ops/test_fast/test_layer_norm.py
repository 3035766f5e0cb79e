"""LN of a wide linear map computed from its narrow input (mmsp.ops.fast.layer_norm), float64."""
import pytest
import torch
import torch.nn.functional as F

from mmsp.ops.fast import layer_norm as norm_module
from mmsp.ops.fast.layer_norm import layer_norm_factors, layer_norm_of_linear


@pytest.fixture(params=['qr', 'quadratic form'])
def inference_path(request, monkeypatch):
    """Both variance paths without gradients: QR (forced for small inputs) and the quadratic
    form (taken below QR_MIN_POSITIONS_PER_OUTPUT positions per output)."""
    monkeypatch.setattr(norm_module, 'QR_MIN_POSITIONS_PER_OUTPUT',
                        0 if request.param == 'qr' else 10**9)
    return request.param


def _affine_ln(channels, seed=0):
    torch.manual_seed(seed)
    norm = torch.nn.LayerNorm(channels, eps=1e-6).double()
    with torch.no_grad():
        norm.weight.add_(0.5 * torch.randn(channels, dtype=torch.float64))
        norm.bias.add_(0.5 * torch.randn(channels, dtype=torch.float64))
    return norm


@pytest.mark.parametrize('with_bias', [False, True])
@pytest.mark.parametrize('inputs,outputs', [(4, 24), (16, 8), (1, 5)])
def test_layer_norm_of_linear_equals_the_direct_computation(inputs, outputs, with_bias):
    norm = _affine_ln(outputs)
    x = torch.randn(2, 3, 7, inputs, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(outputs, inputs, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(outputs, dtype=torch.float64, requires_grad=True) if with_bias else None
    ours = layer_norm_of_linear(x, weight, norm, bias)
    ref = F.layer_norm(F.linear(x, weight, bias), (outputs, ), norm.weight, norm.bias, norm.eps)
    torch.testing.assert_close(ours, ref, atol=1e-10, rtol=1e-10)
    leaves = [x, weight, norm.weight, norm.bias] + ([bias] if with_bias else [])
    g = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad(ours, leaves, g), torch.autograd.grad(ref, leaves, g)):
        torch.testing.assert_close(a, r, atol=1e-9, rtol=1e-9)


def test_factors_give_any_output_and_window_averages():
    """Output k = g_k (Wc_k . u) + b_k, also for averages of u with weights summing to one."""
    norm = _affine_ln(12)
    x = torch.randn(5, 3, dtype=torch.float64)
    weight = torch.randn(12, 3, dtype=torch.float64)
    x1, scale, centred = layer_norm_factors(x, weight, norm)
    scaled = x1 * scale
    ref = F.layer_norm(F.linear(x, weight), (12, ), norm.weight, norm.bias, norm.eps)
    torch.testing.assert_close(scaled @ (centred * norm.weight[:, None]).t() + norm.bias, ref)
    a = torch.softmax(torch.randn(5, dtype=torch.float64), 0)
    torch.testing.assert_close((a @ scaled) @ (centred * norm.weight[:, None]).t() + norm.bias,
                               a @ ref)


def test_zero_input_gives_the_shift_and_bad_norms_raise():
    norm = _affine_ln(6)
    out = layer_norm_of_linear(torch.zeros(2, 4, dtype=torch.float64),
                               torch.randn(6, 4, dtype=torch.float64), norm)
    torch.testing.assert_close(out, norm.bias.expand(2, 6))  # LN of a zero vector (padding)
    with pytest.raises(ValueError, match='LayerNorm over 6'):
        layer_norm_of_linear(torch.zeros(2, 4), torch.randn(6, 4), torch.nn.LayerNorm(5))
    with pytest.raises(ValueError, match='affine'):
        layer_norm_factors(torch.zeros(2, 4), torch.randn(6, 4),
                           torch.nn.LayerNorm(6, elementwise_affine=False))


@pytest.mark.parametrize('with_bias', [False, True])
@pytest.mark.parametrize('inputs,outputs', [(4, 24), (16, 8), (1, 5), (6, 6), (200, 300)])
def test_inference_path_equals_the_direct_computation(inputs, outputs, with_bias,
                                                      inference_path):
    """Without gradients the variance comes from the QR factor of the centred weights (also
    when O < I, and when O = I where the centred weights are rank-deficient)."""
    norm = _affine_ln(outputs)
    x = 3 * torch.randn(2, 3, 7, inputs, dtype=torch.float64)
    weight = torch.randn(outputs, inputs, dtype=torch.float64)
    bias = torch.randn(outputs, dtype=torch.float64) if with_bias else None
    ref = F.layer_norm(F.linear(x, weight, bias), (outputs, ), norm.weight, norm.bias, norm.eps)
    with torch.no_grad():
        ours = layer_norm_of_linear(x, weight, norm, bias)
        _, scale_ng, _ = layer_norm_factors(x, weight, norm, bias)
    torch.testing.assert_close(ours, ref, atol=1e-10, rtol=1e-10)
    _, scale_grad, _ = layer_norm_factors(x.requires_grad_(), weight, norm, bias)
    torch.testing.assert_close(scale_ng, scale_grad.detach(), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize('grad', [False, True])
@pytest.mark.parametrize('offset', [0.0, 30.0])
def test_float32_accuracy_against_float64(offset, grad, inference_path):
    """float32 factorised LN vs the float64 direct computation, also for inputs with a large
    common offset (a large mean of x does not cancel: the weights are centred, not x), on the
    training (quadratic form) and the inference (QR) path."""
    torch.manual_seed(0)
    norm = _affine_ln(512)
    weight = torch.randn(512, 64, dtype=torch.float64) * 0.05
    x = offset + torch.randn(4096, 64, dtype=torch.float64)
    ref = F.layer_norm(F.linear(x, weight), (512, ), norm.weight, norm.bias, norm.eps)
    ours = layer_norm_of_linear(x.float().requires_grad_(grad), weight.float(), norm.float())
    direct = F.layer_norm(F.linear(x.float(), weight.float()), (512, ), norm.weight.float(),
                          norm.bias.float(), norm.eps)
    err_ours = (ours.double() - ref).abs().max()
    err_direct = (direct.double() - ref).abs().max()
    assert err_ours < 1e-5 and err_ours < 4 * err_direct, (err_ours, err_direct)

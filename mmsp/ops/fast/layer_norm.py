"""LayerNorm of a linear map, computed from the narrow input (used by :mod:`.sca`).

With ``y = W x (+ c)`` (``O`` outputs from ``I`` inputs) and a LayerNorm over the ``O``
outputs, centring the *weights* gives exact identities (:func:`layer_norm_factors`): the
statistics cost ``I x I`` per position instead of passes over the ``O``-wide output, and any
output, or any average of outputs with weights summing to one, is one GEMM away from the
scaled input.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    'centre_weight', 'output_covariance', 'layer_norm_factors', 'layer_norm_of_linear',
    'is_channel_layer_norm'
]


def is_channel_layer_norm(norm: nn.Module, channels: int) -> bool:
    """Whether ``norm`` is an affine LayerNorm over ``channels`` channels (e.g. ``LN2d``)."""
    return (isinstance(norm, nn.LayerNorm) and tuple(norm.normalized_shape) == (channels, )
            and norm.elementwise_affine and getattr(norm, 'bias', None) is not None)


#: Least positions per LN output for the QR path of :func:`_inverse_std` (below it the QR
#: costs more than the element-wise product it saves).
QR_MIN_POSITIONS_PER_OUTPUT = 16


def centre_weight(weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """``Wc = W' - mean_rows(W')`` (O, I[+1]) with ``W' = [W, c]`` for a bias ``c``: the
    centred weight of :func:`layer_norm_factors` (``y - mean(y) = Wc x'``)."""
    if bias is not None:
        weight = torch.cat([weight, bias[:, None]], dim=1)
    return weight - weight.mean(0, keepdim=True)


def output_covariance(centred: Tensor) -> Tensor:
    """``G = Wc^T Wc / O`` (I, I), positive semi-definite: ``var(y) = x^T G x``."""
    return centred.t() @ centred / centred.shape[0]


def _inverse_std(x: Tensor, centred: Tensor, eps: float) -> Tensor:
    """``1 / sqrt(var + eps)`` (..., 1) of the outputs ``Wc x`` over their ``O`` channels.

    ``var = |Wc x|^2 / O``. With gradients (training) it is the quadratic form
    ``x^T (Wc^T Wc / O) x``: one GEMM, a product and a sum. Without (inference), the reduced
    QR factor ``R`` of ``Wc`` (``R^T R = Wc^T Wc``, ``min(O, I) x I``; its ``mode='r'`` has no
    backward) gives ``var = |R x|^2 / O``: one GEMM and one fused norm reduction, no
    element-wise product the size of the GEMM output (~30% faster at ``I = 256``), and no
    squared condition number. The QR costs ``O(O I^2)`` per call, so it is only taken for at
    least :data:`QR_MIN_POSITIONS_PER_OUTPUT` ``* O`` positions (the head's 32k-pixel maps,
    not SPFormer's 56 x 56 map of one image).
    """
    outputs = centred.shape[0]
    positions = x.numel() // max(x.shape[-1], 1)
    if (torch.is_grad_enabled() and (x.requires_grad or centred.requires_grad)) or \
            positions < QR_MIN_POSITIONS_PER_OUTPUT * outputs:
        var = (F.linear(x, output_covariance(centred)) * x).sum(-1, keepdim=True)
    else:
        work = torch.promote_types(centred.dtype, torch.float32)  # no half-precision QR
        factor = torch.linalg.qr(centred.to(work), mode='r').R.to(centred.dtype)
        var = torch.linalg.vector_norm(F.linear(x, factor), dim=-1, keepdim=True).square()
        var = var / outputs
    return torch.rsqrt(var.clamp_min(0) + eps)


def layer_norm_factors(x: Tensor,
                       weight: Tensor,
                       norm: nn.LayerNorm,
                       bias: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
    """Factors of ``norm(F.linear(x, weight, bias))`` that need only the narrow input.

    With ``y = W x (+ c)`` (``O`` outputs from ``I`` inputs) and a LayerNorm over the ``O``
    outputs, centring the *weights* gives exact identities: ``y - mean(y) = Wc x'`` and
    ``var(y) = |Wc x'|^2 / O`` with ``Wc = W' - mean_rows(W')``, where ``x' = [x, 1]`` and
    ``W' = [W, c]`` when there is a bias. So output ``k`` is ``g_k (Wc_k . r x') + b_k`` with
    ``r = 1 / sqrt(var + eps)``: the statistics cost ``I x I`` per position instead of passes
    over the ``O``-wide output, and any output (or any average of outputs with weights summing
    to one) is one GEMM away from the scaled input ``r x'``. The scale is returned apart from
    ``x'`` so that callers can apply it where it is cheapest (on ``x'``, or on a narrower
    result such as attention logits).

    Args:
        x (Tensor): (..., I) channels-last input.
        weight (Tensor): (O, I) linear weight.
        norm (nn.LayerNorm): LayerNorm over ``O`` channels (affine).
        bias (Tensor, optional): (O, ) linear bias.

    Returns:
        tuple: the input ``x'`` (..., I[+1]), the inverse standard deviation ``r`` (..., 1) and
        the centred weight ``Wc`` (O, I[+1]).
    """
    if tuple(norm.normalized_shape) != (weight.shape[0], ) or not norm.elementwise_affine:
        raise ValueError(f'layer_norm_factors: an affine LayerNorm over {weight.shape[0]} '
                         f'outputs is needed, got {norm}')
    if bias is not None:
        x = torch.cat([x, x.new_ones(x.shape[:-1] + (1, ))], dim=-1)
    centred = centre_weight(weight, bias)
    return x, _inverse_std(x, centred, norm.eps), centred


def layer_norm_of_linear(x: Tensor,
                         weight: Tensor,
                         norm: nn.LayerNorm,
                         bias: Optional[Tensor] = None) -> Tensor:
    """``norm(F.linear(x, weight, bias))`` (LN over all outputs) via :func:`layer_norm_factors`.

    One GEMM with the norm folded in, from the ``I``-wide input: no separate normalisation pass
    over the ``O``-wide output. Shapes: (..., I) -> (..., O).
    """
    x, scale, centred = layer_norm_factors(x, weight, norm, bias)
    return F.linear(x * scale, centred * norm.weight[:, None], norm.bias)

"""Channel LayerNorm for NCHW maps, a norm builder that accepts it by config, LN(linear), and
1x1 conv + norm on channels-last layouts."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import Tensor, nn

from mmsp.ops import SuperpixelGrid
from mmsp.ops.cell_layout import grid_to_cells, to_cells


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel dimension of a (B, C, H, W) map.

    Args:
        num_channels (int): ``C``.
        eps (float): numerical epsilon. Defaults to 1e-6 (the SPFormer code's value).
    """

    def __init__(self, num_channels: int, eps: float = 1e-6, **kwargs) -> None:
        super().__init__(num_channels, eps=eps, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f'LayerNorm2d expects (B, C, H, W), got {tuple(x.shape)}')
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def build_norm2d(cfg: Optional[Dict], num_channels: int) -> nn.Module:
    """Build a norm for NCHW maps: ``dict(type='LN2d', eps=...)`` or any mmcv norm config."""
    if cfg is None:
        return nn.Identity()
    cfg = dict(cfg)
    if cfg.get('type') == 'LN2d':
        cfg.pop('type')
        cfg.pop('requires_grad', None)
        return LayerNorm2d(num_channels, **cfg)
    return build_norm_layer(cfg, num_channels)[1]


def is_pointwise_norm(norm: nn.Module) -> bool:
    """Whether ``norm`` acts on every position alone (LN2d or none): the channels-last paths."""
    return isinstance(norm, (LayerNorm2d, nn.Identity))


def pointwise_conv_norm(xc: Tensor, nchw: Tensor, grid: Optional[SuperpixelGrid], conv: nn.Conv2d,
                        norm: nn.Module) -> Tensor:
    """1x1 ``conv`` + ``norm`` of channels-last ``xc`` (B, ..., C_in) -> (B, ..., C_out).

    ``LayerNorm2d`` (and no norm) run channels-last: ``F.linear`` with the conv weight
    (O, I, 1, 1) viewed as (O, I) and its bias, then a last-dim ``F.layer_norm``, the same
    per-position computation. Any other norm (BN, GN, ... whose statistics span the map) runs
    in NCHW on ``nchw`` (the same map as ``xc``) exactly as configured, then moves to the layout
    of ``xc``: ``to_cells`` with ``grid``, or the channels-last (B, h, w, C) view of a map when
    ``grid`` is None.
    """
    if is_pointwise_norm(norm):
        y = F.linear(xc, conv.weight.flatten(1), conv.bias)
        if isinstance(norm, LayerNorm2d):
            y = F.layer_norm(y, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        return y
    y = norm(conv(nchw))
    return to_cells(y, grid) if grid is not None else grid_to_cells(y)


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


__all__ = [
    'LayerNorm2d', 'build_norm2d', 'is_pointwise_norm', 'centre_weight', 'output_covariance',
    'layer_norm_factors', 'layer_norm_of_linear', 'pointwise_conv_norm'
]

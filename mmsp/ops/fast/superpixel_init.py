"""SPFormer's superpixel initialisation in the cell layout: ``mean_cell(act(LN(W x + c)))``.

The plain form lifts the whole pixel map to ``Cs`` channels, normalises it over the channels
(a channels-last pass), activates and average-pools it. Here the pixel map moves once into the
channels-last cell layout (:func:`~mmsp.ops.cell_layout.to_cells`), the LayerNorm is folded into
the lift (:func:`~mmsp.ops.fast.layer_norm.layer_norm_of_linear`: one GEMM from the ``Cp``-wide
input, no separate pass over the ``Cs``-wide map), and the mean over each cell's real pixels is
a reduction over a contiguous dimension. The same function.
"""
from torch import Tensor, nn

from ..cell_layout import to_cells
from ..grid import SuperpixelGrid
from .layer_norm import is_channel_layer_norm, layer_norm_of_linear

__all__ = ['cell_mean_init', 'cell_mean_init_supports']


def cell_mean_init_supports(module: nn.Module) -> bool:
    """Whether :func:`cell_mean_init` computes ``module``'s function (a channel LayerNorm)."""
    return is_channel_layer_norm(module.norm, module.lift.out_channels)


def cell_mean_init(module: nn.Module, x: Tensor) -> Tensor:
    """``module(x)`` of a :class:`~mmsp.models.backbones.SuperpixelInit`, in the cell layout.

    Args:
        module (SuperpixelInit): with a channel LayerNorm (:func:`cell_mean_init_supports`).
        x (Tensor): (B, Cp, H, W) pixels.

    Returns:
        Tensor: (B, Cs, ceil(H / s), ceil(W / s)) in channels-last memory format.
    """
    grid = SuperpixelGrid.of(x.shape[2:], module.stride)
    cells = to_cells(x, grid)  # (B, h, w, s*s, Cp)
    y = module.act(layer_norm_of_linear(cells, module.lift.weight.flatten(1), module.norm,
                                        bias=module.lift.bias))  # (B, h, w, s*s, Cs)
    if grid.is_padded:  # partial border cells: the mean over their real pixels
        valid = grid.pixel_mask(y.device)
        y = y.masked_fill(~valid[..., None], 0.)
        pooled = y.sum(3) / valid.sum(-1, keepdim=True).to(y.dtype)
    else:
        pooled = y.mean(3)
    return pooled.permute(0, 3, 1, 2)

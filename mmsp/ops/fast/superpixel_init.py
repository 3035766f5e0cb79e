"""SPFormer's superpixel initialisation in the cell layout: ``mean_cell(act(LN(W x + c)))``.

The plain form lifts the whole pixel map to ``Cs`` channels, normalises it over the channels
(a channels-last pass), activates and average-pools it. Here the pixel map moves once into the
channels-last cell layout (:func:`~mmsp.ops.cell_layout.to_cells`), the LayerNorm is folded into
the lift (:func:`~mmsp.ops.fast.layer_norm.layer_norm_of_linear`: one GEMM from the ``Cp``-wide
input, no separate pass over the ``Cs``-wide map), and the mean over each cell's real pixels is
a reduction over a contiguous dimension. The same function.
"""
from torch import Tensor, nn

from ..cell_layout import cell_mean, to_cells
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
        x (Tensor): (B, Cp, *size) pixels (an image (B, Cp, H, W) or a clip).

    Returns:
        Tensor: (B, Cs, *ceil(size / stride)) in channels-last memory format.
    """
    grid = SuperpixelGrid.of(x.shape[2:], module.stride)
    cells = to_cells(x, grid)  # (B, *shape, P, Cp)
    y = module.act(layer_norm_of_linear(cells, module.lift.weight.flatten(1), module.norm,
                                        bias=module.lift.bias))  # (B, *shape, P, Cs)
    return cell_mean(y, grid).movedim(-1, 1)

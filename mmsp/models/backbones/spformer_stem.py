"""SPFormer embeddings: the pixel-branch stem and the ``lift_avgpool`` superpixel init."""
from typing import Dict, List, Tuple, Union

from mmcv.cnn import build_activation_layer
from torch import Tensor, nn

from mmsp.ops import SuperpixelGrid
from mmsp.ops.cell_layout import cell_mean, to_cells
from mmsp.ops.fast import use_fast_path
from mmsp.ops.fast.superpixel_init import cell_mean_init, cell_mean_init_supports
from ..utils import build_norm

#: ``stem_type -> (pixel stride r, [(kernel, stride, padding, channel fraction of Cp), ...])``.
#: ``conv4``/``conv8``: one k x k / k patchify conv. ``cc4``/``ccc8``: 3x3 stride-2 convs whose
#: widths double up to ``Cp`` (``ccc8`` at ``Cp = 64``: 16, 32, 64).
STEM_LAYOUTS: Dict[str, Tuple[int, List[Tuple[int, int, int, float]]]] = {
    'conv4': (4, [(4, 4, 0, 1.)]),
    'conv8': (8, [(8, 8, 0, 1.)]),
    'cc4': (4, [(3, 2, 1, .5), (3, 2, 1, 1.)]),
    'ccc8': (8, [(3, 2, 1, .25), (3, 2, 1, .5), (3, 2, 1, 1.)]),
}


_CONVS = {2: nn.Conv2d, 3: nn.Conv3d}


class SPFormerStem(nn.Module):
    """Pixel embedding of the pixel branch: bias-free conv(s), each followed by norm + act.

    Args:
        stem_type (str): one of :data:`STEM_LAYOUTS` (``'conv4'``, ``'conv8'``, ``'cc4'``,
            ``'ccc8'``).
        in_channels (int): image channels.
        out_channels (int): pixel width ``Cp``.
        norm_cfg (dict): norm after every conv. Defaults to ``LN2d`` (eps 1e-6), as the
            authors' code.
        act_cfg (dict): activation after every norm. Defaults to GELU.

    Shapes:
        x: (B, in_channels, H0, W0) with ``H0, W0`` multiples of :attr:`stride` (the backbone
        pads) -> (B, Cp, H0 / r, W0 / r).
    """

    def __init__(
        self,
        stem_type: str = 'conv4',
        in_channels: int = 3,
        out_channels: int = 64,
        norm_cfg: Dict = dict(type='LN2d', eps=1e-6),
        act_cfg: Dict = dict(type='GELU')
    ) -> None:
        super().__init__()
        if stem_type not in STEM_LAYOUTS:
            raise ValueError(f'SPFormerStem: unknown stem_type {stem_type!r}; '
                             f'choose from {sorted(STEM_LAYOUTS)}')
        self.stride, layout = STEM_LAYOUTS[stem_type]
        for _, _, _, frac in layout:
            if int(out_channels * frac) != out_channels * frac or out_channels * frac < 1:
                raise ValueError(f'SPFormerStem: stem {stem_type!r} needs out_channels '
                                 f'divisible by {int(1 / layout[0][3])}, got {out_channels}')
        layers: List[nn.Module] = []
        channels = in_channels
        for kernel, stride, padding, frac in layout:
            width = int(out_channels * frac)
            layers += [
                nn.Conv2d(channels, width, kernel, stride, padding, bias=False),
                build_norm(norm_cfg, width),
                build_activation_layer(act_cfg)
            ]
            channels = width
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2] % self.stride or x.shape[-1] % self.stride:
            raise ValueError(f'SPFormerStem: input {tuple(x.shape)} is not a multiple of the '
                             f'stem stride {self.stride}; pad it first')
        return self.layers(x)


class SuperpixelInit(nn.Module):
    """``lift_avgpool``: ``Z0 = AvgPool_s(GELU(LN2d(Conv1x1_{Cp->Cs}(X0))))``.

    SPFormer's "superpixel features initialised by average pooling" (arXiv 2401.02931): the
    pixels are lifted to the superpixel width, normalised and activated, then every ``s x s``
    cell (``s_t x s x s`` for clips) is averaged. Cells at the end of a dimension that the
    pixel map only partly covers are averaged over their real pixels, matching the
    ``ceil(H/s)`` grid of :class:`mmsp.ops.SuperpixelGrid`. With a LayerNorm, the fast path
    (:func:`mmsp.ops.fast.superpixel_init.cell_mean_init`) computes the same in the cell layout.

    Args:
        pixel_channels (int): ``Cp``.
        superpixel_channels (int): ``Cs``.
        stride (int | tuple[int]): superpixel cell size in pixel-branch pixels, ``s`` (or
            ``(s_t, s, s)`` for clips).
        norm_cfg (dict): norm after the lift. Defaults to ``LN2d`` (eps 1e-6).
        act_cfg (dict): activation after the norm. Defaults to GELU.
        spatial_dims (int): 2 (images) or 3 (clips). Defaults to 2.

    Shapes:
        x: (B, Cp, H, W) -> (B, Cs, ceil(H / s), ceil(W / s)); clips (B, Cp, T, H, W) ->
        (B, Cs, ceil(T / s_t), ceil(H / s), ceil(W / s)).
    """

    def __init__(self,
                 pixel_channels: int,
                 superpixel_channels: int,
                 stride: Union[int, Tuple[int, ...]],
                 norm_cfg: Dict = dict(type='LN2d', eps=1e-6),
                 act_cfg: Dict = dict(type='GELU'),
                 spatial_dims: int = 2) -> None:
        super().__init__()
        if spatial_dims not in _CONVS:
            raise ValueError(f'SuperpixelInit: spatial_dims must be 2 or 3, got {spatial_dims!r}')
        self.stride, self.spatial_dims = stride, spatial_dims
        self.lift = _CONVS[spatial_dims](pixel_channels, superpixel_channels, 1)
        self.norm = build_norm(norm_cfg, superpixel_channels)
        self.act = build_activation_layer(act_cfg)
        self.fast_path = use_fast_path() and cell_mean_init_supports(self)

    def forward(self, x: Tensor) -> Tensor:
        if self.fast_path:
            return cell_mean_init(self, x)
        x = self.act(self.norm(self.lift(x)))
        grid = SuperpixelGrid.of(x.shape[2:], self.stride)
        return cell_mean(to_cells(x, grid), grid).movedim(-1, 1)  # (B, Cs, *grid)


__all__ = ['STEM_LAYOUTS', 'SPFormerStem', 'SuperpixelInit']

"""SPFormer embeddings: the pixel-branch stem and the ``lift_avgpool`` superpixel init."""
from typing import Dict, List, Tuple

import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from torch import Tensor, nn

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
    cell is averaged. Cells at the bottom/right border that the pixel map only partly covers
    are averaged over their real pixels, matching the ``ceil(H/s)`` grid of
    :class:`mmsp.ops.SuperpixelGrid`. With a LayerNorm, the fast path
    (:func:`mmsp.ops.fast.superpixel_init.cell_mean_init`) computes the same in the cell layout.

    Args:
        pixel_channels (int): ``Cp``.
        superpixel_channels (int): ``Cs``.
        stride (int): superpixel cell size ``s`` in pixel-branch pixels.
        norm_cfg (dict): norm after the lift. Defaults to ``LN2d`` (eps 1e-6).
        act_cfg (dict): activation after the norm. Defaults to GELU.

    Shapes:
        x: (B, Cp, H, W) -> (B, Cs, ceil(H / s), ceil(W / s)).
    """

    def __init__(
        self,
        pixel_channels: int,
        superpixel_channels: int,
        stride: int,
        norm_cfg: Dict = dict(type='LN2d', eps=1e-6),
        act_cfg: Dict = dict(type='GELU')
    ) -> None:
        super().__init__()
        self.stride = stride
        self.lift = nn.Conv2d(pixel_channels, superpixel_channels, 1)
        self.norm = build_norm(norm_cfg, superpixel_channels)
        self.act = build_activation_layer(act_cfg)
        self.fast_path = use_fast_path() and cell_mean_init_supports(self)

    def forward(self, x: Tensor) -> Tensor:
        if self.fast_path:
            return cell_mean_init(self, x)
        # ceil_mode without padding: a partial border cell is the mean of its real pixels
        x = self.act(self.norm(self.lift(x)))
        return F.avg_pool2d(x, self.stride, self.stride, ceil_mode=True)


__all__ = ['STEM_LAYOUTS', 'SPFormerStem', 'SuperpixelInit']

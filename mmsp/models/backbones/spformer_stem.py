"""SPFormer embeddings: pixel-branch stem and ``lift_avgpool`` superpixel init (spec 3.2)."""
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from torch import Tensor, nn

from mmsp.models.layers import LayerNorm2d, build_norm2d, layer_norm_of_linear
from mmsp.ops import SuperpixelGrid
from mmsp.ops.cell_layout import to_cells
from mmsp.ops.cpu_kernels import layer_norm_gelu, layer_norm_gelu_applies

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
        norm_cfg (dict): norm after every conv. Defaults to ``LN2d`` (eps 1e-6), spec A5.
        act_cfg (dict): activation after every norm. Defaults to GELU.

    In float32 CPU inference with LN2d + exact GELU (the default) every norm and activation
    run as one pass over the channels-last conv output
    (:func:`~mmsp.ops.cpu_kernels.layer_norm_gelu`; the same function up to float rounding)
    and the result is channels-last; otherwise the layers run as configured.

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
                build_norm2d(norm_cfg, width),
                build_activation_layer(act_cfg)
            ]
            channels = width
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2] % self.stride or x.shape[-1] % self.stride:
            raise ValueError(f'SPFormerStem: input {tuple(x.shape)} is not a multiple of the '
                             f'stem stride {self.stride}; pad it first')
        layers = list(self.layers)  # (conv, norm, act) per stage
        triples = list(zip(layers[0::3], layers[1::3], layers[2::3]))
        if not all(layer_norm_gelu_applies(norm, act, x, conv.weight, module=self)
                   for conv, norm, act in triples):
            return self.layers(x)
        # channels-last convs, then LN + GELU over the channels of each pixel in one pass
        x = x.contiguous(memory_format=torch.channels_last)
        for conv, norm, _ in triples:
            x = layer_norm_gelu(conv(x).permute(0, 2, 3, 1), norm).permute(0, 3, 1, 2)
        return x


class SuperpixelInit(nn.Module):
    """``lift_avgpool``: ``Z0 = AvgPool_s(GELU(LN2d(Conv1x1_{Cp->Cs}(X0))))``.

    Cells at the bottom/right border that the pixel map only partly covers are averaged over
    their real pixels (``ceil_mode`` pooling without padding), matching the ``ceil(H/s)``
    grid of :class:`mmsp.ops.SuperpixelGrid`. With LN2d the computation runs in the
    channels-last cell layout and returns a channels-last map; other norms run in NCHW. In
    float32 CPU inference with exact GELU (the default) the lift is one GEMM and the norm,
    activation and cell mean one pass over its output per cell
    (:func:`~mmsp.ops.cpu_kernels.layer_norm_gelu`); otherwise the norm is folded into the
    lift (:func:`~mmsp.models.layers.layer_norm_of_linear`; one ``Cs``-wide pass fewer).
    Both compute the same function up to float rounding.

    Args:
        pixel_channels (int): ``Cp``.
        superpixel_channels (int): ``Cs``.
        stride (int): superpixel cell size ``s`` in pixel-branch pixels.
        norm_cfg (dict): norm after the lift. Defaults to ``LN2d`` (eps 1e-6).
        act_cfg (dict): activation after the norm. Defaults to GELU.

    Shapes:
        x: (B, Cp, H, W) -> (B, Cs, ceil(H / s), ceil(W / s)).
    """

    #: Bytes of ``Cs``-wide float32 intermediates made at once (whole images; at least one).
    CHUNK_BYTES = 8 * 2**20

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
        self.norm = build_norm2d(norm_cfg, superpixel_channels)
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(self.norm, LayerNorm2d):  # statistics over the map: plain NCHW
            x = self.act(self.norm(self.lift(x)))
            return F.avg_pool2d(x, self.stride, self.stride, ceil_mode=True)
        # LN2d: channels-last cell layout, the norm folded into the lift (one GEMM from the
        # narrow map, layer_norm_of_linear), then the mean over each cell's real pixels. The
        # Cs-wide intermediates are made for a few images at a time (CHUNK_BYTES), so that
        # they stay in cache and their memory is reused across the batch.
        grid = SuperpixelGrid(int(x.shape[-2]), int(x.shape[-1]), self.stride)
        cells = to_cells(x, grid)  # (B, h, w, s*s, Cp)
        per_image = cells[0].numel() // cells.shape[-1] * self.lift.out_channels * 4
        chunk = max(1, self.CHUNK_BYTES // max(per_image, 1))
        pooled = torch.cat([self._pool_cells(c, grid) for c in cells.split(chunk)])
        return pooled.permute(0, 3, 1, 2)  # (B, Cs, h, w) in channels-last memory format

    def _pool_cells(self, cells: Tensor, grid: SuperpixelGrid) -> Tensor:
        """(b, h, w, s*s, Cp) cell layout -> (b, h, w, Cs) means of act(LN2d(lift))."""
        if layer_norm_gelu_applies(self.norm, self.act, cells, self.lift.weight, module=self):
            y = F.linear(cells, self.lift.weight.flatten(1), self.lift.bias)
            valid = grid.pixel_mask(y.device) if grid.is_padded else None
            return layer_norm_gelu(y, self.norm, cell_mean=True, valid=valid)
        y = layer_norm_of_linear(cells, self.lift.weight.flatten(1), self.norm,
                                 bias=self.lift.bias)
        y = self.act(y)  # (b, h, w, s*s, Cs)
        if grid.is_padded:  # partial border cells: padding slots out, divide by real pixels
            valid = grid.pixel_mask(y.device)
            y = y.masked_fill(~valid[..., None], 0.)
            return y.sum(3) / valid.sum(-1, keepdim=True).to(y.dtype)
        return y.mean(3)


__all__ = ['STEM_LAYOUTS', 'SPFormerStem', 'SuperpixelInit']

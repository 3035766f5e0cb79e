"""Superpixel Cross Attention (SCA): one iteration of the asymmetric pixel<->superpixel layer."""
import math
from typing import Dict, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from mmsp.ops import (SuperpixelGrid, block_logits, block_logits_absorbed,
                      block_superpixel_update, block_unfold, blocks_to_association, from_blocks,
                      heads_to_grid)
from mmsp.ops.association import candidate_softmax
from mmsp.ops.cell_layout import cell_heads, grid_to_cells, to_cells
from mmsp.ops.cpu_kernels import (cpu_kernels_apply, depthwise_conv3x3, depthwise_conv3x3_applies,
                                  sca_cell_pass, sca_window_sum)
from .norm import (LayerNorm2d, build_norm2d, centre_weight, is_pointwise_norm,
                   layer_norm_factors, output_covariance, pointwise_conv_norm)


def add_position_encoding(conv: Optional[nn.Conv2d], x: Tensor) -> Tensor:
    """``x + conv(x)`` (``x`` without ``conv``) for a 3x3 depthwise conv, as one conv.

    The identity is added to the centre tap of a copy of the weight: one pass over the map
    instead of a conv and an add (the same function; gradients reach ``conv.weight`` as before).
    In float32 CPU inference on a channels-last map it is one pass of
    :func:`~mmsp.ops.cpu_kernels.depthwise_conv3x3` (no oneDNN set-up per call).
    """
    if conv is None:
        return x
    if depthwise_conv3x3_applies(x, conv) and cpu_kernels_apply(x, conv.weight, module=conv):
        return depthwise_conv3x3(x, conv, add_identity=True)
    weight = conv.weight.clone()
    weight[:, :, 1, 1] += 1
    return F.conv2d(x, weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)


class _FactorisedPixels(NamedTuple):
    """Pixel projections kept as ``y_p = A u_p + b`` over the narrow scaled input ``u_p``.

    With a pointwise norm every pixel output channel is an affine function of the ``C_in``-wide
    ``u_p = r_p x_p`` (``r_p`` the inverse standard deviation of the LN statistics of
    :func:`~mmsp.models.layers.layer_norm_factors`; ``u_p = x_p`` without a norm), so the wide
    pixel q/k/v maps never need to exist:

    * a logit ``<y_p[head], s_c>`` with a superpixel vector ``s_c`` is ``r_p <A[head]^T s_c,
      x_p> + <b[head], s_c>``: the projection can move to the (``s^2`` times fewer)
      superpixels and ``r_p`` to the 9 logits of the pixel
      (:func:`~mmsp.ops.block_logits_absorbed`);
    * a window average of values ``sum_p a_p y_p`` (``sum_p a_p = 1``) is
      ``A (sum_p a_p r_p x_p) + b``: the pixels are averaged at width ``C_in``, ``r_p`` folded
      into the weights ``a_p``.

    Attributes:
        inputs (Tensor): (B, h, w, s*s, C_in) ``x_p`` in the cell layout.
        scale (Tensor | None): (B, h, w, s*s, 1) ``r_p``, None without a norm.
        weight (Tensor): (O, C_in) ``A`` (centred weight times the LN gain).
        bias (Tensor | None): (O, ) ``b`` (LN shift), None without a norm.
    """
    inputs: Tensor
    scale: Optional[Tensor]
    weight: Tensor
    bias: Optional[Tensor]

    @property
    def scaled(self) -> Tensor:
        """(B, h, w, s*s, C_in) ``u_p = r_p x_p``."""
        return self.inputs if self.scale is None else self.inputs * self.scale

    def keys(self, superpixels: Tensor, num_heads: int) -> Tuple[Tensor, Tensor]:
        """Superpixel-side factors of ``<y_p[:C], s_c>`` per head (the first ``C`` outputs).

        Args:
            superpixels (Tensor): (B, h, w, C) channels-last superpixel vectors, paired with
                the pixel outputs ``[0, C)``.
            num_heads (int): heads ``M`` (contiguous channel groups of ``C / M``).

        Returns:
            tuple: (B, h, w, M, C_in) keys ``A[head]^T s_c`` and (B, h, w, M) offsets
            ``<b[head], s_c>``.
        """
        *lead, c = superpixels.shape
        s = superpixels.reshape(*lead, num_heads, c // num_heads)
        weight = self.weight[:c].reshape(num_heads, c // num_heads, -1)
        keys = torch.einsum('bhwmd,mdc->bhwmc', s, weight.to(s.dtype))
        if self.bias is None:
            return keys, s.new_zeros(s.shape[:-1])
        bias = self.bias[:c].reshape(num_heads, -1).to(s.dtype)
        return keys, (s * bias).sum(-1)

    def values(self, start: int, averaged: Tensor) -> Tensor:
        """Pixel outputs ``start:`` of window averages: (B, M, h, w, C_in) -> (B, M, h, w, C_v/M).

        Head ``m`` owns the value channels ``[m C_v / M, (m + 1) C_v / M)``; the averaging
        weights sum to one, so the shift passes through unchanged.
        """
        m = averaged.shape[1]
        weight = self.weight[start:].reshape(m, -1, self.weight.shape[-1])  # (M, C_v / M, C_in)
        out = torch.einsum('bmhwc,mdc->bmhwd', averaged, weight.to(averaged.dtype))
        if self.bias is None:
            return out
        return out + self.bias[start:].view(1, m, 1, 1, -1).to(out.dtype)

    def add_values(self, target: Tensor, gamma: Tensor, start: int, averaged: Tensor) -> Tensor:
        """``target + gamma * heads_to_grid(values(start, averaged))`` for inference.

        One matmul per head writes into the channels-last rows of the result, with ``gamma``
        folded into the weight (``A diag``-scaled rows) and ``gamma * b`` added to ``target``
        first: no (B, M, h, w, C_v / M) map, grid permute or separate residual pass.

        Args:
            target (Tensor): (B, C_v, h, w) channels-last (``z``).
            gamma (Tensor): (C_v, ) LayerScale.
            start (int): first pixel output of the values.
            averaged (Tensor): (B, M, h, w, C_in) window averages (any strides).

        Returns:
            Tensor: (B, C_v, h, w) in channels-last memory format.
        """
        b, m, h, w, c = averaged.shape
        cv = target.shape[1]
        dv = cv // m
        rows = target.permute(0, 2, 3, 1).reshape(b * h * w, cv)
        out = rows.clone() if self.bias is None else torch.addcmul(rows, gamma, self.bias[start:])
        inputs = averaged.permute(0, 2, 3, 1, 4).reshape(b * h * w, m, c)
        weight = self.weight[start:] * gamma[:, None]  # (C_v, C_in), head m rows [m dv, ...)
        for head in range(m):
            part = slice(head * dv, (head + 1) * dv)
            out[:, part].addmm_(inputs[:, head], weight[part].t())
        return out.view(b, h, w, cv).permute(0, 3, 1, 2)


def _factorise_pixels(xc: Tensor, conv: nn.Conv2d, norm: nn.Module) -> _FactorisedPixels:
    """``norm(conv(x))`` of the cell-layout pixels ``xc`` for LN2d or no norm, factorised.

    Args:
        xc (Tensor): (B, h, w, s*s, C_in) channels-last cell layout.
        conv (nn.Conv2d): bias-free 1x1 conv with ``O`` outputs.
        norm (nn.Module): ``LayerNorm2d`` over the ``O`` outputs or ``nn.Identity``.
    """
    weight = conv.weight.flatten(1)  # (O, C_in)
    if not isinstance(norm, LayerNorm2d):
        return _FactorisedPixels(xc, None, weight, None)
    xc, scale, centred = layer_norm_factors(xc, weight, norm)
    return _FactorisedPixels(xc, scale, centred * norm.weight[:, None], norm.bias)


class SuperpixelCrossAttention(BaseModule):
    """One SCA layer (= one iteration): ``(X, Z) -> (X', Z', A)``.

    Follows SPFormer (spec section 3.3): depthwise-conv position encoding on both branches;
    one bias-free 1x1 conv per branch producing the concatenated q/k/v, one LayerNorm2d over
    them, then a split; queries/keys live in the narrow pixel width ``Cp``. Both updates are
    computed *in parallel* from the same inputs (spec A3):

    * superpixel update (superpixels query pixels, softmax over each superpixel's 3x3-cell
      window): ``Z' = Z + gamma_s * dZ`` with pixel values lifted to ``Cs``;
    * pixel update (pixels query their 9 candidates, softmax over the 9):
      ``X' = X + gamma_p * dX`` with superpixel values reduced to ``Cp``.

    LayerScale gammas start at ``layer_scale_init`` (1e-5). No output projection, FFN or
    dropout. The exported association is the superpixel-update logits seen from the pixel side.

    Implementation (``docs/sca-speed.md``): the pixel map is moved once into the channels-last
    cell layout (:mod:`mmsp.ops.cell_layout`). With LN2d (or no norm) the pixel projections are
    factorised (:class:`_FactorisedPixels`): the LN statistics come from the narrow input, the
    values are averaged at width ``Cp`` before they are projected, and for cells of at least
    :attr:`ABSORB_MIN_CELL_PIXELS` pixels the q/k projections move to the superpixels
    (absorbed keys); smaller cells project q/k per pixel. Both logit sets are one set of
    pseudo-heads (:meth:`_paired_superpixels`). Norms other than LN2d (statistics over the map)
    are applied in NCHW exactly as configured. Parameters are the same as with plain convs
    (checkpoints load unchanged). For float32 CPU inference of LN2d layers with absorbed keys
    the element-wise work runs in fused C++ passes (:mod:`mmsp.ops.cpu_kernels`, round 5 of
    ``docs/sca-speed.md``; the same function).

    Args:
        pixel_channels (int): ``Cp``.
        superpixel_channels (int): ``Cs``.
        num_heads (int): association heads ``M``; must divide ``Cp`` and ``Cs``.
        stride (int): superpixel cell size ``s`` in pixels of the pixel map.
        norm_cfg (dict): norm after the qkv projections. Defaults to ``LN2d`` (eps 1e-6).
        layer_scale_init (float): initial LayerScale. Defaults to 1e-5.
        pos_embed (bool): depthwise 3x3 conditional position encoding. Defaults to True.
        pixel_pos_embed (bool, optional): the pixel side's encoding alone; None (default)
            follows ``pos_embed``. False suits callers that encode the pixels once for several
            layers (and may then pass the shared cell layout, see :meth:`forward`).
        update_pixels (bool): compute the pixel update. Defaults to True.
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        - x: (B, Cp, H, W); z: (B, Cs, ceil(H/s), ceil(W/s)).
        - returns x' (same as x), z' (same as z), association logits (B, M, 9, H, W)
          (``-inf`` at candidates outside the grid; None with ``return_association=False``).
    """

    #: Cells with at least this many pixels take the absorbed-key logits (``block_logits_absorbed``,
    #: same function). With the LN scale applied to the logits (not the pixels) it is faster on
    #: CPU for SPFormer's 4 x 4 cells too (one layer of SPFormer-S: 3.22 -> 2.96 ms/img at batch
    #: 1, 3.19 -> 2.35 at batch 32, interleaved); smaller cells keep the projected logits.
    ABSORB_MIN_CELL_PIXELS = 16

    def __init__(self,
                 pixel_channels: int,
                 superpixel_channels: int,
                 num_heads: int = 1,
                 stride: int = 4,
                 norm_cfg: Optional[Dict] = dict(type='LN2d', eps=1e-6),
                 layer_scale_init: float = 1e-5,
                 pos_embed: bool = True,
                 update_pixels: bool = True,
                 pixel_pos_embed: Optional[bool] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_heads < 1 or pixel_channels % num_heads or superpixel_channels % num_heads:
            raise ValueError(f'SuperpixelCrossAttention: num_heads={num_heads} must divide '
                             f'pixel_channels={pixel_channels} and '
                             f'superpixel_channels={superpixel_channels}')
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(f'SuperpixelCrossAttention: stride must be an int >= 1, got {stride}')
        cp, cs = pixel_channels, superpixel_channels
        self.pixel_channels, self.superpixel_channels = cp, cs
        self.num_heads, self.stride, self.update_pixels = num_heads, stride, update_pixels
        self.scale = 1.0 / math.sqrt(cp // num_heads)
        pixel_pos_embed = pos_embed if pixel_pos_embed is None else pixel_pos_embed
        self.pixel_pe = nn.Conv2d(cp, cp, 3, padding=1, groups=cp) if pixel_pos_embed else None
        self.superpixel_pe = nn.Conv2d(cs, cs, 3, padding=1, groups=cs) if pos_embed else None
        # superpixel side: q, k (width Cp), v (width Cp: feeds pixels)
        self.superpixel_qkv = nn.Conv2d(cs, 3 * cp if update_pixels else cp, 1, bias=False)
        self.superpixel_norm = build_norm2d(norm_cfg, 3 * cp if update_pixels else cp)
        # pixel side: q (Cp), k (Cp), v (width Cs: feeds superpixels)
        pixel_out = 2 * cp + cs if update_pixels else cp + cs
        self.pixel_qkv = nn.Conv2d(cp, pixel_out, 1, bias=False)
        self.pixel_norm = build_norm2d(norm_cfg, pixel_out)
        self.gamma_superpixel = nn.Parameter(torch.full((cs, ), float(layer_scale_init)))
        self.gamma_pixel = (nn.Parameter(torch.full((cp, ), float(layer_scale_init)))
                            if update_pixels else None)

    def _paired_superpixels(self, sp: Tensor) -> Tensor:
        """The superpixel vectors that meet the pixel ``[q,] k`` outputs: (B, h, w, split).

        With the pixel update both logit sets are one set of ``2M`` pseudo-heads: pixel
        ``[q | k]`` against superpixel ``[k | q]`` (pixel update first); otherwise the ``M``
        heads of the superpixel update, pixel ``k`` against superpixel ``q``.
        """
        cp = self.pixel_channels
        if self.update_pixels:
            return torch.cat([sp[..., cp:2 * cp], sp[..., :cp]], -1)
        return sp[..., :cp]

    def _projected_logits(self, px_qk: Tensor, sp: Tensor, grid: SuperpixelGrid) -> Tensor:
        """Block logits (B, H, h, w, s*s, 9) of projected pixel [q,] k (B, h, w, s*s, split)
        against :meth:`_paired_superpixels` (one batched matmul, one neighbour gather)."""
        paired = self._paired_superpixels(sp)
        heads = paired.shape[-1] * self.num_heads // self.pixel_channels
        return block_logits(cell_heads(px_qk, heads), cell_heads(paired, heads), grid, self.scale)

    def _fused_forward(self, x: Tensor, z: Tensor, xc: Tensor, sp: Tensor, grid: SuperpixelGrid,
                       return_association: bool) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """The rest of :meth:`forward` through the fused CPU passes (absorbed keys, LN2d,
        float32 inference: :func:`~mmsp.ops.cpu_kernels.cpu_kernels_apply`).

        ``G x`` for the LN statistics (``G = Wc^T Wc / O``) stays one PyTorch matmul. Then
        :func:`~mmsp.ops.cpu_kernels.sca_cell_pass` does the rest per cell (the absorbed-key
        logits, both softmaxes, the pixel update and the weighted pixel sums of the superpixel
        update), and :func:`~mmsp.ops.cpu_kernels.sca_window_sum` normalises the
        superpixel update over each window. The same function as the PyTorch ops up to float
        rounding (``test_fused_cpu_pass_matches_reference`` in
        ``tests/test_models/test_layers/test_superpixel_cross_attention.py``).
        """
        cp, m, norm = self.pixel_channels, self.num_heads, self.pixel_norm
        split = 2 * cp if self.update_pixels else cp
        b, h, w, p, c = xc.shape
        centred = centre_weight(self.pixel_qkv.weight.flatten(1))
        px = _FactorisedPixels(xc, None, centred * norm.weight[:, None], norm.bias)
        keys, offsets = px.keys(self._paired_superpixels(sp) * self.scale, split * m // cp)
        cells = xc.reshape(b * h * w, p, c)
        fused = sca_cell_pass(
            keys, offsets, F.linear(cells, output_covariance(centred)),
            cells, norm.eps, grid, m,
            values=sp[..., 2 * cp:] if self.update_pixels else None,
            x=x if self.update_pixels else None,
            gamma=self.gamma_pixel if self.update_pixels else None,
            export_association=return_association)
        averaged = sca_window_sum(fused['sums'], fused['cell_max'], fused['cell_sum'], grid)
        z = px.add_values(z, self.gamma_superpixel, split, averaged)
        return (fused['x'] if self.update_pixels else x), z, fused['association']

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is not None:
            return
        for conv in (self.superpixel_qkv, self.pixel_qkv):
            trunc_normal_(conv.weight, std=0.02)

    def forward(self,
                x: Tensor,
                z: Tensor,
                return_association: bool = True,
                pixel_cells: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """One iteration.

        Args:
            x (Tensor): (B, Cp, H, W) pixels.
            z (Tensor): (B, Cs, h, w) superpixels.
            return_association (bool): False skips exporting the association (the third
                output is then None): callers that keep only the last layer's association
                save its layout conversion in the others.
            pixel_cells (Tensor, optional): ``mmsp.ops.cell_layout.to_cells(x)`` (B, h, w,
                s*s, Cp), when the caller shares it between layers that see the same ``x``;
                only without a pixel position encoding (which would change ``x`` first).
        """
        grid = SuperpixelGrid.from_tensors(x, z, self.stride, type(self).__name__)
        if pixel_cells is not None:
            expected = (x.shape[0], grid.rows, grid.cols, grid.stride**2, x.shape[1])
            if self.pixel_pe is not None or tuple(pixel_cells.shape) != expected:
                raise ValueError(f'{type(self).__name__}: pixel_cells must be the cell layout '
                                 f'{expected} of x, for a layer without pixel position '
                                 f'encoding; got {tuple(pixel_cells.shape)} (pixel_pe: '
                                 f'{self.pixel_pe is not None})')
        if x.shape[1] != self.pixel_channels or z.shape[1] != self.superpixel_channels:
            raise ValueError(f'{type(self).__name__}: expected {self.pixel_channels} pixel and '
                             f'{self.superpixel_channels} superpixel channels, got '
                             f'{tuple(x.shape)} and {tuple(z.shape)}')
        cp, m = self.pixel_channels, self.num_heads
        # channels-last memory format (same values): depthwise convs are ~10x faster on CPU
        # and the move into the cell layout copies runs of whole pixels
        x = x.contiguous(memory_format=torch.channels_last)
        z = z.contiguous(memory_format=torch.channels_last)
        xe = add_position_encoding(self.pixel_pe, x)
        ze = add_position_encoding(self.superpixel_pe, z)
        # Channels-last cell layout (mmsp.ops.cell_layout): the narrow pixel map moves once.
        split = 2 * cp if self.update_pixels else cp  # pixel [q,] k; the rest are values
        xc = to_cells(xe, grid) if pixel_cells is None else pixel_cells
        sp = pointwise_conv_norm(grid_to_cells(ze), ze, None, self.superpixel_qkv,
                                 self.superpixel_norm)
        # sp: (B, h, w, q[, k, v]) channels last; the pixel outputs are [q,] k, v
        absorbed = grid.stride**2 >= self.ABSORB_MIN_CELL_PIXELS
        if absorbed and isinstance(self.pixel_norm, LayerNorm2d) and \
                cpu_kernels_apply(x, z, xc, self.pixel_qkv.weight, module=self):
            return self._fused_forward(x, z, xc, sp, grid, return_association)
        if is_pointwise_norm(self.pixel_norm):
            # Factorised pixel projections (_FactorisedPixels): no (B, H, W, 2Cp + Cs) map;
            # values are averaged at width Cp, queries/keys projected or absorbed.
            px = _factorise_pixels(xc, self.pixel_qkv, self.pixel_norm)
            if absorbed:
                # one set of absorbed keys for all pseudo-heads (_paired_superpixels)
                keys, offsets = px.keys(self._paired_superpixels(sp) * self.scale,
                                        split * m // cp)
                # r_p scales the 9 logits and the window weights of a pixel, not its C_in inputs
                both = block_logits_absorbed(px.inputs, keys, offsets, grid, pixel_scale=px.scale)
                values, value_scale = px.inputs, px.scale
            else:
                values, value_scale = px.scaled, None
                bias = px.bias[:split] if px.bias is not None else None
                both = self._projected_logits(F.linear(values, px.weight[:split], bias), sp, grid)
            # superpixel update: superpixel queries vs pixel keys, softmax over each window
            dz = px.values(
                split,
                block_superpixel_update(both[:, -m:], values[:, None], grid,
                                        value_scale=value_scale))
        else:  # norms with statistics over the map: project and normalise in NCHW
            px = pointwise_conv_norm(xc, xe, grid, self.pixel_qkv, self.pixel_norm)
            both = self._projected_logits(px[..., :split], sp, grid)
            dz = block_superpixel_update(both[:, -m:], cell_heads(px[..., split:], m), grid)
        z = torch.addcmul(z, self.gamma_superpixel.view(1, -1, 1, 1), heads_to_grid(dz).to(z.dtype))

        if self.update_pixels:
            # pixel update: pixel queries vs candidate superpixel keys, softmax over the 9
            dx = block_unfold(candidate_softmax(both[:, :m]), cell_heads(sp[..., 2 * cp:], m))
            dx = from_blocks(dx, grid, channels_last=True)
            x = torch.addcmul(x, self.gamma_pixel.view(1, -1, 1, 1), dx.to(x.dtype))
        return x, z, blocks_to_association(both[:, -m:], grid) if return_association else None


__all__ = ['SuperpixelCrossAttention', 'add_position_encoding']

"""Factorised Superpixel Cross Attention: the same function without the wide pixel q/k/v map.

:class:`~mmsp.models.utils.SuperpixelCrossAttention` projects every pixel to ``2 Cp + Cs``
channels and normalises them. With a LayerNorm (or no norm) after a bias-free 1x1 projection,
each output channel of pixel ``p`` is an affine function of its ``Cp``-wide input ``x_p``,
``y_p = A (r_p x_p) + b`` (:func:`~mmsp.ops.fast.layer_norm.layer_norm_factors`: ``r_p`` the
inverse standard deviation of the LN statistics, ``A`` the centred weight times the LN gain,
``b`` the LN shift). So:

* a logit ``<y_p[head], s_c> = r_p <A[head]^T s_c, x_p> + <b[head], s_c>``: the projection
  moves to the ``s^2``-times fewer superpixels (*absorbed keys*, cells of at least
  :data:`ABSORB_MIN_CELL_PIXELS` pixels) or is applied to the narrow scaled input;
* a window average of values ``sum_p a_p y_p`` (``sum_p a_p = 1``) is
  ``A (sum_p a_p r_p x_p) + b``: pixels are averaged at width ``Cp`` and projected after.

Both logit sets (pixel queries against superpixel keys, superpixel queries against pixel keys)
are one set of ``2M`` pseudo-heads. The pixel map moves once into the channels-last cell
layout. Tested equal to the plain layer in ``tests/test_ops/test_fast/test_sca.py``.
"""
from typing import List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..association import (block_logits, block_unfold, blocks_to_association, candidate_softmax,
                           mask_outside)
from ..cell_layout import cell_heads, from_blocks, grid_to_cells, to_cells
from ..grid import (SuperpixelGrid, fold_to_superpixels, gather_neighbors, heads_to_grid,
                    shift_to_superpixels)
from .layer_norm import is_channel_layer_norm, layer_norm_factors

__all__ = ['factorised_sca', 'factorised_sca_supports', 'block_logits_absorbed']

#: Cells with at least this many pixels take the absorbed-key logits (SPFormer's 4 x 4 cells,
#: the head's 16 x 16); smaller cells project the pixel queries/keys.
ABSORB_MIN_CELL_PIXELS = 16


def factorised_sca_supports(layer: nn.Module) -> bool:
    """Whether :func:`factorised_sca` computes ``layer``'s function: a 2-D layer whose norms
    are channel LayerNorms (``LN2d``) or absent."""
    cp, cs = layer.pixel_channels, layer.superpixel_channels
    return layer.spatial_dims == 2 and all(
        isinstance(norm, nn.Identity) or is_channel_layer_norm(norm, width)
        for norm, width in ((layer.pixel_norm, 2 * cp + cs), (layer.superpixel_norm, 3 * cp)))


class _FactorisedPixels(NamedTuple):
    """Pixel projections kept as ``y_p = A (r_p x_p) + b`` over the narrow input ``x_p``.

    Attributes:
        inputs (Tensor): (B, h, w, P, Cp) ``x_p`` in the cell layout.
        scale (Tensor | None): (B, h, w, P, 1) ``r_p``; None without a norm.
        weight (Tensor): (O, Cp) ``A``.
        bias (Tensor | None): (O, ) ``b``; None without a norm.
    """
    inputs: Tensor
    scale: Optional[Tensor]
    weight: Tensor
    bias: Optional[Tensor]

    @property
    def scaled(self) -> Tensor:
        return self.inputs if self.scale is None else self.inputs * self.scale

    def project(self, rows: slice) -> Tensor:
        """Output channels ``rows`` of every pixel: (B, h, w, P, len(rows))."""
        bias = None if self.bias is None else self.bias[rows]
        return F.linear(self.scaled, self.weight[rows], bias)

    def keys(self, superpixels: Tensor, rows: slice, num_heads: int) -> Tuple[Tensor, Tensor]:
        """Superpixel-side factors of ``<y_p[rows], s_c>`` per head.

        Args:
            superpixels (Tensor): (B, h, w, C) vectors paired with the pixel outputs ``rows``.
            rows (slice): ``C`` consecutive output channels.
            num_heads (int): heads (contiguous channel groups).

        Returns:
            tuple: (B, h, w, H, Cp) keys ``A[head]^T s_c`` and (B, h, w, H) offsets
            ``<b[head], s_c>``.
        """
        *lead, c = superpixels.shape
        s = superpixels.reshape(*lead, num_heads, c // num_heads)
        weight = self.weight[rows].reshape(num_heads, c // num_heads, -1).to(s.dtype)
        keys = torch.einsum('bhwmd,mdc->bhwmc', s, weight)
        if self.bias is None:
            return keys, s.new_zeros(s.shape[:-1])
        return keys, (s * self.bias[rows].reshape(num_heads, -1).to(s.dtype)).sum(-1)

    def values(self, rows: slice, averaged: Tensor) -> Tensor:
        """Outputs ``rows`` of window averages: (B, M, h, w, Cp) -> (B, M, h, w, C_v / M)."""
        m = averaged.shape[1]
        weight = self.weight[rows].reshape(m, -1, self.weight.shape[-1]).to(averaged.dtype)
        out = torch.einsum('bmhwc,mdc->bmhwd', averaged, weight)
        if self.bias is None:
            return out
        return out + self.bias[rows].view(1, m, 1, 1, -1).to(out.dtype)


def _factorise(cells: Tensor, conv: nn.Conv2d, norm: nn.Module) -> _FactorisedPixels:
    """``norm(conv(x))`` of the cell-layout pixels ``cells`` (LayerNorm or none), factorised."""
    weight = conv.weight.flatten(1)  # (O, Cp)
    if isinstance(norm, nn.Identity):
        return _FactorisedPixels(cells, None, weight, None)
    cells, scale, centred = layer_norm_factors(cells, weight, norm)
    return _FactorisedPixels(cells, scale, centred * norm.weight[:, None], norm.bias)


def candidate_rows(z: Tensor) -> List[Tensor]:
    """Each cell's candidates as strided views, one per candidate row ``dy``: no copy of them.

    The cells are flattened with ``w + 1`` zero rows at either end, so candidate ``(dy, dx)``
    of cell ``t`` is row ``t + (1 + dy) w + 1 + dx``: the three candidates of a row ``dy`` are
    three consecutive rows, an overlapping window view that batched matmuls read in place.

    Args:
        z (Tensor): (B, h, w, K) values per superpixel.

    Returns:
        list[Tensor]: for ``dy = -1, 0, 1`` a (B*h*w, 3, K) view whose ``[t, k]`` is candidate
        ``(dy, k - 1)`` of cell ``t``. Entries of candidates **outside the grid are
        unspecified**: callers mask what they derive from them.
    """
    b, h, w, k = z.shape
    cells = b * h * w
    flat = F.pad(z.reshape(cells, k), (0, 0, w + 1, w + 1))
    windows = flat.unfold(0, 3, 1)  # (cells + 2w, K, 3): [i, :, j] = flat[i + j]
    return [windows[(1 + dy) * w:(1 + dy) * w + cells].transpose(1, 2) for dy in (-1, 0, 1)]


def block_logits_absorbed(pixels: Tensor,
                          keys: Tensor,
                          offsets: Tensor,
                          grid: SuperpixelGrid,
                          pixel_scale: Optional[Tensor] = None) -> Tensor:
    """Block logits ``r_p <keys_c, x_p> + offsets_c``, the pixel projection absorbed in the keys.

    Per cell and candidate row one ``(P x Cp) @ (Cp x 3H)`` matmul reading the keys in place
    (:func:`candidate_rows`).

    Args:
        pixels (Tensor): (B, h, w, P, Cp) pixel vectors ``x_p`` (cell layout, contiguous).
        keys (Tensor): (B, h, w, H, Cp) per-superpixel keys of ``H`` (pseudo-)heads.
        offsets (Tensor): (B, h, w, H).
        grid (SuperpixelGrid): geometry.
        pixel_scale (Tensor, optional): (B, h, w, P, 1) per-pixel factor ``r_p``.

    Returns:
        Tensor: (B, H, h, w, P, 9) logits (at least float32), ``-inf`` outside the grid.
    """
    b, h, w, heads, c = keys.shape
    cells, p = b * h * w, pixels.shape[3]
    rows = [
        torch.matmul(pixels.reshape(cells, p, c),
                     keys_dy.reshape(cells, 3 * heads, c).transpose(-1, -2))
        for keys_dy in candidate_rows(keys.reshape(b, h, w, heads * c))
    ]
    logits = torch.stack(rows, dim=2).view(b, h, w, p, 9, heads)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    on = gather_neighbors(offsets.reshape(b, 1, h, w, heads)).view(b, h, w, 1, 9, heads)
    if pixel_scale is None:
        logits = logits + on
    else:
        logits = torch.addcmul(on.to(logits.dtype), logits, pixel_scale[..., None].to(logits.dtype))
    return mask_outside(logits.permute(0, 5, 1, 2, 3, 4), grid)


def window_average(logits: Tensor, pixels: Tensor, grid: SuperpixelGrid,
                   pixel_scale: Optional[Tensor] = None) -> Tensor:
    """:func:`~mmsp.ops.association.block_superpixel_update` of pixels shared by the heads.

    The window softmax of every head averages the same ``Cp``-wide pixels: one matmul per cell
    for all heads, ``(9 M x P) @ (P x Cp)``, whose weights are read in place from logits laid out
    (B, h, w, P, 9, M) (:func:`block_logits_absorbed`'s layout).

    Args:
        logits (Tensor): (B, M, h, w, P, 9) masked logits.
        pixels (Tensor): (B, h, w, P, Cp).
        grid (SuperpixelGrid): geometry.
        pixel_scale (Tensor, optional): (B, h, w, P, 1) per-pixel factor of the pixels.

    Returns:
        Tensor: (B, M, h, w, Cp).
    """
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    if grid.is_padded:  # padding slots never contribute
        logits = logits.masked_fill(~grid.pixel_mask(logits.device).unsqueeze(-1), float('-inf'))
    cell_lse = torch.logsumexp(logits, dim=4)  # (B, M, h, w, 9)
    window_lse = torch.logsumexp(shift_to_superpixels(cell_lse, fill=float('-inf')), dim=4)
    alpha = torch.exp(logits - gather_neighbors(window_lse).unsqueeze(4))
    if pixel_scale is not None:
        alpha = alpha * pixel_scale.unsqueeze(1).to(alpha.dtype)
    b, m, h, w, p, n = alpha.shape
    weights = alpha.to(pixels.dtype).permute(0, 2, 3, 4, 5, 1).reshape(b, h, w, p, n * m)
    per_cell = torch.matmul(weights.transpose(-1, -2), pixels)  # (B, h, w, 9 M, Cp)
    per_cell = per_cell.view(b, h, w, n, m, -1).permute(0, 4, 1, 2, 3, 5)
    return fold_to_superpixels(per_cell)


def _position_encoded(conv: Optional[nn.Conv2d], x: Tensor) -> Tensor:
    """``x + conv(x)`` as one conv (the identity added to the centre tap of the weight)."""
    if conv is None:
        return x
    weight = conv.weight.clone()
    weight[:, :, 1, 1] += 1
    return F.conv2d(x, weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)


def factorised_sca(layer: nn.Module, x: Tensor, z: Tensor,
                   return_association: bool = True) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    """``layer(x, z, return_association)`` of a 2-D SCA layer, factorised (module docstring).

    Args:
        layer (SuperpixelCrossAttention): a layer that :func:`factorised_sca_supports`.
        x (Tensor): (B, Cp, H, W) pixels.
        z (Tensor): (B, Cs, h, w) superpixels.
        return_association (bool): also return the association logits (B, M, 9, H, W).

    Returns:
        tuple: ``x'`` and ``z'`` (channels-last memory format) and the association (or None).
    """
    cp, m, scale = layer.pixel_channels, layer.num_heads, layer.scale
    grid = SuperpixelGrid.from_tensors(x, z, layer.stride, type(layer).__name__)
    x = x.contiguous(memory_format=torch.channels_last)
    z = z.contiguous(memory_format=torch.channels_last)
    xe = _position_encoded(layer.pixel_pe, x)
    ze = _position_encoded(layer.superpixel_pe, z)
    # superpixel q | k | v, channels last (B, h, w, 3 Cp): few positions, projected as usual
    sp = F.linear(grid_to_cells(ze), layer.superpixel_qkv.weight.flatten(1))
    if not isinstance(layer.superpixel_norm, nn.Identity):
        norm = layer.superpixel_norm
        sp = F.layer_norm(sp, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
    px = _factorise(to_cells(xe, grid), layer.pixel_qkv, layer.pixel_norm)
    # pixel rows [q | k] against superpixel [k | q] (pixel update heads first), or k against q
    if layer.update_pixels:
        rows, paired = slice(0, 2 * cp), torch.cat([sp[..., cp:2 * cp], sp[..., :cp]], -1)
    else:
        rows, paired = slice(cp, 2 * cp), sp[..., :cp]
    heads = (rows.stop - rows.start) * m // cp
    if grid.cell_pixels >= ABSORB_MIN_CELL_PIXELS:
        keys, offsets = px.keys(paired * scale, rows, heads)
        both = block_logits_absorbed(px.inputs, keys, offsets, grid, pixel_scale=px.scale)
        values, value_scale = px.inputs, px.scale
    else:
        both = block_logits(cell_heads(px.project(rows), heads), cell_heads(paired, heads), grid,
                            scale)
        values, value_scale = px.scaled, None
    # superpixel update: window softmax of the superpixel-query logits (the last M heads);
    # values averaged at width Cp, then projected to the Cs value channels
    averaged = window_average(both[:, -m:], values, grid, value_scale)
    dz = px.values(slice(2 * cp, None), averaged)
    z_out = torch.addcmul(z, layer.gamma_superpixel.view(1, -1, 1, 1),
                          heads_to_grid(dz).to(z.dtype))
    x_out = x
    if layer.update_pixels:  # pixel update: softmax over the 9 candidates
        dx = block_unfold(candidate_softmax(both[:, :m]), cell_heads(sp[..., 2 * cp:], m))
        dx = from_blocks(dx, grid, channels_last=True)
        x_out = torch.addcmul(x, layer.gamma_pixel.view(1, -1, 1, 1), dx.to(x.dtype))
    association = blocks_to_association(both[:, -m:], grid) if return_association else None
    return x_out, z_out, association

"""Superpixel Cross Attention (SCA): one iteration of the pixel <-> superpixel layer."""
import math
from typing import Dict, Optional, Tuple, Union

import torch
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from mmsp.ops import association_logits, superpixel_update, unfold_with_logits
from mmsp.ops.fast import use_fast_path
from mmsp.ops.fast.sca import factorised_sca, factorised_sca_supports
from .norm import build_norm

_CONVS = {2: nn.Conv2d, 3: nn.Conv3d}


class SuperpixelCrossAttention(BaseModule):
    """One SCA layer (one iteration): ``(X, Z) -> (X', Z', A)`` (SPFormer, arXiv 2401.02931).

    Pixels ``X`` (B, Cp, *size) and superpixels ``Z`` (B, Cs, *grid) exchange information over
    the local neighbourhood of :mod:`mmsp.ops.association` (9 candidate cells in 2-D, 27 in 3-D):

    1. conditional position encoding, ``X~ = X + DW(X)``, ``Z~ = Z + DW(Z)`` (depthwise 3x3);
    2. projections with one LayerNorm over the concatenated outputs of each side,
       ``[Qs, Ks, Vs] = LN(Ws Z~)`` (``Cs -> Cp, Cp, Cp``) and ``[Qp, Kp, Vp] = LN(Wp X~)``
       (``Cp -> Cp, Cp, Cs``): queries and keys live in the narrow pixel width;
    3. association logits ``A = <Qs_c, Kp_p> / sqrt(d)`` of every pixel with its candidate
       cells, per head, ``-inf`` outside the grid;
    4. superpixel update, ``Z' = Z + gamma_s * sum_p softmax_{p in W(j)}(A_jp) Vp_p``: a softmax
       over each superpixel's window pixels;
    5. pixel update, ``X' = X + gamma_p * sum_n softmax_n(<Qp_p, Ks_n> / sqrt(d)) Vs_n``: a
       softmax over each pixel's candidates.

    Both updates read the same inputs (they run in parallel). LayerScale ``gamma`` starts at
    ``layer_scale_init``. No output projection, FFN or dropout. The returned association is
    the logits of step 3 (the superpixel update's, seen from the pixel side).

    ``update_pixels=False`` skips step 5 (for a last layer whose pixels nothing reads). The
    projections and their LayerNorms stay full-width: the normalisation of the kept channels
    is that of the full layer.

    The factorised implementation (:func:`mmsp.ops.fast.sca.factorised_sca`, the same
    function) is chosen at construction when :func:`mmsp.ops.fast.use_fast_path` is on and
    the layer qualifies (2-D, LayerNorm or no norm); ``self.fast_path`` holds the choice.

    Args:
        pixel_channels (int): ``Cp``.
        superpixel_channels (int): ``Cs``.
        num_heads (int): association heads ``M``; must divide ``Cp`` and ``Cs``.
        stride (int | tuple[int]): superpixel cell size in pixels of the pixel map (a tuple
            ``(s_t, s, s)`` for clips).
        norm_cfg (dict, optional): norm after the qkv projections. Defaults to ``LN2d``
            (eps 1e-6).
        layer_scale_init (float): initial LayerScale. Defaults to 1e-5.
        pos_embed (bool): depthwise 3x3 conditional position encodings. Defaults to True.
        pixel_pos_embed (bool, optional): the pixel side's encoding alone; None (default)
            follows ``pos_embed``. False suits callers that encode the pixels once for several
            layers.
        update_pixels (bool): compute the pixel update. Defaults to True.
        spatial_dims (int): 2 (images) or 3 (clips). Defaults to 2.
        causal (bool): clips only: a voxel's candidates exclude the next temporal cell (18
            instead of 27; :class:`~mmsp.ops.SuperpixelGrid`). Defaults to False.
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        - x: (B, Cp, *size); z: (B, Cs, *ceil(size / stride)).
        - returns x' (as x), z' (as z) and association logits (B, M, K, *size) (None with
          ``return_association=False``).
    """

    def __init__(self,
                 pixel_channels: int,
                 superpixel_channels: int,
                 num_heads: int = 1,
                 stride: Union[int, Tuple[int, ...]] = 4,
                 norm_cfg: Optional[Dict] = dict(type='LN2d', eps=1e-6),
                 layer_scale_init: float = 1e-5,
                 pos_embed: bool = True,
                 update_pixels: bool = True,
                 pixel_pos_embed: Optional[bool] = None,
                 spatial_dims: int = 2,
                 causal: bool = False,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_heads < 1 or pixel_channels % num_heads or superpixel_channels % num_heads:
            raise ValueError(f'SuperpixelCrossAttention: num_heads={num_heads} must divide '
                             f'pixel_channels={pixel_channels} and '
                             f'superpixel_channels={superpixel_channels}')
        if spatial_dims not in _CONVS:
            raise ValueError(f'SuperpixelCrossAttention: spatial_dims must be 2 or 3, '
                             f'got {spatial_dims!r}')
        if causal and spatial_dims != 3:
            raise ValueError(f'SuperpixelCrossAttention: causal=True masks later frames and needs '
                             f'clips (spatial_dims=3), got spatial_dims={spatial_dims}')
        strides = stride if isinstance(stride, tuple) else (stride, )
        if len(strides) not in (1, spatial_dims) or any(
                not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in strides):
            raise ValueError(f'SuperpixelCrossAttention: stride must be an int >= 1 or a tuple '
                             f'of {spatial_dims}, got {stride!r}')
        cp, cs, conv = pixel_channels, superpixel_channels, _CONVS[spatial_dims]
        self.pixel_channels, self.superpixel_channels = cp, cs
        self.num_heads, self.stride, self.update_pixels = num_heads, stride, update_pixels
        self.spatial_dims, self.causal = spatial_dims, bool(causal)
        self.scale = 1.0 / math.sqrt(cp // num_heads)
        pixel_pos_embed = pos_embed if pixel_pos_embed is None else pixel_pos_embed
        self.pixel_pe = conv(cp, cp, 3, padding=1, groups=cp) if pixel_pos_embed else None
        self.superpixel_pe = conv(cs, cs, 3, padding=1, groups=cs) if pos_embed else None
        # superpixel side: q, k, v of width Cp (queries/keys meet the pixels; values feed them)
        self.superpixel_qkv = conv(cs, 3 * cp, 1, bias=False)
        self.superpixel_norm = build_norm(norm_cfg, 3 * cp)
        # pixel side: q, k of width Cp, v of width Cs (values feed the superpixels)
        self.pixel_qkv = conv(cp, 2 * cp + cs, 1, bias=False)
        self.pixel_norm = build_norm(norm_cfg, 2 * cp + cs)
        self.gamma_superpixel = nn.Parameter(torch.full((cs, ), float(layer_scale_init)))
        self.gamma_pixel = (nn.Parameter(torch.full((cp, ), float(layer_scale_init)))
                            if update_pixels else None)
        self.fast_path = use_fast_path() and factorised_sca_supports(self)

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is not None:
            return
        for conv in (self.superpixel_qkv, self.pixel_qkv):
            trunc_normal_(conv.weight, std=0.02)

    def _check(self, x: Tensor, z: Tensor) -> None:
        if x.dim() != 2 + self.spatial_dims or x.shape[1] != self.pixel_channels or \
                z.shape[1:2] != (self.superpixel_channels, ):
            raise ValueError(f'{type(self).__name__}: expected pixels (B, {self.pixel_channels}, '
                             f'*size) and superpixels (B, {self.superpixel_channels}, *grid) '
                             f'with {self.spatial_dims} spatial dims, got {tuple(x.shape)} and '
                             f'{tuple(z.shape)}')

    def forward(self,
                x: Tensor,
                z: Tensor,
                return_association: bool = True) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """One iteration.

        Args:
            x (Tensor): (B, Cp, *size) pixels.
            z (Tensor): (B, Cs, *grid) superpixels.
            return_association (bool): False returns None for the association (callers that
                keep only the last layer's).
        """
        self._check(x, z)
        if self.fast_path:
            return factorised_sca(self, x, z, return_association)
        cp, m, s, causal = self.pixel_channels, self.num_heads, self.stride, self.causal
        # 1. conditional position encoding
        xe = x if self.pixel_pe is None else x + self.pixel_pe(x)
        ze = z if self.superpixel_pe is None else z + self.superpixel_pe(z)
        # 2. q/k/v projections, one LayerNorm over each side's concatenated outputs
        q_s, k_s, v_s = self.superpixel_norm(self.superpixel_qkv(ze)).split([cp, cp, cp], 1)
        q_p, k_p, v_p = self.pixel_norm(self.pixel_qkv(xe)).split(
            [cp, cp, self.superpixel_channels], 1)
        # 3. association logits of every pixel with its candidate cells (superpixel queries)
        association = association_logits(k_p, q_s, s, m, causal=causal)  # (B, M, K, *size)
        # 4. superpixel update: softmax over each superpixel's window pixels
        dz = superpixel_update(association, v_p, s, causal)
        z_out = z + self.gamma_superpixel.view(-1, *(1, ) * self.spatial_dims) * dz.to(z.dtype)
        # 5. pixel update: softmax over each pixel's candidates (pixel queries)
        x_out = x
        if self.update_pixels:
            dx = unfold_with_logits(association_logits(q_p, k_s, s, m, causal=causal), v_s, s,
                                    causal=causal)
            x_out = x + self.gamma_pixel.view(-1, *(1, ) * self.spatial_dims) * dx.to(x.dtype)
        return x_out, z_out, association if return_association else None


__all__ = ['SuperpixelCrossAttention']

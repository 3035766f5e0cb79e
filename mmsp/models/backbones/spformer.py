"""SPFormer: a dual-branch (pixel / superpixel) vision transformer (Mei et al., TMLR 2025)."""
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.logging import print_log
from mmengine.model import BaseModule, ModuleList
from mmseg.registry import MODELS
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..utils import build_norm, resize_pos_embed, square_grid
from mmsp.ops import association_to_superpixels, merge_heads, unfold_with_logits
from mmsp.ops.grid import known_equal
from .spformer_arch import resolve_arch, resolve_stride
from .spformer_stage import SPFormerStage
from .spformer_stem import SPFormerStem, SuperpixelInit

_DEFAULT_INIT = [
    dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
    dict(
        type='Kaiming',
        layer='Conv2d',
        mode='fan_out',
        nonlinearity='relu',
        distribution='normal',
        bias=0.),
    dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
]


@MODELS.register_module()
class SPFormer(BaseModule):
    """SPFormer: a vision transformer over learned superpixel tokens (Mei et al., "SPFormer:
    Enhancing Vision Transformer with Superpixel Representation", arXiv 2401.02931).

    A narrow pixel branch (stem at stride ``r``) and a wide superpixel branch (``lift_avgpool``
    initialisation on ``s x s`` cells) exchange information through ``sp_iter`` Superpixel
    Cross Attention layers at the start of every stage
    (:class:`~mmsp.models.utils.SuperpixelCrossAttention`); each stage adds its learned
    position embedding and runs global ViT blocks on the superpixel tokens; non-final stages
    unfold the superpixels back to the pixels (:class:`~mmsp.models.utils.PixelUnfolding`).
    Any ``H0 x W0`` works: the image is zero-padded bottom-right to a multiple of ``r`` and the
    superpixel grid is ``ceil(H0 / (r s))`` (partial border cells are handled by
    :mod:`mmsp.ops`; the authors' code requires sizes that divide).

    Superpixel provider: :meth:`forward_association` (logits of one stage),
    :meth:`forward_with_association` (outputs plus every stage's logits from one pass),
    :meth:`forward_superpixels` (hard ids at image size), with :attr:`pixel_stride` and
    :attr:`cell_size`. Masked modelling (SP-MAE): :meth:`forward_masked`. Details the paper
    leaves open follow the authors' released code: 2 SCA layers per stage, parallel SCA updates,
    unfolding with the last SCA layer's association renormalised over the 9 candidates, LN2d +
    GELU stem, a fixed ``1/sqrt(d)`` temperature, ``-inf`` at candidates outside the grid, a soft
    association in training.

    Groups (LGFormer, Xie et al., arXiv 2409.01353, ECCV 2024): ``group_cfg`` inserts a
    :class:`~mmsp.models.utils.GroupContextAggregation` layer after each of the given global
    blocks (the paper: after the last three), a third level above the superpixels; with
    ``out_groups`` the group tokens and superpixel -> group associations of those layers are
    appended to the outputs (and so to :meth:`forward_with_association`'s).

    Args:
        arch (str | dict): ``'tiny'``/``'small'``/``'base'`` (or ``t``/``s``/``b``) or a dict with
            ``pixel_dims, embed_dims, depths, num_heads, sp_heads`` [``sp_iter``,
            ``feedforward_channels``], see :mod:`.spformer_arch`.
        superpixel_stride (int): image pixels per superpixel cell, ``r * s``: 16 (conv4 stem),
            32 (conv8), 56 (ccc8, ``s = 7``) by default; others need ``stem_type``.
        img_size (int | tuple): training size; fixes the learned position-embedding grid
            ``ceil(img / superpixel_stride)``. Other sizes resize it bilinearly.
        in_channels (int): image channels.
        stem_type (str, optional): ``conv4``/``conv8``/``cc4``/``ccc8``; overrides the default.
        sp_iter (int, optional): ablation switch, SCA layers per stage (paper: 1 vs 2).
        sp_heads (int, optional): ablation switch, SCA heads (paper: 1 vs 2).
        depths (Sequence[int], optional): ablation switch, blocks per stage (``(12,)`` = single
            stage: superpixels formed once, no unfolding).
        out_indices (int | Sequence[int]): global ViT block indices (negative allowed) whose
            tokens are returned. Defaults to -1 (last block).
        out_type (str): ``'featmap'``: (B, Cs, h, w) superpixel maps (dense prediction);
            ``'avg_featmap'``: (B, Cs) token mean followed by ``fc_norm`` (classification;
            no norm before pooling, no class token).
        out_pixels (bool): ``featmap`` only: prepend the final pixel-branch map (B, Cp, H, W)
            at stride ``r`` (LN2d-normed). The last SCA layer of the final stage computes no
            pixel update (nothing would consume it), so this is the pixel branch after the
            last pixel update; weights are identical with and without ``out_pixels``.
        unfold_outputs (bool): ``featmap`` only: project every superpixel map to the pixel
            grid, (B, Cs, H, W) at stride ``r``, through its stage's association with the heads
            merged (the dense-prediction rule: every pixel combines its 9 candidates).
        out_norm_cfg (dict, optional): norm of every ``featmap`` output. Defaults to LN.
        drop_rate / attn_drop_rate (float): dropout in the ViT blocks.
        drop_path_rate (float): stochastic depth, linear from 0 over all blocks.
        qkv_bias (bool): qkv bias of the ViT blocks.
        norm_cfg (dict): token norm (``LN``, eps 1e-6); also ``fc_norm``.
        norm2d_cfg (dict): map norm of stem, init, SCA, unfolding (``LN2d``, eps 1e-6; A5).
        act_cfg (dict): activation of stem, init and MLPs (GELU).
        layer_scale_init (float): LayerScale of SCA and unfolding (1e-5).
        sca_pos_embed (bool): depthwise position encoding inside SCA.
        frozen_stages (int): -1: nothing; 0: stem + superpixel init; k: also stages ``< k``;
            ``num_stages``: also the output norms.
        norm_eval (bool): keep BatchNorm layers (e.g. of a BN stem) in eval mode.
        with_cp (bool): gradient checkpointing of every SCA layer, block, GCA layer and
            unfolding.
        group_cfg (dict, optional): GCA layers; None (default) builds none. Keys:
            ``after_blocks`` (global block indices, negative allowed, e.g. ``(9, 10, 11)``)
            and the :class:`~mmsp.models.utils.GroupContextAggregation` arguments ``num_heads``
            (default: the blocks' heads), ``group_grid``, ``pool_ratio``,
            ``group_block_depth``, ``feedforward_channels`` (default: the blocks'),
            ``ungroup_layer_scale``, ``drop_path_rate`` (default 0). The group position
            embedding is stored for the group grid of ``img_size``.
        out_groups (bool): ``featmap`` with ``group_cfg`` only: append two outputs, the group
            tokens (B, L, G, Cs) and the superpixel -> group associations (B, L, Mg, h*w, G)
            of the ``L`` GCA layers (in block order; ``Mg`` GCA heads, ``G`` groups, rows sum
            to one).
        init_cfg (dict | list, optional): defaults to trunc-normal Linear (0.02), Kaiming
            fan-out Conv2d, unit LayerNorm; SCA layers re-init their projections, position
            embeddings are trunc-normal 0.02. ``dict(type='Pretrained', checkpoint=...,
            prefix='backbone.')`` loads a classifier/runner checkpoint; position embeddings of
            another (square) grid are resized on load.

    Attributes:
        pixel_stride (int): ``r``, image pixels per pixel-branch pixel.
        cell_size (int): ``s``, superpixel cell in pixel-branch pixels.
        out_channels (tuple[int]): channels of the ``featmap`` outputs (the group outputs of
            ``out_groups`` follow them and are not listed).
        group_after_blocks (tuple[int]): global blocks followed by a GCA layer (empty without
            ``group_cfg``).
    """

    OUT_TYPES = ('featmap', 'avg_featmap')

    def __init__(self,
                 arch: Union[str, Dict[str, Any]] = 'small',
                 superpixel_stride: int = 16,
                 img_size: Union[int, Sequence[int]] = 224,
                 in_channels: int = 3,
                 stem_type: Optional[str] = None,
                 sp_iter: Optional[int] = None,
                 sp_heads: Optional[int] = None,
                 depths: Optional[Sequence[int]] = None,
                 out_indices: Union[int, Sequence[int]] = -1,
                 out_type: str = 'featmap',
                 out_pixels: bool = False,
                 unfold_outputs: bool = False,
                 out_norm_cfg: Optional[Dict] = dict(type='LN', eps=1e-6),
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 qkv_bias: bool = True,
                 norm_cfg: Dict = dict(type='LN', eps=1e-6),
                 norm2d_cfg: Dict = dict(type='LN2d', eps=1e-6),
                 act_cfg: Dict = dict(type='GELU'),
                 layer_scale_init: float = 1e-5,
                 sca_pos_embed: bool = True,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 group_cfg: Optional[Dict] = None,
                 out_groups: bool = False,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = _DEFAULT_INIT) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = resolve_arch(arch, sp_iter=sp_iter, sp_heads=sp_heads, depths=depths)
        (self.stem_type, self.pixel_stride, self.cell_size, self.img_size,
         self.pos_grid) = self._geometry(superpixel_stride, stem_type, img_size)
        a = self.arch_settings
        self.pixel_dims, self.embed_dims = a['pixel_dims'], a['embed_dims']
        self.depths, self.num_stages = a['depths'], len(a['depths'])
        self.num_layers = sum(self.depths)
        self.superpixel_stride, self.in_channels = superpixel_stride, in_channels

        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        if not indices or any(not -self.num_layers <= i < self.num_layers for i in indices):
            raise ValueError(f'SPFormer: out_indices {out_indices!r} out of range for '
                             f'{self.num_layers} blocks')
        self.out_indices = [i % self.num_layers for i in indices]
        if out_type not in self.OUT_TYPES:
            raise ValueError(f'SPFormer: out_type must be one of {self.OUT_TYPES}, '
                             f'got {out_type!r}')
        if out_type != 'featmap' and (out_pixels or unfold_outputs):
            raise ValueError('SPFormer: out_pixels / unfold_outputs need out_type="featmap"')
        self.out_type, self.out_pixels, self.unfold_outputs = out_type, out_pixels, unfold_outputs
        if frozen_stages < -1 or frozen_stages > self.num_stages:
            raise ValueError(f'SPFormer: frozen_stages must be in [-1, {self.num_stages}], '
                             f'got {frozen_stages}')
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval
        self.group_after_blocks, gca_cfg = self._group_settings(group_cfg)
        if out_groups and (not self.group_after_blocks or out_type != 'featmap'):
            raise ValueError('SPFormer: out_groups needs group_cfg and out_type="featmap"')
        self.out_groups = out_groups

        self.stem = SPFormerStem(self.stem_type, in_channels, self.pixel_dims, norm2d_cfg, act_cfg)
        self.superpixel_init = SuperpixelInit(self.pixel_dims, self.embed_dims, self.cell_size,
                                              norm2d_cfg, act_cfg, self.spatial_dims)
        rates = [drop_path_rate * i / max(self.num_layers - 1, 1) for i in range(self.num_layers)]
        self.block_offsets = [sum(self.depths[:k]) for k in range(self.num_stages)]
        common = dict(
            qkv_bias=qkv_bias,
            drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate,
            norm_cfg=norm_cfg,
            norm2d_cfg=norm2d_cfg,
            act_cfg=act_cfg,
            layer_scale_init=layer_scale_init,
            sca_pos_embed=sca_pos_embed,
            with_cp=with_cp,
            spatial_dims=self.spatial_dims,
            causal=self.causal)
        self.stages = ModuleList()
        for k, (depth, start) in enumerate(zip(self.depths, self.block_offsets)):
            blocks = (depth, a['num_heads'], a['feedforward_channels'])
            sca = (a['sp_heads'][k], a['sp_iter'][k], self.cell_size, self.pos_grid)
            self.stages.append(
                SPFormerStage(
                    self.pixel_dims,
                    self.embed_dims,
                    *blocks,
                    *sca,
                    rates[start:start + depth],
                    unfold=k < self.num_stages - 1,
                    group_after=[
                        i - start for i in self.group_after_blocks if start <= i < start + depth
                    ],
                    group_cfg=gca_cfg,
                    **common))
        if out_type == 'avg_featmap':
            self.fc_norm = build_norm_layer(norm_cfg, self.embed_dims)[1]
        else:
            norms = [
                build_norm_layer(out_norm_cfg, self.embed_dims)[1]
                if out_norm_cfg else nn.Identity() for _ in self.out_indices
            ]
            self.out_norms = ModuleList(norms)
            if out_pixels:
                self.pixel_norm = build_norm(
                    None if out_norm_cfg is None else dict(type='LN2d', eps=1e-6), self.pixel_dims)
        self._register_load_state_dict_pre_hook(self._resize_pos_embed_hook)
        self._freeze_stages()

    # ------------------------------------------------------------------ geometry hooks
    #: Spatial dimensions of the pixel and superpixel maps (2: images, 3: clips).
    spatial_dims = 2
    #: Clips only: no voxel has a candidate in the next temporal cell (:class:`SPFormer3D`).
    causal = False

    @staticmethod
    def _geometry(superpixel_stride: int, stem_type: Optional[str],
                  img_size: Union[int, Sequence[int]]
                  ) -> Tuple[str, int, int, Tuple[int, int], Tuple[int, int]]:
        """``(stem_type, pixel_stride r, cell_size s, img_size, pos_grid)`` of an image model."""
        stem_type, pixel_stride, cell_size = resolve_stride(superpixel_stride, stem_type)
        img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        if len(img_size) != 2 or min(img_size) < 1:
            raise ValueError(f'SPFormer: img_size must be an int or (H, W), got {img_size!r}')
        pos_grid = tuple(math.ceil(v / superpixel_stride) for v in img_size)
        return stem_type, pixel_stride, cell_size, img_size, pos_grid

    # ------------------------------------------------------------------ properties / utils
    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of every output (``featmap``: pixel map first if ``out_pixels``)."""
        chans = (self.embed_dims, ) * len(self.out_indices)
        return ((self.pixel_dims, ) + chans) if self.out_pixels else chans

    _GROUP_KEYS = ('num_heads', 'group_grid', 'pool_ratio', 'group_block_depth',
                   'feedforward_channels', 'ungroup_layer_scale', 'drop_path_rate')

    def _group_settings(self, group_cfg: Optional[Dict]) -> Tuple[Tuple[int, ...], Dict]:
        """Validated ``group_cfg``: the sorted global block indices and the GCA arguments."""
        if group_cfg is None:
            return (), {}
        cfg = dict(group_cfg)
        after = cfg.pop('after_blocks', None)
        after = [after] if isinstance(after, int) else list(after or [])
        if not after or any(not isinstance(i, int) or not -self.num_layers <= i < self.num_layers
                            for i in after):
            raise ValueError(f'SPFormer: group_cfg.after_blocks must be global block indices in '
                             f'[-{self.num_layers}, {self.num_layers}), got '
                             f'{group_cfg.get("after_blocks")!r}')
        unknown = sorted(set(cfg) - set(self._GROUP_KEYS))
        if unknown:
            raise ValueError(f'SPFormer: unknown group_cfg keys {unknown}; allowed: after_blocks, '
                             f'{", ".join(self._GROUP_KEYS)}')
        a = self.arch_settings
        cfg.setdefault('num_heads', a['num_heads'])
        cfg.setdefault('feedforward_channels', a['feedforward_channels'])
        if cfg.get('group_grid') is None:  # the group grid at the training size
            ratio = cfg.get('pool_ratio', 4)
            if isinstance(ratio, int) and ratio >= 1:  # else the GCA layer reports it
                cfg['pos_grid'] = tuple(math.ceil(v / ratio) for v in self.pos_grid)
        return tuple(sorted({i % self.num_layers for i in after})), cfg

    def stage_of_block(self, index: int) -> int:
        """The stage of global block ``index``."""
        return max(k for k, off in enumerate(self.block_offsets) if off <= index)

    def _resize_pos_embed_hook(self, state_dict: Dict, prefix: str, *args, **kwargs) -> None:
        """Resize checkpoint position embeddings of another square grid to :attr:`pos_grid`."""
        embeddings = []  # (key, parameter, grid) of every learned position embedding
        for k, stage in enumerate(self.stages):
            # the spatial embedding of a clip stage is 2-D too (its temporal one is separate)
            embeddings.append((f'{prefix}stages.{k}.pos_embed', stage.pos_embed,
                               tuple(stage.pos_grid[-2:])))
            for i, gca in (stage.gca or {}).items():
                embeddings.append((f'{prefix}stages.{k}.gca.{i}.pos_embed', gca.pos_embed,
                                   gca.pos_grid))
        for key, param, grid in embeddings:
            ckpt = state_dict.get(key)
            if ckpt is None or ckpt.shape == param.shape or ckpt.dim() != 3 \
                    or ckpt.shape[-1] != param.shape[-1]:
                continue  # absent, matching, or a real mismatch that load_state_dict reports
            src = square_grid(ckpt.shape[1], key)
            state_dict[key] = resize_pos_embed(ckpt, src, grid)
            print_log(f'SPFormer: resized {key} from {src} to {grid}', logger='current')

    def _pad(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'SPFormer: expected images (B, {self.in_channels}, H, W), '
                             f'got {tuple(x.shape)}')
        r = self.pixel_stride
        # padded sizes written as multiples of r (so that the stem's check needs no guard on a
        # symbolic size), the ceiling with a non-negative numerator (ONNX division truncates)
        pad_h, pad_w = ((n + r - 1) // r * r - n for n in x.shape[2:])
        return x if known_equal((pad_h, pad_w), (0, 0)) else F.pad(x, (0, pad_w, 0, pad_h))

    def _embed(self, x: Tensor) -> Tensor:
        """Images (B, C, H0, W0) to the pixel branch (B, Cp, ceil(H0/r), ceil(W0/r))."""
        return self.stem(self._pad(x))

    def _stage_index(self, stage: int) -> int:
        if not -self.num_stages <= stage < self.num_stages:
            raise ValueError(f'SPFormer: stage {stage} out of range for {self.num_stages} stages')
        return stage % self.num_stages

    # ------------------------------------------------------------------ forward
    def _forward_stages(self,
                        x: Tensor,
                        indices: Sequence[int],
                        keep_ids: Optional[Tensor] = None,
                        mask_token: Optional[Tensor] = None
                        ) -> Tuple[Tensor, Tensor, Dict[int, Tensor], List[Tensor], List]:
        """Stem, superpixel init and every stage.

        Returns:
            tuple: the final pixels ``x`` (B, Cp, *size) and superpixels ``z`` (B, Cs, *grid),
            the tokens after every global block in ``indices``, each stage's association logits
            and the ``(groups, association)`` pairs of the GCA layers (empty without groups).
        """
        x = self._embed(x)
        z = self.superpixel_init(x)
        tokens, associations, groups = {}, [], []
        for stage, first in zip(self.stages, self.block_offsets):
            keep = [i - first for i in indices if 0 <= i - first < len(stage.blocks)]
            x, z, assoc, stage_tokens, stage_groups = stage.forward_with_groups(
                x, z, keep, keep_ids, mask_token)
            tokens.update((first + i, t) for i, t in stage_tokens.items())
            associations.append(assoc)
            groups += stage_groups
        return x, z, tokens, associations, groups

    def forward_with_association(self, x: Tensor) -> Tuple[Tuple[Tensor, ...], List[Tensor]]:
        """Backbone outputs plus the association logits of every stage.

        Args:
            x (Tensor): images (B, in_channels, H0, W0), any size.

        Returns:
            tuple: ``(outs, associations)``: ``outs`` as :meth:`forward` (with ``out_groups``
            ending with the group tokens and the superpixel -> group associations of the GCA
            layers); ``associations[k]`` the logits (B, M_k, 9, ceil(H0/r), ceil(W0/r)) of the
            last SCA layer of stage ``k`` (``-inf`` at invalid candidates; heads not merged).
        """
        x, z, tokens, associations, groups = self._forward_stages(x, self.out_indices)
        outs = []
        for i, index in enumerate(self.out_indices):
            t = tokens[index]
            if self.out_type == 'avg_featmap':
                outs.append(self.fc_norm(t.mean(dim=1)))
                continue
            fmap = self.out_norms[i](t).transpose(1, 2).reshape(z.shape)
            if self.unfold_outputs:
                assoc = associations[self.stage_of_block(index)]
                fmap = unfold_with_logits(merge_heads(assoc).unsqueeze(1), fmap, self.cell_size,
                                          causal=self.causal).to(fmap.dtype)
            outs.append(fmap)
        if self.out_pixels:
            outs.insert(0, self.pixel_norm(x))
        if self.out_groups:
            outs.append(torch.stack([g for g, _ in groups], dim=1))  # (B, L, G, Cs)
            outs.append(torch.stack([a for _, a in groups], dim=1))  # (B, L, Mg, h*w, G)
        return tuple(outs), associations

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Images (B, C, H0, W0) to the tuple of outputs selected by ``out_indices``.

        ``avg_featmap``: (B, Cs) each. ``featmap``: (B, Cs, ceil(H0/(r s)), ceil(W0/(r s)))
        each, or (B, Cs, ceil(H0/r), ceil(W0/r)) with ``unfold_outputs``; with ``out_pixels``
        the pixel map (B, Cp, ceil(H0/r), ceil(W0/r)) comes first; with ``out_groups`` the group
        tokens (B, L, G, Cs) and the superpixel -> group associations (B, L, Mg, h*w, G) come
        last.
        """
        return self.forward_with_association(x)[0]

    def forward_masked(self, x: Tensor, keep_ids: Tensor,
                       mask_token: Tensor) -> Tuple[Tensor, List[Tensor]]:
        """Encoder of masked modelling (SP-MAE): the global blocks see the visible tokens only.

        As MAE's encoder (He et al., arXiv 2111.06377, Sec. 3), the ViT blocks of every stage
        run on the tokens ``keep_ids`` alone; between stages the grid is refilled with
        ``mask_token`` at the other slots, since SCA and the unfolding need every superpixel
        (:meth:`SPFormerStage.forward`). The stem, the SCA layers and the unfolding read every
        pixel of ``x``, so the masked *content* must already be removed from the image
        (``mmsp.models.selfsup.SPMAE`` fills it with a learned colour before calling this).
        With every id, in ascending order, the tokens and associations are those of
        :meth:`forward_with_association`, bit for bit.

        Args:
            x (Tensor): (masked) images (B, in_channels, H0, W0).
            keep_ids (Tensor): (B, K) int64 ids of the visible superpixel tokens, unique per
                row, in ``[0, h*w)`` of the ``ceil(H0 / (r s)) x ceil(W0 / (r s))`` grid.
            mask_token (Tensor): the learned ``[MASK]`` embedding, ``embed_dims`` values.

        Returns:
            tuple: the visible tokens after the last block (B, K, Cs), normalised per token by
            the output norm (``fc_norm`` for ``avg_featmap``, the last block's out norm for
            ``featmap``; as MAE's encoder ends with its LayerNorm), and every stage's
            association logits (B, M, 9, ceil(H0/r), ceil(W0/r)).
        """
        grid = tuple(math.ceil(v / self.superpixel_stride) for v in x.shape[-2:])
        num = grid[0] * grid[1]
        if keep_ids.dim() != 2 or keep_ids.shape[0] != x.shape[0] or keep_ids.dtype != torch.long:
            raise ValueError(f'SPFormer.forward_masked: keep_ids must be int64 (B={x.shape[0]}, '
                             f'K), got {tuple(keep_ids.shape)} {keep_ids.dtype}')
        ids = keep_ids.sort(dim=1).values
        # one read of the device for the whole check
        if keep_ids.numel() and bool((ids[:, 0] < 0).any() | (ids[:, -1] >= num).any()
                                     | (ids.diff(dim=1) == 0).any()):
            raise ValueError(f'SPFormer.forward_masked: keep_ids must be unique per image and in '
                             f'[0, {num}) for the {grid} grid')
        if mask_token.numel() != self.embed_dims:
            raise ValueError(f'SPFormer.forward_masked: mask_token has {mask_token.numel()} '
                             f'values, expected embed_dims={self.embed_dims}')
        last = self.num_layers - 1
        _, _, tokens, associations, _ = self._forward_stages(x, (last, ), keep_ids, mask_token)
        if self.out_type == 'avg_featmap':
            norm = self.fc_norm
        elif last in self.out_indices:
            norm = self.out_norms[self.out_indices.index(last)]
        else:
            raise ValueError('SPFormer.forward_masked: featmap backbones need the last block '
                             f'({last}) among out_indices for its output norm')
        return norm(tokens[last]), associations

    def forward_association(self, x: Tensor, stage: int = -1) -> Tensor:
        """Association logits of one stage (superpixel-provider contract).

        Runs only up to the SCA layers of ``stage``.

        Args:
            x (Tensor): images (B, in_channels, H0, W0).
            stage (int): stage index (negative allowed). Defaults to the last stage.

        Returns:
            Tensor: (B, M, 9, ceil(H0/r), ceil(W0/r)) logits of the stage's last SCA layer,
            ``-inf`` at invalid candidates. Hard ids: ``mmsp.ops.association_to_superpixels(
            logits, stride=self.cell_size, pixel_stride=self.pixel_stride, out_size=(H0, W0))``.
        """
        stage = self._stage_index(stage)
        x = self._embed(x)
        z = self.superpixel_init(x)
        for k in range(stage):
            x, z, _, _ = self.stages[k](x, z, keep=())  # no block outputs are needed
        return self.stages[stage].associate(x, z)[2]

    def forward_superpixels(self, x: Tensor, stage: int = -1) -> Tuple[Tensor, Tensor]:
        """Hard superpixels of ``stage`` at image resolution.

        Returns:
            tuple[Tensor, Tensor]: ids (B, H0, W0) int64 (contiguous per image) and counts (B,).
        """
        logits = self.forward_association(x, stage)
        return association_to_superpixels(
            logits,
            stride=self.cell_size,
            pixel_stride=self.pixel_stride,
            out_size=tuple(x.shape[2:]),
            causal=self.causal)

    # ------------------------------------------------------------------ mmengine conventions
    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Layer depth for layer-wise lr decay (mmpretrain convention).

        Depth 0: stem, superpixel init and everything of stage 0 before its first block; block
        ``i`` (global) has depth ``i + 1``, as has the GCA layer after it; a stage's SCA layers
        and position embedding share the depth of the preceding block, unfolding that of the
        stage's last block; output
        norms and anything outside the backbone get ``num_layers + 1``.

        Returns:
            tuple[int, int]: ``(layer_depth, num_layers + 2)``.
        """
        total = self.num_layers + 2
        if not param_name.startswith(prefix):
            return total - 1, total
        parts = param_name[len(prefix):].split('.')
        if parts[0] in ('stem', 'superpixel_init'):
            return 0, total
        if parts[0] == 'stages':
            k = int(parts[1])
            first = self.block_offsets[k]
            if parts[2] in ('blocks', 'gca'):
                return first + int(parts[3]) + 1, total
            if parts[2] == 'unfold':
                return first + self.depths[k], total
            return first, total
        return total - 1, total

    def _freeze_stages(self) -> None:
        frozen: List[nn.Module] = []
        if self.frozen_stages >= 0:
            frozen += [self.stem, self.superpixel_init]
        frozen += list(self.stages[:max(self.frozen_stages, 0)])
        if self.frozen_stages == self.num_stages:
            frozen += [
                m for n, m in self.named_children() if n in ('fc_norm', 'out_norms', 'pixel_norm')
            ]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'SPFormer':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


__all__ = ['SPFormer']

"""One SPFormer stage: SCA iterations, position embedding, ViT blocks, pixel unfolding."""
import functools
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule, ModuleDict, ModuleList
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from ..utils import (GroupContextAggregation, PixelUnfolding, SuperpixelCrossAttention,
                     TransformerBlock, gather_tokens, resize_pos_embed, scatter_tokens)


def _maybe_checkpoint(fn: Callable, *args: Tensor, enabled: bool):
    """``fn(*args)``, through gradient checkpointing when ``enabled`` and autograd is on."""
    if enabled and torch.is_grad_enabled():
        return cp.checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)


class SPFormerStage(BaseModule):
    """``sp_iter`` SCA layers, ``+ pos_embed``, ``depth`` ViT blocks, then optional unfolding.

    Images (``spatial_dims=2``, SPFormer) or clips (``spatial_dims=3``, supervoxels): the SCA
    layers and the unfolding then work on (B, C, T, H, W) maps with 27 candidates, the ViT
    blocks attend jointly over all ``t * h * w`` supervoxel tokens, and the position embedding
    is factorised, a learned spatial ``pos_embed`` (1, h*w, Cs) plus a learned temporal
    ``temporal_pos_embed`` (1, t, Cs), each interpolated to other grids. The temporal one starts
    at zero (as TimeSformer's time embedding, Bertasius et al., ICML 2021, arXiv 2102.05095,
    Sec. 3), so that a stage inflated from an image stage starts as that stage on every frame.

    Optionally (images only) a :class:`GroupContextAggregation` layer (LGFormer, arXiv
    2409.01353) follows some of the blocks (``group_after``): the tokens after such a block are
    the GCA's output.

    Args:
        pixel_channels (int): ``Cp``.
        embed_dims (int): ``Cs`` (superpixel token width).
        depth (int): ViT blocks in this stage.
        num_heads (int): self-attention heads of the blocks.
        feedforward_channels (int): MLP hidden width of the blocks.
        sp_heads (int): SCA association heads ``M``.
        sp_iter (int): SCA layers (iterations) at the start of the stage.
        cell_size (int | tuple[int]): superpixel cell size ``s`` in pixel-branch pixels
            (``(s_t, s, s)`` for clips).
        pos_grid (tuple[int]): grid ``(h, w)`` (``(t, h, w)``) of the learned position
            embedding (the grid at the training size); other grids get a bilinear (and, in
            time, linear) resize.
        drop_path_rates (Sequence[float]): stochastic depth of each block.
        unfold (bool): unfold superpixels back to pixels after the blocks (non-final stages).
            Without it the last SCA layer computes no pixel update (its result would be
            unused).
        qkv_bias (bool): qkv bias of the blocks.
        drop_rate (float): dropout in the blocks.
        attn_drop_rate (float): attention dropout in the blocks.
        norm_cfg (dict): token norm of the blocks (``LN``, eps 1e-6).
        norm2d_cfg (dict): map norm of SCA and unfolding (``LN2d``, eps 1e-6).
        act_cfg (dict): MLP activation.
        layer_scale_init (float): LayerScale of SCA and unfolding (1e-5).
        sca_pos_embed (bool): depthwise conditional position encoding inside SCA.
        with_cp (bool): gradient checkpointing of every SCA layer, block and GCA layer.
        spatial_dims (int): 2 (images) or 3 (clips). Defaults to 2.
        causal (bool): clips only: no voxel has a candidate in the next temporal cell
            (:class:`~mmsp.ops.SuperpixelGrid`). Defaults to False.
        group_after (Sequence[int]): indices (within the stage) of the blocks followed by a GCA
            layer (images only). Defaults to none.
        group_cfg (dict, optional): arguments of those :class:`GroupContextAggregation` layers
            (besides ``embed_dims``).
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        x: (B, Cp, *size); z: (B, Cs, *grid) with ``grid = ceil(size / cell_size)``, ``size``
        ``(H, W)`` or ``(T, H, W)``. ``forward`` returns the updated ``x``, ``z``, the stage's
        association logits (B, M, K, *size) (``K`` = 9 or 27) and the tokens (B, prod(grid),
        Cs) after the blocks asked for (``keep``; default every block);
        :meth:`forward_with_groups` also the GCA layers' groups (B, G, Cs) and superpixel ->
        group associations (B, Mg, h*w, G).
    """

    def __init__(self,
                 pixel_channels: int,
                 embed_dims: int,
                 depth: int,
                 num_heads: int,
                 feedforward_channels: int,
                 sp_heads: int,
                 sp_iter: int,
                 cell_size: Union[int, Tuple[int, ...]],
                 pos_grid: Tuple[int, ...],
                 drop_path_rates: Sequence[float],
                 unfold: bool,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 norm_cfg: Dict = dict(type='LN', eps=1e-6),
                 norm2d_cfg: Dict = dict(type='LN2d', eps=1e-6),
                 act_cfg: Dict = dict(type='GELU'),
                 layer_scale_init: float = 1e-5,
                 sca_pos_embed: bool = True,
                 with_cp: bool = False,
                 spatial_dims: int = 2,
                 causal: bool = False,
                 group_after: Sequence[int] = (),
                 group_cfg: Optional[Dict] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(drop_path_rates) != depth:
            raise ValueError(f'SPFormerStage: {len(drop_path_rates)} drop-path rates for '
                             f'{depth} blocks')
        if len(pos_grid) != spatial_dims:
            raise ValueError(f'SPFormerStage: pos_grid {tuple(pos_grid)} needs {spatial_dims} '
                             f'entries (spatial_dims={spatial_dims})')
        self.cell_size, self.pos_grid, self.with_cp = cell_size, tuple(pos_grid), with_cp
        self.spatial_dims = spatial_dims
        # The pixel update of the last SCA layer feeds only the unfolding and the next stage;
        # the final stage does not compute it.
        self.sca = ModuleList(
            SuperpixelCrossAttention(
                pixel_channels,
                embed_dims,
                sp_heads,
                cell_size,
                norm2d_cfg,
                layer_scale_init,
                sca_pos_embed,
                update_pixels=unfold or i < sp_iter - 1,
                spatial_dims=spatial_dims,
                causal=causal) for i in range(sp_iter))
        h, w = self.pos_grid[-2:]
        self.pos_embed = nn.Parameter(torch.zeros(1, h * w, embed_dims))
        if spatial_dims == 3:
            self.temporal_pos_embed = nn.Parameter(torch.zeros(1, self.pos_grid[0], embed_dims))
        self.blocks = ModuleList(
            TransformerBlock(embed_dims, num_heads, feedforward_channels, qkv_bias, drop_rate,
                             attn_drop_rate, dpr, norm_cfg, act_cfg) for dpr in drop_path_rates)
        self.unfold = (
            PixelUnfolding(embed_dims, pixel_channels, cell_size, norm2d_cfg, layer_scale_init,
                           spatial_dims, causal) if unfold else None)
        group_after = sorted(set(int(i) for i in group_after))
        if any(not 0 <= i < depth for i in group_after):
            raise ValueError(f'SPFormerStage: group_after {group_after} out of range for {depth} '
                             f'blocks')
        if group_after and spatial_dims != 2:
            raise ValueError('SPFormerStage: GCA layers (group_after) are for images '
                             f'(spatial_dims=2), got spatial_dims={spatial_dims}')
        # GCA layers keyed by the index of the block they follow (absent without groups, so
        # that a plain stage keeps its parameter names)
        self.gca = ModuleDict({
            str(i): GroupContextAggregation(embed_dims, **(group_cfg or {}))
            for i in group_after
        }) if group_after else None

    def init_weights(self) -> None:
        super().init_weights()
        if not (isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained'):
            trunc_normal_(self.pos_embed, std=0.02)

    def pos_embed_for(self, grid: Tuple[int, ...]) -> Tensor:
        """The position embedding (1, prod(grid), Cs) for a ``(h, w)`` superpixel grid, or the
        factorised one, temporal + spatial, for a ``(t, h, w)`` supervoxel grid."""
        spatial = resize_pos_embed(self.pos_embed, self.pos_grid[-2:], grid[-2:])
        if self.spatial_dims == 2:
            return spatial
        temporal = resize_pos_embed(self.temporal_pos_embed, self.pos_grid[:1], grid[:1],
                                    mode='linear')  # (1, t, Cs)
        return (temporal[:, :, None] + spatial[:, None]).flatten(1, 2)

    def associate(self, x: Tensor, z: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Run the SCA iterations: returns ``x``, ``z`` and the last layer's association."""
        assoc = None
        for i, layer in enumerate(self.sca):
            # only the last layer's association is used: the others skip exporting theirs
            step = functools.partial(layer, return_association=i == len(self.sca) - 1)
            x, z, assoc = _maybe_checkpoint(step, x, z, enabled=self.with_cp and self.training)
        return x, z, assoc

    def forward(self,
                x: Tensor,
                z: Tensor,
                keep: Optional[Sequence[int]] = None,
                keep_ids: Optional[Tensor] = None,
                mask_token: Optional[Tensor] = None
                ) -> Tuple[Tensor, Tensor, Tensor, Dict[int, Tensor]]:
        """One stage: :meth:`forward_with_groups` without the group outputs."""
        return self.forward_with_groups(x, z, keep, keep_ids, mask_token)[:4]

    def forward_with_groups(
        self,
        x: Tensor,
        z: Tensor,
        keep: Optional[Sequence[int]] = None,
        keep_ids: Optional[Tensor] = None,
        mask_token: Optional[Tensor] = None
    ) -> Tuple[Tensor, Tensor, Tensor, Dict[int, Tensor], List[Tuple[Tensor, Tensor]]]:
        """One stage.

        Args:
            x (Tensor): (B, Cp, *size) pixels.
            z (Tensor): (B, Cs, *grid) superpixels.
            keep (Sequence[int], optional): indices (within the stage) of the blocks whose
                output tokens are returned; None: every block's. Tokens that are not kept are
                freed as the next block runs, so their memory is reused (at batch 32 the 12
                token maps of SPFormer-S held alive are ~115 MB of fresh memory per forward).
            keep_ids (Tensor, optional): masked modelling (SP-MAE): (B, K) ids of the visible
                tokens. The blocks see only those (MAE, arXiv 2111.06377, Sec. 3: no mask
                tokens in the encoder); afterwards the grid is refilled with ``mask_token`` at
                the other slots, because the next SCA layer and the unfolding need every
                superpixel. None (default): every token, the plain SPFormer stage. Not with
                GCA layers (groups are pooled from the whole grid).
            mask_token (Tensor, optional): the learned ``[MASK]`` embedding (Cs values); needed
                with ``keep_ids``.

        Returns:
            tuple: ``x``, ``z``, the association logits (B, M, K, *size), a dict from each
            kept block index to its output tokens (B, prod(grid), Cs) (after the block's GCA
            layer, if any; (B, K, Cs) with ``keep_ids``), and a list with ``(groups (B, G, Cs),
            association (B, Mg, h*w, G))`` of every GCA layer in order (empty without groups).
        """
        keep = range(len(self.blocks)) if keep is None else keep
        if any(not 0 <= i < len(self.blocks) for i in keep):
            raise ValueError(f'SPFormerStage: keep {list(keep)} out of range for '
                             f'{len(self.blocks)} blocks')
        if keep_ids is not None and mask_token is None:
            raise ValueError('SPFormerStage: keep_ids needs a mask_token')
        if keep_ids is not None and self.gca is not None:
            raise ValueError('SPFormerStage: keep_ids (masked modelling) cannot be combined with '
                             'GCA layers (group_after), which pool groups from the whole grid')
        x, z, assoc = self.associate(x, z)
        b, c, *grid = z.shape
        tokens = z.flatten(2).transpose(1, 2) + self.pos_embed_for(tuple(grid))
        if keep_ids is not None:
            tokens = gather_tokens(tokens, keep_ids)  # (B, K, Cs): the visible tokens
        outs, groups = {}, []
        checkpoint = self.with_cp and self.training
        for i, block in enumerate(self.blocks):
            tokens = _maybe_checkpoint(block, tokens, enabled=checkpoint)
            if self.gca is not None and str(i) in self.gca:
                step = functools.partial(self.gca[str(i)], grid=tuple(grid))
                tokens, group_tokens, group_assoc = _maybe_checkpoint(
                    step, tokens, enabled=checkpoint)
                groups.append((group_tokens, group_assoc))
            if i in keep:
                outs[i] = tokens
        if keep_ids is not None:
            # [MASK] at the hidden slots
            tokens = scatter_tokens(tokens, keep_ids, mask_token, math.prod(grid))
        z = tokens.reshape(b, *grid, c).movedim(-1, 1)  # channels-last memory format
        if self.unfold is not None:
            x = _maybe_checkpoint(self.unfold, x, z, assoc, enabled=checkpoint)
        return x, z, assoc, outs, groups


__all__ = ['SPFormerStage']

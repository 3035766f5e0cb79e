"""One SPFormer stage: SCA iterations, position embedding, ViT blocks, pixel unfolding."""
import functools
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule, ModuleDict, ModuleList
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from ..utils import (GroupContextAggregation, PixelUnfolding, SuperpixelCrossAttention,
                     TransformerBlock, resize_pos_embed)


def _maybe_checkpoint(fn: Callable, *args: Tensor, enabled: bool):
    """``fn(*args)``, through gradient checkpointing when ``enabled`` and autograd is on."""
    if enabled and torch.is_grad_enabled():
        return cp.checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)


class SPFormerStage(BaseModule):
    """``sp_iter`` SCA layers, ``+ pos_embed``, ``depth`` ViT blocks, then optional unfolding.

    Optionally a :class:`GroupContextAggregation` layer (LGFormer, arXiv 2409.01353) follows
    some of the blocks (``group_after``): the tokens after such a block are the GCA's output.

    Args:
        pixel_channels (int): ``Cp``.
        embed_dims (int): ``Cs`` (superpixel token width).
        depth (int): ViT blocks in this stage.
        num_heads (int): self-attention heads of the blocks.
        feedforward_channels (int): MLP hidden width of the blocks.
        sp_heads (int): SCA association heads ``M``.
        sp_iter (int): SCA layers (iterations) at the start of the stage.
        cell_size (int): superpixel cell size ``s`` in pixel-branch pixels.
        pos_grid (tuple[int, int]): grid of the learned position embedding (the grid at the
            training image size); other grids get a bilinear resize.
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
        group_after (Sequence[int]): indices (within the stage) of the blocks followed by a GCA
            layer. Defaults to none.
        group_cfg (dict, optional): arguments of those :class:`GroupContextAggregation` layers
            (besides ``embed_dims``).
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        x: (B, Cp, H, W); z: (B, Cs, h, w) with ``h = ceil(H / s)``. ``forward`` returns the
        updated ``x``, ``z``, the stage's association logits (B, M, 9, H, W) and the tokens
        (B, h*w, Cs) after the blocks asked for (``keep``; default every block);
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
                 cell_size: int,
                 pos_grid: Tuple[int, int],
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
                 group_after: Sequence[int] = (),
                 group_cfg: Optional[Dict] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(drop_path_rates) != depth:
            raise ValueError(f'SPFormerStage: {len(drop_path_rates)} drop-path rates for '
                             f'{depth} blocks')
        self.cell_size, self.pos_grid, self.with_cp = cell_size, tuple(pos_grid), with_cp
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
                update_pixels=unfold or i < sp_iter - 1) for i in range(sp_iter))
        self.pos_embed = nn.Parameter(torch.zeros(1, pos_grid[0] * pos_grid[1], embed_dims))
        self.blocks = ModuleList(
            TransformerBlock(embed_dims, num_heads, feedforward_channels, qkv_bias, drop_rate,
                             attn_drop_rate, dpr, norm_cfg, act_cfg) for dpr in drop_path_rates)
        self.unfold = (
            PixelUnfolding(embed_dims, pixel_channels, cell_size, norm2d_cfg, layer_scale_init)
            if unfold else None)
        group_after = sorted(set(int(i) for i in group_after))
        if any(not 0 <= i < depth for i in group_after):
            raise ValueError(f'SPFormerStage: group_after {group_after} out of range for {depth} '
                             f'blocks')
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

    def pos_embed_for(self, grid: Tuple[int, int]) -> Tensor:
        """The position embedding (1, h*w, Cs) for a ``(h, w)`` superpixel grid."""
        return resize_pos_embed(self.pos_embed, self.pos_grid, grid)

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
                keep: Optional[Sequence[int]] = None
                ) -> Tuple[Tensor, Tensor, Tensor, Dict[int, Tensor]]:
        """One stage: :meth:`forward_with_groups` without the group outputs."""
        return self.forward_with_groups(x, z, keep)[:4]

    def forward_with_groups(
        self,
        x: Tensor,
        z: Tensor,
        keep: Optional[Sequence[int]] = None
    ) -> Tuple[Tensor, Tensor, Tensor, Dict[int, Tensor], List[Tuple[Tensor, Tensor]]]:
        """One stage.

        Args:
            x (Tensor): (B, Cp, H, W) pixels.
            z (Tensor): (B, Cs, h, w) superpixels.
            keep (Sequence[int], optional): indices (within the stage) of the blocks whose
                output tokens are returned; None: every block's. Tokens that are not kept are
                freed as the next block runs, so their memory is reused (at batch 32 the 12
                token maps of SPFormer-S held alive are ~115 MB of fresh memory per forward).

        Returns:
            tuple: ``x``, ``z``, the association logits (B, M, 9, H, W), a dict from each
            kept block index to its output tokens (B, h*w, Cs) (after the block's GCA layer, if
            any), and a list with ``(groups (B, G, Cs), association (B, Mg, h*w, G))`` of every
            GCA layer in order (empty without groups).
        """
        keep = range(len(self.blocks)) if keep is None else keep
        if any(not 0 <= i < len(self.blocks) for i in keep):
            raise ValueError(f'SPFormerStage: keep {list(keep)} out of range for '
                             f'{len(self.blocks)} blocks')
        x, z, assoc = self.associate(x, z)
        b, c, h, w = z.shape
        tokens = z.flatten(2).transpose(1, 2) + self.pos_embed_for((h, w))
        outs, groups = {}, []
        checkpoint = self.with_cp and self.training
        for i, block in enumerate(self.blocks):
            tokens = _maybe_checkpoint(block, tokens, enabled=checkpoint)
            if self.gca is not None and str(i) in self.gca:
                step = functools.partial(self.gca[str(i)], grid=(h, w))
                tokens, group_tokens, group_assoc = _maybe_checkpoint(
                    step, tokens, enabled=checkpoint)
                groups.append((group_tokens, group_assoc))
            if i in keep:
                outs[i] = tokens
        z = tokens.reshape(b, h, w, c).permute(0, 3, 1, 2)  # channels-last memory format
        if self.unfold is not None:
            x = _maybe_checkpoint(self.unfold, x, z, assoc, enabled=checkpoint)
        return x, z, assoc, outs, groups


__all__ = ['SPFormerStage']

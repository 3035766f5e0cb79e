"""Group Context Aggregation (GCA): superpixels -> groups -> superpixels (LGFormer)."""
import math
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmseg.registry import MODELS
from torch import Tensor, nn

from mmsp.ops import global_association_logits, heads_weighted_sum
from .norm import build_norm
from .pos_embed import resize_pos_embed
from .transformer_block import TransformerBlock

__all__ = ['GlobalCrossAttention', 'GroupContextAggregation']


class GlobalCrossAttention(BaseModule):
    """Pre-norm multi-head cross-attention that also returns its weights.

    ``w[m, i, j] = softmax_j(<Wq LN(query)_i, Wk LN(key)_j>_m / sqrt(d))`` and
    ``out_i = concat_m sum_j w[m, i, j] (Wv LN(key)_j)_m``: every query sees **all** keys
    (:func:`mmsp.ops.global_association_logits`, :func:`mmsp.ops.heads_weighted_sum`). No output
    projection, no residual (the caller adds it), as in the grouping and ungrouping of LGFormer
    (arXiv 2409.01353, Sec. 3).

    Args:
        embed_dims (int): width ``C`` of queries, keys and the output.
        num_heads (int): heads ``M``; must divide ``C``.
        qkv_bias (bool): bias of the projections. Defaults to True.
        norm_cfg (dict): norm of the queries and of the keys. Defaults to ``LN`` (eps 1e-6).

    Shapes:
        query (B, Nq, C), key (B, Nk, C) -> output (B, Nq, C), weights (B, M, Nq, Nk) (float32
        or wider; rows sum to one).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 norm_cfg: Dict = dict(type='LN', eps=1e-6)) -> None:
        super().__init__()
        if num_heads < 1 or embed_dims % num_heads:
            raise ValueError(f'GlobalCrossAttention: num_heads={num_heads} must divide '
                             f'embed_dims={embed_dims}')
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.norm_query = build_norm_layer(norm_cfg, embed_dims)[1]
        self.norm_key = build_norm_layer(norm_cfg, embed_dims)[1]
        self.q = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.kv = nn.Linear(embed_dims, 2 * embed_dims, bias=qkv_bias)

    def forward(self, query: Tensor, key: Tensor) -> Tuple[Tensor, Tensor]:
        q = self.q(self.norm_query(query))  # (B, Nq, C)
        k, v = self.kv(self.norm_key(key)).chunk(2, dim=-1)  # (B, Nk, C) each
        weights = torch.softmax(global_association_logits(q, k, self.num_heads), dim=-1)
        return heads_weighted_sum(weights, v), weights


@MODELS.register_module()
class GroupContextAggregation(BaseModule):
    """One GCA layer: superpixel tokens -> group tokens -> superpixel tokens (LGFormer).

    The global aggregation of LGFormer (Xie et al., "From Pixels to Objects: A Hierarchical
    Approach for Part and Object Segmentation Using Local and Global Aggregation", arXiv
    2409.01353, ECCV 2024, Sec. 3; the grouping block follows GPViT, Yang et al., arXiv
    2212.06795, as in the authors' code). With superpixels ``Z`` (B, N, C) on an ``h x w`` grid,
    ``M`` heads of width ``d = C / M``:

    1. **group init** from the current superpixels: ``Q0 = GELU(LN2d(AvgPool(Z)))``, an adaptive
       average pool of the token grid to ``g_h x g_w = ceil(h / 4) x ceil(w / 4)`` groups (or a
       fixed ``group_grid``), so grids not divisible by 4 work;
    2. **grouping** (soft, global: every group sees all superpixels):
       ``a[m, g, j] = softmax_j(<Wq LN(Q0)_g, Wk LN(Z)_j>_m / sqrt(d))``,
       ``Q1 = Q0 + concat_m sum_j a[m, g, j] (Wv LN(Z)_j)_m``;
    3. **group reasoning**: ``Q2 = ViTBlock(Q1 + P)`` (``group_block_depth`` pre-norm blocks,
       :class:`TransformerBlock`; ``P`` a learned position embedding of the group grid);
    4. **ungrouping** (soft, global: every superpixel sees all groups):
       ``b[m, j, g] = softmax_g(<Wq' LN(Z)_j, Wk' LN(Q2)_g>_m / sqrt(d))``,
       ``Z' = Z + gamma * concat_m sum_g b[m, j, g] (Wv' LN(Q2)_g)_m`` (LayerScale ``gamma``).

    Groups are initialised anew at every GCA layer. There is no FFN in either cross-attention.

    Args:
        embed_dims (int): token width ``C``.
        num_heads (int): heads of grouping, ungrouping and the group blocks. Defaults to 6.
        group_grid (tuple[int, int], optional): a fixed group grid for every input. Defaults to
            None: ``ceil(h / pool_ratio) x ceil(w / pool_ratio)``.
        pool_ratio (int): superpixels per group side when ``group_grid`` is None. Defaults to 4.
        pos_grid (tuple[int, int], optional): group grid of the stored position embedding ``P``
            (that of the training size); other group grids resize it bilinearly. Defaults to
            ``group_grid``, else (8, 8) (the 64 groups of a 32x32 superpixel grid at 512 px).
        group_block_depth (int): ViT blocks on the groups. Defaults to 1.
        feedforward_channels (int, optional): MLP width of those blocks. Defaults to ``4 C``.
        ungroup_layer_scale (float, optional): initial LayerScale of the ungrouping residual;
            None: no LayerScale (``gamma = 1``, no parameter). Defaults to 1e-5.
        qkv_bias (bool): bias of the projections. Defaults to True.
        drop_path_rate (float): stochastic depth of the group blocks.
        norm_cfg (dict): token norm. Defaults to ``LN`` (eps 1e-6).
        norm2d_cfg (dict): norm of the group init. Defaults to ``LN2d`` (eps 1e-6).
        act_cfg (dict): activation of the group init and the MLPs. Defaults to GELU.
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        tokens (B, N, C) on the grid ``(h, w)`` (``N = h * w``, row-major) -> tokens' (B, N, C),
        groups ``Q2`` (B, G, C) (``G = g_h * g_w``, row-major), association ``b`` (B, M, N, G)
        (the ungrouping weights, float32 or wider; every row sums to one).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int = 6,
                 group_grid: Optional[Sequence[int]] = None,
                 pool_ratio: int = 4,
                 pos_grid: Optional[Sequence[int]] = None,
                 group_block_depth: int = 1,
                 feedforward_channels: Optional[int] = None,
                 ungroup_layer_scale: Optional[float] = 1e-5,
                 qkv_bias: bool = True,
                 drop_path_rate: float = 0.,
                 norm_cfg: Dict = dict(type='LN', eps=1e-6),
                 norm2d_cfg: Dict = dict(type='LN2d', eps=1e-6),
                 act_cfg: Dict = dict(type='GELU'),
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_heads < 1 or embed_dims % num_heads:
            raise ValueError(f'GroupContextAggregation: num_heads={num_heads} must divide '
                             f'embed_dims={embed_dims}')
        if not isinstance(pool_ratio, int) or isinstance(pool_ratio, bool) or pool_ratio < 1:
            raise ValueError(f'GroupContextAggregation: pool_ratio must be an int >= 1, got '
                             f'{pool_ratio!r}')
        if not isinstance(group_block_depth, int) or group_block_depth < 0:
            raise ValueError(f'GroupContextAggregation: group_block_depth must be an int >= 0, '
                             f'got {group_block_depth!r}')
        self.group_grid = None if group_grid is None else self._check_grid(group_grid,
                                                                           'group_grid')
        pos_grid = pos_grid if pos_grid is not None else (self.group_grid or (8, 8))
        self.pos_grid = self._check_grid(pos_grid, 'pos_grid')
        self.embed_dims, self.num_heads, self.pool_ratio = embed_dims, num_heads, pool_ratio
        # 1. group init: GELU(LN2d(avg pool))
        self.init_norm = build_norm(norm2d_cfg, embed_dims)
        self.init_act = build_activation_layer(act_cfg)
        # 2. grouping, 3. group blocks, 4. ungrouping
        self.grouping = GlobalCrossAttention(embed_dims, num_heads, qkv_bias, norm_cfg)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.pos_grid[0] * self.pos_grid[1],
                                                  embed_dims))
        hidden = feedforward_channels or 4 * embed_dims
        self.blocks = ModuleList(
            TransformerBlock(embed_dims, num_heads, hidden, qkv_bias, drop_path_rate=drop_path_rate,
                             norm_cfg=norm_cfg, act_cfg=act_cfg) for _ in range(group_block_depth))
        self.ungrouping = GlobalCrossAttention(embed_dims, num_heads, qkv_bias, norm_cfg)
        self.gamma = (None if ungroup_layer_scale is None else nn.Parameter(
            torch.full((embed_dims, ), float(ungroup_layer_scale))))

    @staticmethod
    def _check_grid(grid: Sequence[int], name: str) -> Tuple[int, int]:
        grid = tuple(grid)
        if len(grid) != 2 or not all(isinstance(v, int) and v >= 1 for v in grid):
            raise ValueError(f'GroupContextAggregation: {name} must be two ints >= 1, '
                             f'got {grid!r}')
        return grid  # type: ignore[return-value]

    def init_weights(self) -> None:
        super().init_weights()
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            return
        trunc_normal_(self.pos_embed, std=0.02)
        for attn in (self.grouping, self.ungrouping):
            for linear in (attn.q, attn.kv):
                trunc_normal_(linear.weight, std=0.02)
                if linear.bias is not None:
                    nn.init.zeros_(linear.bias)

    def group_grid_for(self, grid: Sequence[int]) -> Tuple[int, int]:
        """The ``(g_h, g_w)`` group grid of an ``(h, w)`` superpixel grid."""
        if self.group_grid is not None:
            return self.group_grid
        return tuple(math.ceil(v / self.pool_ratio) for v in grid)  # type: ignore[return-value]

    def init_groups(self, tokens: Tensor, grid: Tuple[int, int]) -> Tensor:
        """``Q0 = GELU(LN2d(AdaptiveAvgPool(Z)))``: (B, N, C) on ``grid`` -> (B, G, C)."""
        b, _, c = tokens.shape
        fmap = tokens.transpose(1, 2).reshape(b, c, *grid)
        pooled = F.adaptive_avg_pool2d(fmap, self.group_grid_for(grid))
        return self.init_act(self.init_norm(pooled)).flatten(2).transpose(1, 2)

    def forward(self, tokens: Tensor, grid: Sequence[int]) -> Tuple[Tensor, Tensor, Tensor]:
        """One GCA layer.

        Args:
            tokens (Tensor): (B, N, C) superpixel tokens ``Z``.
            grid (tuple[int, int]): their ``(h, w)`` grid, ``h * w = N``.

        Returns:
            tuple[Tensor, Tensor, Tensor]: tokens ``Z'`` (B, N, C), groups ``Q2`` (B, G, C) and
            the superpixel -> group association ``b`` (B, M, N, G).
        """
        grid = tuple(int(v) for v in grid)
        if tokens.dim() != 3 or tokens.shape[-1] != self.embed_dims or len(grid) != 2 or \
                grid[0] * grid[1] != tokens.shape[1]:
            raise ValueError(f'GroupContextAggregation: expected tokens (B, h*w, '
                             f'{self.embed_dims}) on a grid (h, w), got {tuple(tokens.shape)} '
                             f'and {grid}')
        # 1. groups from the current superpixels
        q0 = self.init_groups(tokens, grid)  # (B, G, C)
        # 2. grouping: every group gathers from all superpixels
        update, _ = self.grouping(q0, tokens)
        q1 = q0 + update
        # 3. reasoning among the groups
        q2 = q1 + resize_pos_embed(self.pos_embed, self.pos_grid, self.group_grid_for(grid))
        for block in self.blocks:
            q2 = block(q2)
        # 4. ungrouping: every superpixel gathers from all groups
        update, assoc = self.ungrouping(tokens, q2)  # (B, N, C), (B, M, N, G)
        if self.gamma is not None:
            update = self.gamma * update
        return tokens + update, q2, assoc

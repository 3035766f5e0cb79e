"""The pre-norm ViT block (global multi-head self-attention + MLP), used by every mmsp model."""
from typing import Dict, Optional

import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks.drop import DropPath
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn


class MultiheadSelfAttention(nn.Module):
    """Global multi-head self-attention with a fused qkv projection (timm naming).

    Uses :func:`torch.nn.functional.scaled_dot_product_attention`, the same kernel as
    mmpretrain's DeiT, so speed comparisons are like for like. mmengine's FLOP counter does not
    see this fused op by itself; :func:`mmsp.utils.count_multiply_adds` counts it.

    Args:
        embed_dims (int): token width ``C``.
        num_heads (int): attention heads; must divide ``C``.
        qkv_bias (bool): bias of the qkv projection. Defaults to True.
        attn_drop (float): dropout on the attention weights (training only).
        proj_drop (float): dropout after the output projection.

    Shapes:
        x: (B, N, C) -> (B, N, C).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.) -> None:
        super().__init__()
        if num_heads < 1 or embed_dims % num_heads:
            raise ValueError(f'MultiheadSelfAttention: num_heads={num_heads} must divide '
                             f'embed_dims={embed_dims}')
        self.num_heads = num_heads
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, d)
        x = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0.)
        x = x.transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(x))


class Mlp(nn.Module):
    """``Linear -> act -> dropout -> Linear -> dropout`` (timm naming ``fc1``/``fc2``).

    Args:
        embed_dims (int): input/output width.
        hidden_dims (int): hidden width.
        act_cfg (dict): activation config. Defaults to GELU.
        drop (float): dropout rate.

    Shapes:
        x: (..., embed_dims) -> (..., embed_dims).
    """

    def __init__(self,
                 embed_dims: int,
                 hidden_dims: int,
                 act_cfg: Dict = dict(type='GELU'),
                 drop: float = 0.) -> None:
        super().__init__()
        self.fc1 = nn.Linear(embed_dims, hidden_dims)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Linear(hidden_dims, embed_dims)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class TransformerBlock(BaseModule):
    """timm-style pre-norm ViT block: ``x + DP(Attn(LN(x)))``, then ``x + DP(MLP(LN(x)))``.

    The global blocks of SPFormer over its superpixel tokens and the global reasoning layers of
    the superpixel-transformer head are this block (no LayerScale). The parameter names follow
    timm (``norm1``, ``attn.qkv``, ``attn.proj``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``). Without
    an ``init_cfg`` the Linear layers start from a truncated normal (std 0.02) with zero bias,
    as in timm's ViT.

    Args:
        embed_dims (int): token width ``C``.
        num_heads (int): self-attention heads.
        feedforward_channels (int): MLP hidden width (``4 C`` in SPFormer).
        qkv_bias (bool): bias of the qkv projection. Defaults to True.
        drop_rate (float): dropout after the projections and in the MLP.
        attn_drop_rate (float): attention-weight dropout.
        drop_path_rate (float): stochastic depth of both residual branches.
        norm_cfg (dict): token norm. Defaults to ``LN`` with eps 1e-6.
        act_cfg (dict): MLP activation. Defaults to GELU.
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        x: (B, N, C) -> (B, N, C).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: Dict = dict(type='LN', eps=1e-6),
                 act_cfg: Dict = dict(type='GELU'),
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = MultiheadSelfAttention(embed_dims, num_heads, qkv_bias, attn_drop_rate,
                                           drop_rate)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.mlp = Mlp(embed_dims, feedforward_channels, act_cfg, drop_rate)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is not None:
            return
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.embed_dims:
            raise ValueError(f'{type(self).__name__}: expected tokens (B, N, {self.embed_dims}), '
                             f'got {tuple(x.shape)}')
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


__all__ = ['MultiheadSelfAttention', 'Mlp', 'TransformerBlock']

"""Global reasoning over superpixel tokens: a pre-norm transformer layer (MHSA + FFN)."""
from typing import Dict, Optional

import torch
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks.drop import DropPath
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

__all__ = ['SuperpixelTransformerLayer']


class SuperpixelTransformerLayer(BaseModule):
    """One pre-norm transformer layer over the ``N = h * w`` superpixel tokens.

    ``t = t + DropPath(MHSA(LN(t)))`` then ``t = t + DropPath(FFN(LN(t)))`` (spec B5: 8 heads,
    FFN ratio 4, GELU). The attention is written with explicit matmuls (not the fused
    ``scaled_dot_product_attention``) so that FLOP counters (mmengine/fvcore) see the
    attention products; with a few hundred tokens the speed difference is negligible.

    Args:
        embed_dims (int): token width ``C``; must be divisible by ``num_heads``.
        num_heads (int): attention heads. Defaults to 8.
        ffn_ratio (float): hidden width of the FFN relative to ``C``. Defaults to 4.
        qkv_bias (bool): bias of the qkv projection. Defaults to True.
        attn_drop (float): dropout on the attention weights. Defaults to 0.
        proj_drop (float): dropout after the attention/FFN output projections. Defaults to 0.
        drop_path (float): stochastic depth rate of both residual branches. Defaults to 0.
        act_cfg (dict): FFN activation. Defaults to GELU.
        norm_cfg (dict): token norm. Defaults to LayerNorm (eps 1e-6).
        init_cfg (dict, optional): mmengine init config. By default Linear weights get a
            truncated normal (std 0.02) and zero bias.

    Shapes:
        - input: (B, N, C)
        - output: (B, N, C)
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int = 8,
                 ffn_ratio: float = 4.0,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0,
                 drop_path: float = 0.0,
                 act_cfg: Dict = dict(type='GELU'),
                 norm_cfg: Dict = dict(type='LN', eps=1e-6),
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_heads < 1 or embed_dims % num_heads:
            raise ValueError(f'SuperpixelTransformerLayer: embed_dims={embed_dims} is not '
                             f'divisible by num_heads={num_heads}')
        hidden = int(round(embed_dims * ffn_ratio))
        if hidden < 1:
            raise ValueError(f'SuperpixelTransformerLayer: ffn_ratio={ffn_ratio} gives no hidden '
                             f'units for embed_dims={embed_dims}')
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.scale = (embed_dims // num_heads)**-0.5
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = nn.Sequential(
            nn.Linear(embed_dims, hidden), build_activation_layer(act_cfg), nn.Dropout(proj_drop),
            nn.Linear(hidden, embed_dims))
        self.proj_drop = nn.Dropout(proj_drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is not None:
            return
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def attention(self, x: Tensor) -> Tensor:
        """Multi-head self-attention of (B, N, C) tokens (without the residual)."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, heads, N, d)
        attn = torch.matmul(q, k.transpose(-2, -1)) * self.scale
        attn = self.attn_drop(attn.softmax(dim=-1))
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(out))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.embed_dims:
            raise ValueError(f'{type(self).__name__}: expected tokens (B, N, {self.embed_dims}), '
                             f'got {tuple(x.shape)}')
        x = x + self.drop_path(self.attention(self.norm1(x)))
        return x + self.drop_path(self.proj_drop(self.ffn(self.norm2(x))))

"""Pre-norm ViT block (global multi-head self-attention + MLP) over superpixel tokens."""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks.drop import DropPath
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmsp.ops.cpu_kernels import eager_cpu_inference


class MultiheadSelfAttention(nn.Module):
    """Global multi-head self-attention with a fused qkv projection (timm naming).

    Uses :func:`torch.nn.functional.scaled_dot_product_attention`, the same kernel as
    mmpretrain's DeiT, so speed comparisons are like for like. Note that the
    mmengine/fvcore FLOP counters do not see this fused op (see ``docs/spformer.md``).

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

    **Chunked CPU inference.** In eager CPU inference
    (:func:`~mmsp.ops.cpu_kernels.eager_cpu_inference`: no autograd graph, not traced or
    compiled, not under autocast) with dropout inactive, the tokens go through the MLP in row
    chunks whose hidden activations take at most :attr:`CHUNK_BYTES`, and ``fc2`` writes each
    chunk into its rows of one output tensor: the same function, row by row (the tests
    compare it with the plain path). The reason is glibc's allocator: PyTorch takes CPU memory
    from ``malloc``, which serves blocks above 32 MB with a fresh ``mmap``, so every hidden
    map larger than that is page-faulted and zeroed by the kernel on each call. For SPFormer-S
    at batch 32 that is 38.5 MB twice per block (after ``fc1`` and after the activation),
    ~900 MB per forward; the chunks stay in reused heap memory and in cache. Measured on the
    2-core CPU (``docs/sca-speed.md``, round 6): SPFormer-S backbone at batch 32, 119.3 ->
    108.6 ms/img, outputs bit-identical. At batch 1 the hidden map (1.2 MB) is one chunk and
    nothing changes. GPUs (caching allocator) and training keep the plain path.

    Args:
        embed_dims (int): input/output width.
        hidden_dims (int): hidden width.
        act_cfg (dict): activation config. Defaults to GELU.
        drop (float): dropout rate.

    Shapes:
        x: (..., embed_dims) -> (..., embed_dims).
    """

    #: Largest hidden activation made at once in chunked CPU inference (bytes; at least one
    #: row). 4 MB was the fastest of 4/8/16 MB for SPFormer-S at batch 32 (round 6).
    CHUNK_BYTES = 4 * 2**20

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

    def chunk_rows(self, x: Tensor) -> int:
        """Rows (tokens) per chunk for ``x``; ``0`` where the plain path runs (training
        with dropout, autograd, tracing, autocast, non-CPU tensors, or one chunk would do)."""
        rows = max(1, self.CHUNK_BYTES // (self.fc1.out_features * x.element_size()))
        if rows >= x.numel() // max(x.shape[-1], 1) or (self.training and self.drop.p > 0):
            return 0
        return rows if eager_cpu_inference(x, self.fc1.weight, module=self) else 0

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.fc1.in_features:
            raise ValueError(f'Mlp: expected (..., {self.fc1.in_features}) tokens, got '
                             f'{tuple(x.shape)}')
        rows = self.chunk_rows(x)
        if not rows:
            return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))
        tokens = x.reshape(-1, x.shape[-1])
        out = tokens.new_empty(tokens.shape[0], self.fc2.out_features)
        weight = self.fc2.weight.t()
        for src, dst in zip(tokens.split(rows), out.split(rows)):
            hidden = self.act(self.fc1(src))
            if self.fc2.bias is None:
                torch.mm(hidden, weight, out=dst)
            else:
                torch.addmm(self.fc2.bias, hidden, weight, out=dst)
        return out.view(*x.shape[:-1], -1)


class TransformerBlock(BaseModule):
    """timm-style pre-norm ViT block: ``x + DP(Attn(LN(x)))``, then ``x + DP(MLP(LN(x)))``.

    No LayerScale (spec 3.5). The parameter names follow timm (``norm1``, ``attn.qkv``,
    ``attn.proj``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``) so that timm-style SPFormer
    checkpoints map one to one.

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
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = MultiheadSelfAttention(embed_dims, num_heads, qkv_bias, attn_drop_rate,
                                           drop_rate)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.mlp = Mlp(embed_dims, feedforward_channels, act_cfg, drop_rate)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


__all__ = ['MultiheadSelfAttention', 'Mlp', 'TransformerBlock']

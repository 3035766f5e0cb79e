"""The SP-MAE decoder: MAE's light transformer decoder over the superpixel tokens."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule, ModuleList
from mmpretrain.models.utils import build_2d_sincos_position_embedding
from mmpretrain.registry import MODELS
from torch import Tensor, nn

from ..utils import TransformerBlock, scatter_tokens

__all__ = ['SPMAEDecoder']


@MODELS.register_module()
class SPMAEDecoder(BaseModule):
    """MAE's decoder (He et al., arXiv 2111.06377, Sec. 3 "MAE decoder") over superpixel tokens.

    ``d = LN(Blocks(scatter(Linear_{C -> C_d}(latent), [MASK]) + PE))``: the encoded visible
    tokens are projected to the decoder width, a shared learned ``[MASK]`` token fills the
    masked slots, a frozen 2-D sin-cos position embedding of the token grid is added and
    ``depth`` transformer blocks run over all ``N`` tokens. Unlike mmpretrain's
    ``MAEPretrainDecoder`` there is no class token and no per-token pixel projection: the pixel
    head (:class:`SPMAEPretrainHead`) decodes every pixel through the association.

    Args:
        grid_size (int | tuple[int, int]): the token grid ``(h, w)`` at the training size
            (``img_size / superpixel_stride``).
        embed_dims (int): encoder width ``C``.
        decoder_embed_dims (int): decoder width ``C_d``. Defaults to 128.
        decoder_depth (int): transformer blocks. Defaults to 2.
        decoder_num_heads (int): attention heads. Defaults to 4.
        mlp_ratio (float): MLP hidden width over ``C_d``. Defaults to 4.
        norm_cfg (dict): token norm. Defaults to LN (eps 1e-6).
        init_cfg (dict | list, optional): defaults to trunc-normal Linear (std 0.02).

    Shapes:
        latent: (B, K, C) visible tokens; keep_ids: (B, K) -> (B, N, C_d), ``N = h w``.
    """

    def __init__(self,
                 grid_size: Union[int, Sequence[int]],
                 embed_dims: int,
                 decoder_embed_dims: int = 128,
                 decoder_depth: int = 2,
                 decoder_num_heads: int = 4,
                 mlp_ratio: float = 4.,
                 norm_cfg: Dict = dict(type='LN', eps=1e-6),
                 init_cfg: Optional[Union[Dict, List[Dict]]] = dict(
                     type='TruncNormal', layer='Linear', std=0.02, bias=0.)) -> None:
        super().__init__(init_cfg=init_cfg)
        grid = (grid_size, grid_size) if isinstance(grid_size, int) else tuple(grid_size)
        if len(grid) != 2 or min(grid) < 1:
            raise ValueError(f'SPMAEDecoder: grid_size must be an int or (h, w), got {grid_size!r}')
        self.grid_size, self.num_tokens = grid, grid[0] * grid[1]
        self.decoder_embed = nn.Linear(embed_dims, decoder_embed_dims)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dims))
        self.register_buffer(
            'pos_embed',
            build_2d_sincos_position_embedding(grid, decoder_embed_dims),
            persistent=False)  # frozen, (1, N, C_d)
        self.blocks = ModuleList(
            TransformerBlock(decoder_embed_dims, decoder_num_heads,
                             int(mlp_ratio * decoder_embed_dims), norm_cfg=norm_cfg)
            for _ in range(decoder_depth))
        self.norm = build_norm_layer(norm_cfg, decoder_embed_dims)[1]

    def init_weights(self) -> None:
        super().init_weights()
        nn.init.normal_(self.mask_token, std=.02)  # as MAE's decoder

    def forward(self, latent: Tensor, keep_ids: Tensor) -> Tensor:
        if latent.shape[:2] != keep_ids.shape:
            raise ValueError(f'SPMAEDecoder: latent {tuple(latent.shape)} and keep_ids '
                             f'{tuple(keep_ids.shape)} disagree')
        x = self.decoder_embed(latent)  # (B, K, C_d)
        x = scatter_tokens(x, keep_ids, self.mask_token, self.num_tokens)  # (B, N, C_d)
        x = x + self.pos_embed.to(x.dtype)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

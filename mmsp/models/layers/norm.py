"""Channel LayerNorm for NCHW maps and a norm builder that accepts it by config."""
from typing import Dict, Optional

import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import Tensor, nn


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel dimension of a (B, C, H, W) map.

    Args:
        num_channels (int): ``C``.
        eps (float): numerical epsilon. Defaults to 1e-6 (the SPFormer code's value).
    """

    def __init__(self, num_channels: int, eps: float = 1e-6, **kwargs) -> None:
        super().__init__(num_channels, eps=eps, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f'LayerNorm2d expects (B, C, H, W), got {tuple(x.shape)}')
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def build_norm2d(cfg: Optional[Dict], num_channels: int) -> nn.Module:
    """Build a norm for NCHW maps: ``dict(type='LN2d', eps=...)`` or any mmcv norm config."""
    if cfg is None:
        return nn.Identity()
    cfg = dict(cfg)
    if cfg.get('type') == 'LN2d':
        cfg.pop('type')
        cfg.pop('requires_grad', None)
        return LayerNorm2d(num_channels, **cfg)
    return build_norm_layer(cfg, num_channels)[1]


__all__ = ['LayerNorm2d', 'build_norm2d']

"""LayerNorm over the channels of a (B, C, *spatial) map, registered as the norm type ``LN2d``."""
from typing import Dict, Optional

import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.registry import MODELS as MMENGINE_MODELS
from torch import Tensor, nn

__all__ = ['LayerNorm2d', 'build_norm']


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel dimension of a (B, C, *spatial) map (images and clips).

    Registered as the norm type ``'LN2d'`` in mmengine's root model registry, so that
    ``mmcv.cnn.build_norm_layer(dict(type='LN2d', eps=1e-6), C)`` builds it under any scope
    (mmpretrain's scope has an ``LN2d`` of its own that computes the same function).

    Args:
        num_channels (int): ``C``.
        eps (float): numerical epsilon. Defaults to 1e-6 (the SPFormer code's value).
    """

    def __init__(self, num_channels: int, eps: float = 1e-6, **kwargs) -> None:
        super().__init__(num_channels, eps=eps, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 3:
            raise ValueError(f'LayerNorm2d expects (B, C, *spatial), got {tuple(x.shape)}')
        x = F.layer_norm(x.movedim(1, -1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.movedim(-1, 1)


if 'LN2d' not in MMENGINE_MODELS.module_dict:
    MMENGINE_MODELS.register_module('LN2d', module=LayerNorm2d)


def build_norm(cfg: Optional[Dict], num_features: int) -> nn.Module:
    """``mmcv.cnn.build_norm_layer(cfg, num_features)[1]``; ``nn.Identity()`` for ``cfg=None``."""
    if cfg is None:
        return nn.Identity()
    return build_norm_layer(cfg, num_features)[1]

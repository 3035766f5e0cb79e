from .norm import LayerNorm2d, build_norm2d, layer_norm_factors, layer_norm_of_linear
from .superpixel_cross_attention import SuperpixelCrossAttention

__all__ = [
    'LayerNorm2d', 'build_norm2d', 'layer_norm_factors', 'layer_norm_of_linear',
    'SuperpixelCrossAttention'
]

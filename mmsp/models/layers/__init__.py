from .norm import LayerNorm2d, build_norm2d, layer_norm_factors, layer_norm_of_linear
from .superpixel_cross_attention import SuperpixelCrossAttention, add_position_encoding

__all__ = [
    'LayerNorm2d', 'build_norm2d', 'layer_norm_factors', 'layer_norm_of_linear',
    'SuperpixelCrossAttention', 'add_position_encoding'
]

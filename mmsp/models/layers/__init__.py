from .norm import (LayerNorm2d, build_norm2d, is_pointwise_norm, layer_norm_factors,
                   layer_norm_of_linear, pointwise_conv_norm)
from .superpixel_cross_attention import SuperpixelCrossAttention, add_position_encoding

__all__ = [
    'LayerNorm2d', 'build_norm2d', 'is_pointwise_norm', 'layer_norm_factors',
    'layer_norm_of_linear', 'pointwise_conv_norm', 'SuperpixelCrossAttention',
    'add_position_encoding'
]

from .norm import LayerNorm2d, build_norm2d
from .superpixel_cross_attention import SuperpixelCrossAttention

__all__ = ['LayerNorm2d', 'build_norm2d', 'SuperpixelCrossAttention']

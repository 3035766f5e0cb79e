"""Layers shared by mmsp's backbones and heads."""
from .group_context_aggregation import GlobalCrossAttention, GroupContextAggregation
from .hypercolumn_fusion import HypercolumnFusion
from .norm import LayerNorm2d, build_norm
from .pixel_unfolding import PixelUnfolding
from .pos_embed import resize_pos_embed, square_grid
from .superpixel_cross_attention import SuperpixelCrossAttention
from .token_mask import gather_tokens, scatter_tokens
from .transformer_block import Mlp, MultiheadSelfAttention, TransformerBlock

__all__ = [
    'LayerNorm2d', 'build_norm', 'SuperpixelCrossAttention', 'PixelUnfolding',
    'HypercolumnFusion', 'TransformerBlock', 'MultiheadSelfAttention', 'Mlp',
    'resize_pos_embed', 'square_grid', 'gather_tokens', 'scatter_tokens', 'GlobalCrossAttention',
    'GroupContextAggregation'
]

from .pos_embed import resize_pos_embed
from .spformer import SPFormer
from .spformer_arch import ARCH_ZOO, STRIDE_ZOO, resolve_arch, resolve_stride
from .spformer_stage import PixelUnfolding, SPFormerStage
from .spformer_stem import STEM_LAYOUTS, SPFormerStem, SuperpixelInit
from .vit_block import Mlp, MultiheadSelfAttention, TransformerBlock

__all__ = [
    'SPFormer', 'SPFormerStage', 'PixelUnfolding', 'SPFormerStem', 'SuperpixelInit',
    'TransformerBlock', 'MultiheadSelfAttention', 'Mlp', 'ARCH_ZOO', 'STRIDE_ZOO', 'STEM_LAYOUTS',
    'resolve_arch', 'resolve_stride', 'resize_pos_embed'
]

from .spformer import SPFormer
from .spformer_arch import ARCH_ZOO, STRIDE_ZOO, resolve_arch, resolve_stride
from .spformer_stage import SPFormerStage
from .spformer_stem import STEM_LAYOUTS, SPFormerStem, SuperpixelInit

__all__ = [
    'SPFormer', 'SPFormerStage', 'SPFormerStem', 'SuperpixelInit', 'ARCH_ZOO', 'STRIDE_ZOO',
    'STEM_LAYOUTS', 'resolve_arch', 'resolve_stride'
]

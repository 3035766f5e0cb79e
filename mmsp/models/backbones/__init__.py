from .spformer import SPFormer
from .spformer3d import SPFormer3D, inflate_kernel
from .spformer_arch import ARCH_ZOO, STRIDE_ZOO, resolve_arch, resolve_stride
from .spformer_stage import SPFormerStage
from .spformer_stem import STEM_LAYOUTS, SPFormerStem, SuperpixelInit

__all__ = [
    'SPFormer', 'SPFormer3D', 'inflate_kernel', 'SPFormerStage', 'SPFormerStem', 'SuperpixelInit',
    'ARCH_ZOO', 'STRIDE_ZOO', 'STEM_LAYOUTS', 'resolve_arch', 'resolve_stride'
]

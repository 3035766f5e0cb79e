from .spformer import SPFormer
from .spformer3d import SPFormer3D, inflate_kernel
from .spformer_arch import ARCH_ZOO, STRIDE_ZOO, resolve_arch, resolve_stride
from .spformer_stage import SPFormerStage
from .spformer_stem import STEM_LAYOUTS, SPFormerStem, SuperpixelInit

try:  # SPFormer is also a classification backbone: type='SPFormer' in MMPretrain configs
    from mmpretrain.registry import MODELS as _MMPRETRAIN_MODELS
except ImportError:  # MMPretrain is optional; its configs then name 'mmseg.SPFormer'
    _MMPRETRAIN_MODELS = None
if _MMPRETRAIN_MODELS is not None and 'SPFormer' not in _MMPRETRAIN_MODELS.module_dict:
    _MMPRETRAIN_MODELS.register_module(module=SPFormer)

__all__ = [
    'SPFormer', 'SPFormer3D', 'inflate_kernel', 'SPFormerStage', 'SPFormerStem', 'SuperpixelInit',
    'ARCH_ZOO', 'STRIDE_ZOO', 'STEM_LAYOUTS', 'resolve_arch', 'resolve_stride'
]

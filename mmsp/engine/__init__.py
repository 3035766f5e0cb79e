"""Runner hooks registered in ``mmseg.registry.HOOKS``."""
from .hooks import SuperpixelVisualizationHook

__all__ = ['SuperpixelVisualizationHook']

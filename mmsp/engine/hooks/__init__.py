from .superpixel_visualization_hook import SuperpixelVisualizationHook

__all__ = ['SuperpixelVisualizationHook']

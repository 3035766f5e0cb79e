from .logger_hook import MainProcessLoggerHook
from .superpixel_visualization_hook import SuperpixelVisualizationHook

__all__ = ['MainProcessLoggerHook', 'SuperpixelVisualizationHook']

from .checkpoint_hooks import AtomicCheckpointHook, CheckedLoadHook
from .logger_hook import MainProcessLoggerHook
from .superpixel_visualization_hook import SuperpixelVisualizationHook

__all__ = [
    'AtomicCheckpointHook', 'CheckedLoadHook', 'MainProcessLoggerHook',
    'SuperpixelVisualizationHook'
]

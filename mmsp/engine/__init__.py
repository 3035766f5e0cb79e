"""Runner hooks registered in ``mmseg.registry.HOOKS``."""
from .hooks import (AtomicCheckpointHook, CheckedLoadHook, MainProcessLoggerHook,
                    SuperpixelVisualizationHook)

__all__ = [
    'AtomicCheckpointHook', 'CheckedLoadHook', 'MainProcessLoggerHook',
    'SuperpixelVisualizationHook'
]

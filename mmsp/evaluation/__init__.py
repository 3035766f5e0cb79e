"""Superpixel and supervoxel quality: pure-numpy scores (:mod:`.functional`,
:mod:`.supervoxel`) and the metrics."""
from . import functional, supervoxel
from .metrics import (ALL_METRICS, DEFAULT_METRICS, CoarseIoUMetric, SuperpixelMetric,
                      SupervoxelMetric)

__all__ = [
    'functional', 'supervoxel', 'SuperpixelMetric', 'ALL_METRICS', 'DEFAULT_METRICS',
    'CoarseIoUMetric', 'SupervoxelMetric'
]

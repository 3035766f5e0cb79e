"""Metrics registered in ``mmseg.registry.METRICS``."""
from .coarse_iou_metric import CoarseIoUMetric
from .superpixel_metric import ALL_METRICS, DEFAULT_METRICS, SuperpixelMetric
from .supervoxel_metric import SupervoxelMetric

__all__ = [
    'SuperpixelMetric', 'ALL_METRICS', 'DEFAULT_METRICS', 'CoarseIoUMetric', 'SupervoxelMetric'
]

"""Superpixel-quality evaluation: pure-numpy scores (:mod:`.functional`) and the metrics."""
from . import functional
from .metrics import ALL_METRICS, DEFAULT_METRICS, CoarseIoUMetric, SuperpixelMetric

__all__ = ['functional', 'SuperpixelMetric', 'ALL_METRICS', 'DEFAULT_METRICS', 'CoarseIoUMetric']

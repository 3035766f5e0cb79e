"""Superpixel-quality evaluation: pure-numpy scores (:mod:`.functional`) and the metric."""
from . import functional
from .metrics import ALL_METRICS, DEFAULT_METRICS, SuperpixelMetric

__all__ = ['functional', 'SuperpixelMetric', 'ALL_METRICS', 'DEFAULT_METRICS']

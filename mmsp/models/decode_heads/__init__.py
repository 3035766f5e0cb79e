"""Decode heads: the Superpixel-Transformer head, the per-superpixel linear head and the
two-level (superpixel / group) head."""
from .hier_sp_head import HierOutputs, HierSPHead
from .sp_linear_head import SPLinearHead
from .sp_transformer_head import SPTransformerHead

__all__ = ['SPTransformerHead', 'SPLinearHead', 'HierSPHead', 'HierOutputs']

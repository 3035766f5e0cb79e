"""Decode heads: the Superpixel-Transformer head and its building blocks."""
from .pixel_fusion import HypercolumnFusion
from .sp_transformer_head import SPTransformerHead
from .superpixel_transformer import SuperpixelTransformerLayer

__all__ = ['SPTransformerHead', 'HypercolumnFusion', 'SuperpixelTransformerLayer']

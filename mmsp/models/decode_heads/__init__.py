"""Decode heads: the Superpixel-Transformer head."""
from .sp_transformer_head import SPTransformerHead

__all__ = ['SPTransformerHead']

"""Segmentors: EncoderDecoder with hard superpixels in its predictions, and its two-level
(fine / coarse, superpixels / groups) variant."""
from .hier_sp_encoder_decoder import HierSPEncoderDecoder
from .sp_encoder_decoder import SPEncoderDecoder

__all__ = ['SPEncoderDecoder', 'HierSPEncoderDecoder']

"""Segmentors: EncoderDecoder with hard superpixels in its predictions."""
from .sp_encoder_decoder import SPEncoderDecoder

__all__ = ['SPEncoderDecoder']

"""Segmentors: EncoderDecoder with hard superpixels in its predictions, its clip version and its
two-level (fine / coarse, superpixels / groups) variant."""
from .hier_sp_encoder_decoder import HierSPEncoderDecoder
from .sp_encoder_decoder import SPEncoderDecoder
from .sp_video_encoder_decoder import SPVideoEncoderDecoder, frames_to_batch

__all__ = ['SPEncoderDecoder', 'SPVideoEncoderDecoder', 'frames_to_batch', 'HierSPEncoderDecoder']

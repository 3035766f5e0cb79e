"""Superpixel-only models for the evaluation path: patch grid, SLIC and the zero-shot wrapper."""
from .base import BaseSuperpixelModel, inputs_to_rgb_uint8
from .patch_grid import PatchGridSuperpixels, grid_shape, grid_superpixels
from .slic import SLICSuperpixels
from .superpixel_predictor import SuperpixelPredictor

__all__ = [
    'BaseSuperpixelModel', 'PatchGridSuperpixels', 'SLICSuperpixels', 'SuperpixelPredictor',
    'grid_shape', 'grid_superpixels', 'inputs_to_rgb_uint8'
]

"""Superpixel visualisation: drawing primitives (PNG output via OpenCV, no display)."""
from .drawing import (IMAGENET_MEAN_RGB, association_heatmap, colorize_ids, draw_boundaries,
                      draw_colorbar, fit_width, make_panel, mean_color_image, occlude_image,
                      overlay_heatmap, rotate_image, save_rgb, wrap_title)
from .seg_local_visualizer import SuperpixelSegLocalVisualizer

__all__ = [
    'draw_boundaries', 'mean_color_image', 'colorize_ids', 'association_heatmap', 'overlay_heatmap',
    'make_panel', 'wrap_title', 'rotate_image', 'occlude_image', 'save_rgb', 'IMAGENET_MEAN_RGB',
    'SuperpixelSegLocalVisualizer', 'draw_colorbar', 'fit_width'
]

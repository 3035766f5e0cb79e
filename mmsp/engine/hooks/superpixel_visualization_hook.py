"""Runner hook that draws the predicted superpixels during validation / testing."""
import os.path as osp
from typing import Optional, Sequence

import mmcv
import numpy as np
from mmengine.fileio import get
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from mmsp.visualization import (association_heatmap, draw_boundaries, make_panel, mean_color_image,
                                overlay_heatmap, save_rgb)

__all__ = ['SuperpixelVisualizationHook']


def _numpy(x):
    return x.detach().cpu().numpy() if hasattr(x, 'detach') else np.asarray(x)


@HOOKS.register_module()
class SuperpixelVisualizationHook(Hook):
    """Draw ``pred_superpixels`` of every ``interval``-th val/test batch (first sample).

    Each drawing is a panel: boundaries over the image, the mean-colour superpixel image, and -
    when the model also returns ``pred_association`` (e.g. ``SuperpixelPredictor(...,
    return_association=True)``) - the soft association of the superpixel under the image centre
    as a heat map. Panels go to ``runner.visualizer.add_image`` (``vis_data/vis_image`` with
    the local backend), or are written as PNGs to ``<work_dir>/<timestamp>/<out_dir>`` when
    ``out_dir`` is set.

    Args:
        draw (bool): enable drawing (off by default, like mmseg's ``SegVisualizationHook``).
        interval (int): draw every ``interval`` batches. Defaults to 50.
        out_dir (str, optional): write PNGs under the run folder instead of the visualizer.
        boundary_color (Sequence[int]): RGB colour of the boundaries.
        backend_args (dict, optional): file backend for reading images.
    """
    priority = 'NORMAL'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 out_dir: Optional[str] = None,
                 boundary_color: Sequence[int] = (255, 255, 0),
                 backend_args: Optional[dict] = None) -> None:
        if interval < 1:
            raise ValueError(f'SuperpixelVisualizationHook: interval must be >= 1, got {interval}')
        self.draw = draw
        self.interval = interval
        self.out_dir = out_dir
        self.boundary_color = tuple(boundary_color)
        self.backend_args = backend_args

    def render(self, sample) -> np.ndarray:
        """Panel (RGB uint8) of one ``SegDataSample`` that has ``pred_superpixels``."""
        ids = _numpy(sample.pred_superpixels.data)[0]
        img = mmcv.imfrombytes(
            get(sample.img_path, backend_args=self.backend_args), channel_order='rgb')
        if img.shape[:2] != ids.shape:
            raise ValueError(f'pred_superpixels {ids.shape} and image {img.shape[:2]} of '
                             f'{sample.img_path} differ in size')
        panels = [draw_boundaries(img, ids, self.boundary_color), mean_color_image(img, ids)]
        titles = [f'{len(np.unique(ids))} superpixels', 'mean colour']
        if 'pred_association' in sample:
            logits = _numpy(sample.pred_association.data)
            cell = int(sample.metainfo['association_cell_size'])
            rows, cols = -(-logits.shape[1] // cell), -(-logits.shape[2] // cell)
            heat = association_heatmap(logits, cell, superpixel=(rows // 2, cols // 2))
            panels.append(overlay_heatmap(img, heat))
            titles.append('association (centre)')
        return make_panel(panels, titles)

    def _visualize(self, runner, batch_idx: int, outputs, mode: str) -> None:
        if not self.draw or batch_idx % self.interval or not outputs:
            return
        sample = outputs[0]
        if 'pred_superpixels' not in sample:
            return
        panel = self.render(sample)
        name = f'{mode}_{osp.splitext(osp.basename(sample.img_path))[0]}_superpixels'
        if self.out_dir is not None:
            save_rgb(
                osp.join(runner.work_dir, runner.timestamp, self.out_dir, name + '.png'), panel)
        else:
            runner.visualizer.add_image(name, panel, step=runner.iter + batch_idx)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._visualize(runner, batch_idx, outputs, 'val')

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._visualize(runner, batch_idx, outputs, 'test')

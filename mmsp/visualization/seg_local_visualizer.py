"""MMSegmentation's local visualiser, with predicted superpixels (and groups) as extra panels."""
from typing import Optional, Sequence

import cv2
import mmcv
import numpy as np
from mmseg.registry import VISUALIZERS
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer

from .drawing import draw_boundaries, mean_color_image

__all__ = ['SuperpixelSegLocalVisualizer']


@VISUALIZERS.register_module()
class SuperpixelSegLocalVisualizer(SegLocalVisualizer):
    """``SegLocalVisualizer`` that also draws ``pred_superpixels`` when a prediction has them.

    For a data sample with ``pred_superpixels`` (every ``SPEncoderDecoder`` and superpixel model
    of mmsp) the drawing is ``[ground truth |] prediction | superpixel boundaries``, side by side
    at the image's size, followed by ``| groups`` (each group in its mean colour, with its
    boundaries) for the two-level models that also return ``pred_groups``
    (``HierSPEncoderDecoder``); samples without superpixels are drawn exactly as by
    ``SegLocalVisualizer``. ``tools/test.py --show-dir`` and ``MMSegInferencer`` use it when the
    config sets ``visualizer = dict(type='SuperpixelSegLocalVisualizer', ...)``.

    Args:
        name (str): the visualiser's instance name.
        boundary_color (Sequence[int]): RGB colour of the superpixel boundaries.
        **kwargs: the other arguments of ``SegLocalVisualizer`` (``vis_backends``,
            ``save_dir``, ``alpha``, ...).
    """

    def __init__(self,
                 name: str = 'visualizer',
                 boundary_color: Sequence[int] = (255, 255, 0),
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        if len(boundary_color) != 3:
            raise ValueError(f'boundary_color must be RGB (3 values), got {boundary_color!r}')
        self.boundary_color = tuple(int(c) for c in boundary_color)

    def _id_map(self, image: np.ndarray, data_sample: SegDataSample, field: str) -> np.ndarray:
        """The (H, W) id map of ``data_sample.<field>``, resized (nearest) to ``image``."""
        ids = data_sample.get(field).data
        ids = (ids.detach().cpu().numpy() if hasattr(ids, 'detach') else np.asarray(ids))[0]
        if ids.shape != image.shape[:2]:
            ids = cv2.resize(ids.astype(np.int32), (image.shape[1], image.shape[0]),
                             interpolation=cv2.INTER_NEAREST)
        return ids

    def draw_superpixels(self, image: np.ndarray, data_sample: SegDataSample) -> np.ndarray:
        """``image`` (H, W, 3) RGB uint8 with the boundaries of ``data_sample.pred_superpixels``.

        The id map is resized (nearest) to the image when their sizes differ.
        """
        return draw_boundaries(image, self._id_map(image, data_sample, 'pred_superpixels'),
                               self.boundary_color)

    def draw_groups(self, image: np.ndarray, data_sample: SegDataSample) -> np.ndarray:
        """Every group of ``data_sample.pred_groups`` in its mean colour over ``image`` (H, W, 3)
        RGB uint8, with the group boundaries."""
        ids = self._id_map(image, data_sample, 'pred_groups')
        return draw_boundaries(mean_color_image(image, ids), ids, self.boundary_color)

    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[SegDataSample] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0,
                       with_labels: Optional[bool] = True) -> None:
        """Draw ``[gt |] prediction | superpixels [| groups]`` (see the class docstring); the
        arguments are ``SegLocalVisualizer.add_datasample``'s."""
        if data_sample is None or not draw_pred or 'pred_superpixels' not in data_sample:
            return super().add_datasample(name, image, data_sample, draw_gt, draw_pred, show,
                                          wait_time, out_file, step, with_labels)
        classes = self.dataset_meta.get('classes', None)
        palette = self.dataset_meta.get('palette', None)
        panels = []
        for key, wanted in (('gt_sem_seg', draw_gt), ('pred_sem_seg', True)):
            if wanted and key in data_sample:
                if classes is None:
                    raise ValueError(f'SuperpixelSegLocalVisualizer: dataset_meta has no '
                                     f'classes to draw {key}')
                panels.append(
                    self._draw_sem_seg(image, data_sample.get(key), classes, palette,
                                       with_labels))
        panels.append(self.draw_superpixels(image, data_sample))
        if 'pred_groups' in data_sample:
            panels.append(self.draw_groups(image, data_sample))
        drawn = np.concatenate(panels, axis=1)
        self.set_image(drawn)  # what get_image() returns (MMSegInferencer reads it)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(mmcv.rgb2bgr(drawn), out_file)
        else:
            self.add_image(name, drawn, step)

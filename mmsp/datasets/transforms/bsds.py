"""BSDS500 human segmentations: loading all annotators, and packing them for evaluation."""
import io
from typing import Optional

import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS

__all__ = ['load_bsds_segmentations', 'LoadBSDSAnnotations', 'PackMultiAnnotationInputs']


def load_bsds_segmentations(path: str, backend_args: Optional[dict] = None) -> np.ndarray:
    """All human segmentations of one BSDS500 ``groundTruth/<split>/<id>.mat`` file.

    Returns:
        np.ndarray: (A, H, W) int64 region ids (1-based as stored), one map per annotator.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: the file is not a BSDS500 ground-truth file (no ``groundTruth`` cell with
            ``Segmentation`` fields of equal size).
    """
    from scipy.io import loadmat
    if not fileio.exists(path, backend_args=backend_args):
        raise FileNotFoundError(f'BSDS500 ground truth not found: {path}')
    try:
        mat = loadmat(io.BytesIO(fileio.get(path, backend_args=backend_args)))
        cells = mat['groundTruth'][0]
        segs = [np.asarray(c['Segmentation'][0, 0]) for c in cells]
    except Exception as err:
        raise ValueError(f'{path} is not a BSDS500 ground-truth file (expected a `groundTruth` '
                         f'cell array with `Segmentation` fields): {err}') from err
    if not segs or any(s.ndim != 2 or s.shape != segs[0].shape for s in segs):
        raise ValueError(f'{path}: annotations missing or of different sizes '
                         f'{[s.shape for s in segs]}')
    return np.stack(segs).astype(np.int64)


@TRANSFORMS.register_module()
class LoadBSDSAnnotations(BaseTransform):
    """Load BSDS500 human segmentations from ``results['seg_map_path']`` (a ``.mat`` file).

    ``results['annotation_index']`` (set by :class:`~mmsp.datasets.BSDS500Dataset`) selects one
    annotator (an int) or all of them (``None``):

    * one: ``gt_seg_map`` (H, W) int64, usable by every mmseg transform;
    * all: ``gt_seg_map`` is the first annotation (so geometric transforms that touch
      ``seg_fields`` still see a 2-D map) and ``gt_seg_maps`` holds all of them (A, H, W).
      Evaluate at the original size (no geometric transforms after this one) and pack with
      :class:`PackMultiAnnotationInputs`.

    Adds ``gt_seg_map`` to ``seg_fields``; ``num_annotations`` records A.

    Args:
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self, backend_args: Optional[dict] = None) -> None:
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        segs = load_bsds_segmentations(results['seg_map_path'], self.backend_args)
        index = results.get('annotation_index')
        if 'ori_shape' in results and tuple(results['ori_shape'][:2]) != segs.shape[1:]:
            raise ValueError(
                f'{results["seg_map_path"]}: annotations {segs.shape[1:]} do not match '
                f'the image {tuple(results["ori_shape"][:2])} ({results.get("img_path")})')
        results['num_annotations'] = len(segs)
        if index is None:
            results['gt_seg_map'] = segs[0]
            results['gt_seg_maps'] = segs
        else:
            if not 0 <= int(index) < len(segs):
                raise IndexError(f'{results["seg_map_path"]} has {len(segs)} annotations; '
                                 f'annotation_index={index} is out of range')
            results['gt_seg_map'] = segs[int(index)]
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(backend_args={self.backend_args})'


@TRANSFORMS.register_module()
class PackMultiAnnotationInputs(PackSegInputs):
    """``PackSegInputs`` that packs all annotations of a sample when ``gt_seg_maps`` is present.

    ``gt_sem_seg`` then holds (A, H, W) int64 (one channel per annotator), which
    :class:`~mmsp.evaluation.SuperpixelMetric` scores as A (image, annotation) pairs. Without
    ``gt_seg_maps`` it behaves exactly like ``PackSegInputs``. Only for evaluation: mmseg's
    losses and ``IoUMetric`` expect a single channel.
    """

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        if results.get('gt_seg_maps') is not None:
            maps = np.asarray(results['gt_seg_maps'])
            if maps.ndim != 3:
                raise ValueError(f'gt_seg_maps must be (A, H, W), got {maps.shape}')
            if 'gt_seg_map' in results and maps.shape[1:] != np.shape(results['gt_seg_map'])[-2:]:
                raise ValueError(f'gt_seg_maps {maps.shape} and gt_seg_map '
                                 f'{np.shape(results["gt_seg_map"])} differ in size (a geometric '
                                 'transform changed only one of them)')
            import torch
            packed['data_samples'].gt_sem_seg = PixelData(
                data=torch.from_numpy(maps.astype(np.int64)))
        return packed

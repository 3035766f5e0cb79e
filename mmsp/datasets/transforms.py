"""Transforms for the superpixel datasets (registered in ``mmseg.registry.TRANSFORMS``)."""
import copy
import io
import random
from typing import Dict, List, Optional, Sequence, Union

import mmengine.fileio as fileio
import numpy as np
import torch
from mmcv.transforms import BaseTransform, Compose
from mmcv.transforms.utils import cache_random_params
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS
from mmseg.structures import SegDataSample

__all__ = [
    'load_bsds_segmentations', 'LoadBSDSAnnotations', 'PackMultiAnnotationInputs', 'ClipTransform',
    'PackClipSegInputs'
]


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


@TRANSFORMS.register_module()
class ClipTransform(BaseTransform):
    """Run per-image transforms on every frame of a clip with the same random draw.

    The clip's ``img_path`` and ``seg_map_path`` are lists with one path per frame (as
    :class:`~mmsp.datasets.CamVidClipDataset` gives them); every other key is shared. Each frame
    runs through ``transforms`` (loading included) with its own paths and a copy of the shared
    keys, and all frames draw the same random parameters. The transforms run one after the
    other on all frames, inside mmcv's :func:`~mmcv.transforms.utils.cache_random_params` (a
    method decorated with ``cache_randomness``, e.g. the crop box of ``RandomCrop`` with its
    label-dependent retries or the decision of ``RandomFlip``, returns its first frame's draw
    for every frame), and every frame enters a transform with the NumPy and ``random``
    generator states the first frame entered it with (transforms that draw without the
    decorator, e.g. ``PhotoMetricDistortion``, draw the same numbers).

    Output: ``img`` (T, H, W, C) and, if loaded, ``gt_seg_map`` (T, H, W) stacked over the
    frames; every other key as the first frame left it, with the path lists kept.

    Args:
        transforms (Sequence[dict | callable]): the per-image pipeline.

    Raises:
        ValueError: frames that come out with different sizes (a transform that is not
            deterministic given the draw) or clip keys of the wrong length.
    """

    def __init__(self, transforms: Sequence[Union[dict, callable]]) -> None:
        self.transforms = Compose(
            [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in transforms])

    def transform(self, results: dict) -> dict:
        paths = results['img_path']
        if isinstance(paths, str) or not len(paths):
            raise ValueError(f'ClipTransform: img_path must list the frames of a clip, '
                             f'got {paths!r}')
        seg_paths = results.get('seg_map_path')
        if seg_paths is not None and len(seg_paths) != len(paths):
            raise ValueError(f'ClipTransform: {len(paths)} frames but {len(seg_paths)} '
                             f'annotations')
        shared = {k: v for k, v in results.items() if k not in ('img_path', 'seg_map_path')}
        frames: List[Optional[Dict]] = []
        for t, path in enumerate(paths):
            frame = copy.deepcopy(shared)
            frame['img_path'] = path
            if seg_paths is not None:
                frame['seg_map_path'] = seg_paths[t]
            frames.append(frame)
        with cache_random_params(self.transforms):
            for transform in self.transforms.transforms:
                # every frame starts this transform from the same generator states; the states
                # after the first frame carry on to the next transform
                before = np.random.get_state(), random.getstate()
                for t in range(len(frames)):
                    np.random.set_state(before[0])
                    random.setstate(before[1])
                    frames[t] = transform(frames[t])
                    if frames[t] is None:
                        return None
                    if t == 0:
                        after = np.random.get_state(), random.getstate()
                np.random.set_state(after[0])
                random.setstate(after[1])
        shapes = {f['img'].shape for f in frames}
        if len(shapes) > 1:
            raise ValueError(f'ClipTransform: the frames of {paths[0]} ... came out with '
                             f'different sizes {sorted(shapes)}')
        out = dict(frames[0])
        out['img_path'], out['seg_map_path'] = list(paths), seg_paths
        out['img'] = np.stack([f['img'] for f in frames])
        if 'gt_seg_map' in frames[0]:
            out['gt_seg_map'] = np.stack([f['gt_seg_map'] for f in frames])
        return out

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(transforms={self.transforms})'


@TRANSFORMS.register_module()
class PackClipSegInputs(PackSegInputs):
    """Pack a clip: ``inputs`` (C, T, H, W) and a ``SegDataSample`` with labels (T, H, W).

    The clip counterpart of ``PackSegInputs`` (mmaction2's ``NCTHW`` layout once batched by
    :class:`~mmsp.models.ClipSegDataPreprocessor`). ``gt_sem_seg`` holds the labels of every
    frame, int64, 255 (ignore) where unlabelled; the meta keys are those of ``PackSegInputs``
    plus ``frame_ids``, ``sequence`` and ``clip_len``; ``img_shape`` and ``ori_shape`` are the
    size of one frame.

    Args:
        meta_keys (Sequence[str]): meta keys copied when present.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                                             'pad_shape', 'scale_factor', 'flip',
                                             'flip_direction', 'reduce_zero_label', 'frame_ids',
                                             'sequence', 'clip_len')) -> None:
        super().__init__(meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        img = np.asarray(results['img'])
        if img.ndim != 4:
            raise ValueError(f'PackClipSegInputs: expected a clip (T, H, W, C) in results["img"] '
                             f'(from ClipTransform), got shape {img.shape}')
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(3, 0, 1, 2)))
        sample = SegDataSample()
        if 'gt_seg_map' in results:
            labels = np.asarray(results['gt_seg_map'])
            if labels.shape != img.shape[:3]:
                raise ValueError(f'PackClipSegInputs: labels {labels.shape} do not match the '
                                 f'clip {img.shape[:3]}')
            sample.gt_sem_seg = PixelData(data=torch.from_numpy(labels.astype(np.int64)))
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)

"""Clip transforms: per-image transforms with one random draw per clip, and clip packing."""
import copy
import random
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmcv.transforms import BaseTransform, Compose
from mmcv.transforms.utils import cache_random_params
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS
from mmseg.structures import SegDataSample

__all__ = ['ClipTransform', 'PackClipSegInputs']


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
    frame, int64, 255 (ignore) where unlabelled; as with ``PackSegInputs`` they may keep the
    original size when a test pipeline loads them after the resize (the metrics are then
    computed at the original size); the meta keys are those of ``PackSegInputs``
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
            if labels.ndim != 3 or labels.shape[0] != img.shape[0]:
                raise ValueError(f'PackClipSegInputs: labels {labels.shape} are not one map '
                                 f'per frame of the clip {img.shape[:3]}')
            sample.gt_sem_seg = PixelData(data=torch.from_numpy(labels.astype(np.int64)))
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)

"""Packing of extra label maps (e.g. a coarse level) next to ``gt_sem_seg``."""
from typing import Dict, Optional

import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS

__all__ = ['PackSegInputsWithMaps']


@TRANSFORMS.register_module()
class PackSegInputsWithMaps(PackSegInputs):
    """mmseg's ``PackSegInputs`` that also packs named extra label maps as ``PixelData``.

    For every ``results key -> field`` of ``extra_maps`` present in the results, the (H, W)
    map becomes ``data_sample.<field>`` (``PixelData``, (1, H, W) int64), like ``gt_seg_map``
    becomes ``gt_sem_seg``. Missing keys are skipped, as ``PackSegInputs`` skips a missing
    ``gt_seg_map`` (inference without labels).

    Args:
        extra_maps (dict[str, str], optional): results key -> data sample field. Defaults to
            ``{'gt_coarse_seg_map': 'gt_coarse_sem_seg'}`` (the output of
            :class:`~mmsp.datasets.transforms.MapLabels`).
        meta_keys (Sequence[str]): as ``PackSegInputs``.
    """

    def __init__(self, extra_maps: Optional[Dict[str, str]] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        extra_maps = dict(gt_coarse_seg_map='gt_coarse_sem_seg') if extra_maps is None \
            else dict(extra_maps)
        reserved = {'gt_sem_seg', 'gt_edge_map', 'gt_depth_map', 'seg_logits', 'pred_sem_seg'}
        clash = [f for f in extra_maps.values() if f in reserved]
        if clash:
            raise ValueError(f'PackSegInputsWithMaps: extra_maps fields {clash} are fields '
                             'that PackSegInputs or a model fills; choose other names')
        self.extra_maps = extra_maps

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        for key, field in self.extra_maps.items():
            if key not in results:
                continue
            seg = np.asarray(results[key])
            if seg.ndim != 2:
                raise ValueError(f'PackSegInputsWithMaps: {key!r} must be (H, W), got {seg.shape}')
            if 'gt_seg_map' in results and seg.shape != np.shape(results['gt_seg_map'])[-2:]:
                raise ValueError(f'PackSegInputsWithMaps: {key!r} {seg.shape} and gt_seg_map '
                                 f'{np.shape(results["gt_seg_map"])} differ in size (is {key!r} '
                                 'in seg_fields of the geometric transforms?)')
            packed['data_samples'].set_data(
                {field: PixelData(data=torch.from_numpy(seg[None].astype(np.int64)))})
        return packed

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(extra_maps={self.extra_maps}, '
                f'meta_keys={self.meta_keys})')

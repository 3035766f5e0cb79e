"""Load a second label map of the same image (e.g. object labels next to part labels)."""
import os.path as osp
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.fileio import get
from mmseg.registry import TRANSFORMS

__all__ = ['LoadExtraSegMap']


@TRANSFORMS.register_module()
class LoadExtraSegMap(BaseTransform):
    """Read another label map whose path is that of ``gt_seg_map`` with one folder replaced.

    Two-level datasets such as PartImageNet or Pascal-Part as LGFormer trains on them (Xie et
    al., arXiv 2409.01353, ECCV 2024) keep the part and the object annotation of an image in two
    parallel folders. With ``seg_map_path = <root>/<folder>/<name>.png`` the extra map is read
    from ``<root>/<replace[1]>/<name>.png`` (the last path component equal to ``replace[0]`` is
    swapped), stored under ``out_key`` (an (H, W) array, as ``gt_seg_map``) and added to
    ``seg_fields``, so geometric transforms treat it like ``gt_seg_map``. Pack it with
    :class:`~mmsp.datasets.transforms.PackSegInputsWithMaps`.

    Args:
        replace (tuple[str, str]): ``(folder of gt_seg_map, folder of the extra map)``.
        out_key (str): results key. Defaults to ``'gt_coarse_seg_map'``.
        reduce_zero_label (bool): as mmseg's ``LoadAnnotations``: label 0 becomes 255 and the
            others move down by one. Defaults to False.
        imdecode_backend (str): mmcv image decoding backend. Defaults to ``'pillow'``.

    Raises:
        KeyError: no ``seg_map_path`` in the results.
        ValueError: ``replace[0]`` is not a folder of ``seg_map_path``.
    """

    def __init__(self,
                 replace: tuple,
                 out_key: str = 'gt_coarse_seg_map',
                 reduce_zero_label: bool = False,
                 imdecode_backend: str = 'pillow') -> None:
        if len(replace) != 2 or not all(isinstance(v, str) and v for v in replace):
            raise ValueError(f'LoadExtraSegMap: replace must be two folder names, got {replace!r}')
        if out_key == 'gt_seg_map':
            raise ValueError('LoadExtraSegMap: out_key must differ from gt_seg_map')
        self.replace, self.out_key = tuple(replace), out_key
        self.reduce_zero_label, self.imdecode_backend = reduce_zero_label, imdecode_backend

    def extra_path(self, seg_map_path: str) -> str:
        """The extra map's path for a ``gt_seg_map`` path."""
        parts = osp.normpath(seg_map_path).split(osp.sep)
        hits = [i for i, p in enumerate(parts[:-1]) if p == self.replace[0]]
        if not hits:
            raise ValueError(f'LoadExtraSegMap: folder {self.replace[0]!r} is not in '
                             f'{seg_map_path!r}')
        parts[hits[-1]] = self.replace[1]
        return osp.sep.join(parts)

    def transform(self, results: dict) -> Optional[dict]:
        if 'seg_map_path' not in results:
            raise KeyError('LoadExtraSegMap: results have no seg_map_path (a segmentation '
                           'dataset with seg_map_path in data_prefix)')
        path = self.extra_path(results['seg_map_path'])
        seg = mmcv.imfrombytes(get(path), flag='unchanged',
                               backend=self.imdecode_backend).squeeze()
        if seg.ndim != 2:
            raise ValueError(f'LoadExtraSegMap: {path} is not a single-channel label map')
        if self.reduce_zero_label:
            seg = seg.astype(np.int64)
            seg[seg == 0] = 256
            seg = (seg - 1).clip(max=255).astype(np.uint8)
        results[self.out_key] = seg
        fields = results.setdefault('seg_fields', [])
        if self.out_key not in fields:
            fields.append(self.out_key)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(replace={self.replace}, out_key={self.out_key!r}, '
                f'reduce_zero_label={self.reduce_zero_label})')

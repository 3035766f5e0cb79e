"""Map a label map through a look-up table (e.g. fine classes to coarse categories)."""
from typing import Dict, Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

__all__ = ['MapLabels', 'lookup_table']

LUT = Union[Sequence[int], Dict[int, int]]


def lookup_table(lut: LUT, ignore_index: int, what: str = 'MapLabels') -> np.ndarray:
    """A look-up table as an int64 array; ``-1`` marks labels the table does not define.

    Args:
        lut (Sequence[int] | dict[int, int]): ``lut[i]`` is the new label of label ``i``. A
            sequence defines labels ``0 .. len - 1``; a dict only the labels it lists. New
            labels are ``>= 0``; ``ignore_index`` maps a label to ignore.
        ignore_index (int): the ignore label.
        what (str): name used in error messages.

    Returns:
        np.ndarray: (L,) int64, ``L`` = one more than the largest label defined.
    """
    if isinstance(lut, dict):
        items = [(int(k), int(v)) for k, v in lut.items()]
    elif isinstance(lut, (list, tuple, np.ndarray)):
        items = [(i, int(v)) for i, v in enumerate(lut)]
    else:
        raise TypeError(f'{what}: lut must be a sequence or a dict of ints, got {type(lut)}')
    if not items:
        raise ValueError(f'{what}: lut is empty')
    bad = [(k, v) for k, v in items if k < 0 or (v < 0 and v != ignore_index)]
    if bad:
        raise ValueError(f'{what}: lut entries must map labels >= 0 to labels >= 0 or to '
                         f'ignore_index {ignore_index}; got {bad}')
    table = np.full(max(k for k, _ in items) + 1, -1, np.int64)
    for k, v in items:
        table[k] = v
    return table


@TRANSFORMS.register_module()
class MapLabels(BaseTransform):
    """Add a label map derived from another one through a look-up table.

    ``results[out_key][p] = lut[results[in_key][p]]``, with ``ignore_index`` kept as is. This
    gives the object-level (coarse) labels of a two-level model from its part-level (fine) ones,
    as LGFormer supervises parts and objects (Xie et al., arXiv 2409.01353, ECCV 2024), e.g. the
    CamVid classes to 7 categories with :data:`mmsp.datasets.CAMVID_FINE_TO_COARSE`.

    ``out_key`` is added to ``seg_fields``, so geometric transforms placed after this one (crop,
    flip, resize) treat it like ``gt_seg_map``. Pack it with
    :class:`~mmsp.datasets.transforms.PackSegInputsWithMaps`.

    Args:
        lut (Sequence[int] | dict[int, int]): new label of every label (see
            :func:`lookup_table`).
        in_key (str): results key of the source map. Defaults to ``'gt_seg_map'``.
        out_key (str): results key of the new map. Defaults to ``'gt_coarse_seg_map'``.
        ignore_index (int): label kept as ignore. Defaults to 255.

    Raises:
        ValueError: at transform time, a label that is neither ``ignore_index`` nor defined by
            the table (the message names the labels and the annotation file).
    """

    def __init__(self,
                 lut: LUT,
                 in_key: str = 'gt_seg_map',
                 out_key: str = 'gt_coarse_seg_map',
                 ignore_index: int = 255) -> None:
        if in_key == out_key:
            raise ValueError(f'MapLabels: out_key must differ from in_key ({in_key!r})')
        self.table = lookup_table(lut, ignore_index)
        self.in_key = in_key
        self.out_key = out_key
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        if self.in_key not in results:
            raise KeyError(f'MapLabels: results have no {self.in_key!r} (load the annotation '
                           'first, e.g. with LoadAnnotations)')
        labels = np.asarray(results[self.in_key])
        valid = labels != self.ignore_index
        values = labels[valid].astype(np.int64)
        known = (values >= 0) & (values < len(self.table))
        known[known] = self.table[values[known]] >= 0
        if not known.all():
            raise ValueError(
                f'MapLabels: labels {np.unique(values[~known]).tolist()} of {self.in_key!r} '
                f'({results.get("seg_map_path", "<no seg_map_path>")}) are not in the look-up '
                f'table (labels {np.flatnonzero(self.table >= 0).tolist()}) and are not '
                f'ignore_index {self.ignore_index}')
        top = max(int(self.table.max()), self.ignore_index)
        dtype = labels.dtype if np.can_cast(np.min_scalar_type(top), labels.dtype) else np.int64
        out = np.full(labels.shape, self.ignore_index, dtype)
        out[valid] = self.table[values]
        results[self.out_key] = out
        fields = results.setdefault('seg_fields', [])
        if self.out_key not in fields:
            fields.append(self.out_key)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(lut={self.table.tolist()}, in_key={self.in_key!r}, '
                f'out_key={self.out_key!r}, ignore_index={self.ignore_index})')

"""CamVid road scenes (SegNet release): 11 classes plus ``Unlabelled`` (mapped to ignore)."""
import os.path as osp
from typing import Dict, List, Optional

import mmengine
import mmengine.fileio as fileio
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .checks import NameFilesOnErrorMixin, check_seg_pair

__all__ = ['CamVidDataset', 'list_seg_pairs', 'CAMVID_COARSE_CLASSES', 'CAMVID_FINE_TO_COARSE']

#: Seven of the Cityscapes class categories (Cordts et al., CVPR 2016, arXiv 1604.01685), the
#: coarse level of the CamVid classes.
CAMVID_COARSE_CLASSES = ('flat', 'construction', 'object', 'nature', 'sky', 'human', 'vehicle')

#: Coarse category of every raw CamVid id (``CamVidDataset.METAINFO['classes']`` order):
#: Sky -> sky; Building, Fence -> construction; Pole, SignSymbol -> object; Road, Pavement ->
#: flat; Tree -> nature; Car -> vehicle; Pedestrian, Bicyclist -> human; Unlabelled (id 11,
#: which the dataset already maps to 255) -> 255. For :class:`~mmsp.datasets.transforms.MapLabels`.
CAMVID_FINE_TO_COARSE = (4, 1, 2, 0, 0, 3, 2, 1, 6, 5, 5, 255)


def list_seg_pairs(img_dir: str,
                   ann_dir: Optional[str],
                   img_suffix: str,
                   seg_map_suffix: str,
                   ann_file: str = '',
                   backend_args: Optional[dict] = None) -> List[Dict[str, str]]:
    """(image, annotation) path pairs, from a split file of stems or by scanning ``img_dir``.

    Args:
        img_dir (str): image folder.
        ann_dir (str, optional): annotation folder; ``None`` for images only.
        img_suffix (str): image file ending, e.g. ``'.jpg'``.
        seg_map_suffix (str): annotation file ending, e.g. ``'.png'``.
        ann_file (str): optional text file, one stem (path relative to ``img_dir`` without the
            suffix) per line. Empty: every ``*img_suffix`` file under ``img_dir`` (recursive).
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        list[dict]: ``img_path`` (and ``seg_map_path``) per sample, sorted by image path.
    """
    if ann_file:
        if not fileio.exists(ann_file, backend_args=backend_args):
            raise FileNotFoundError(f'split file (ann_file) not found: {ann_file}')
        stems = [s.strip() for s in mmengine.list_from_file(ann_file, backend_args=backend_args)]
        stems = [s for s in stems if s]
    else:
        if not osp.isdir(img_dir) and backend_args is None:
            raise FileNotFoundError(f'image folder not found: {img_dir}')
        stems = [
            f[:-len(img_suffix)] for f in fileio.list_dir_or_file(
                dir_path=img_dir,
                list_dir=False,
                suffix=img_suffix,
                recursive=True,
                backend_args=backend_args)
        ]
    pairs = []
    for stem in sorted(stems):
        info = dict(img_path=osp.join(img_dir, stem + img_suffix))
        if ann_dir is not None:
            info['seg_map_path'] = osp.join(ann_dir, stem + seg_map_suffix)
        pairs.append(info)
    return pairs


@DATASETS.register_module()
class CamVidDataset(NameFilesOnErrorMixin, BaseSegDataset):
    """CamVid (SegNet release, 480x360): 11 classes, ``Unlabelled`` (id 11) mapped to ignore.

    Folder layout (``../shared/data/camvid`` in this project)::

        camvid/
        ├── images/{train,val}/<stem>.jpg
        └── labels/{train,val}/<stem>.png   # 8-bit ids 0..10, 11 = Unlabelled

    Use ``data_prefix=dict(img_path='images/train', seg_map_path='labels/train')``.

    Label handling: every annotation passes through a ``label_map`` that sends id 11
    (``Unlabelled``) to ``ignore_index`` (255 by default); mmseg's ``LoadAnnotations`` applies
    it. A class subset given through ``metainfo=dict(classes=...)`` is composed with that map
    (dropped classes go to 255, as in mmseg).

    Checks at construction (``check_files=True``, local files only; reads image headers, not
    pixels): a missing image or annotation raises ``FileNotFoundError`` naming the file; an
    annotation whose size differs from its image, or a colour-coded (RGB) annotation, raises
    ``ValueError`` naming both files. Grey-scale, palette and RGBA photographs are accepted:
    ``LoadImageFromFile`` (default ``color_type='color'``) returns 3-channel BGR for them (grey
    replicated, alpha dropped).

    Args:
        img_suffix (str): image ending. Defaults to ``'.jpg'``.
        seg_map_suffix (str): annotation ending. Defaults to ``'.png'``.
        check_files (bool): run the file checks above. Defaults to True.
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` arguments (``data_root``,
            ``data_prefix``, ``ann_file`` with one stem per line, ``pipeline``, ...).
    """
    METAINFO = dict(
        classes=('Sky', 'Building', 'Pole', 'Road', 'Pavement', 'Tree', 'SignSymbol', 'Fence',
                 'Car', 'Pedestrian', 'Bicyclist'),
        palette=[[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222],
                 [128, 128, 0], [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0],
                 [0, 128, 192]])
    #: Raw annotation id of ``Unlabelled``.
    UNLABELLED_ID = 11

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 check_files: bool = True,
                 **kwargs) -> None:
        self.check_files = check_files
        if kwargs.get('reduce_zero_label', False):
            raise ValueError('CamVidDataset: reduce_zero_label must be False (id 0 is Sky, a '
                             'real class; Unlabelled is id 11)')
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    def _full_label_map(self) -> Dict[int, int]:
        """The class-subset map of mmseg (if any) plus ``Unlabelled -> ignore_index``."""
        label_map = dict(self.label_map or {})
        label_map[self.UNLABELLED_ID] = self.ignore_index
        return label_map

    def load_data_list(self) -> List[dict]:
        """List the (image, annotation) pairs, check them and attach the label map.

        Returns:
            list[dict]: ``img_path``, ``seg_map_path``, ``label_map``, ``reduce_zero_label``
            and ``seg_fields`` per sample.
        """
        label_map = self._full_label_map()
        self._metainfo['label_map'] = label_map
        ann_dir = self.data_prefix.get('seg_map_path', None)
        pairs = list_seg_pairs(
            self.data_prefix.get('img_path', ''), ann_dir or None, self.img_suffix,
            self.seg_map_suffix, self.ann_file, self.backend_args)
        data_list = []
        for info in pairs:
            if self.check_files and self.backend_args is None:
                check_seg_pair(info['img_path'], info.get('seg_map_path'))
            info.update(label_map=label_map, reduce_zero_label=False, seg_fields=[])
            data_list.append(info)
        return data_list

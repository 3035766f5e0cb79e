"""BSDS500 (Berkeley Segmentation Dataset): natural images with 4-9 human segmentations each."""
import os.path as osp
from typing import List

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .camvid import list_seg_pairs
from .checks import NameFilesOnErrorMixin, image_header
from .transforms import load_bsds_segmentations

__all__ = ['BSDS500Dataset']

ANNOTATION_MODES = ('all', 'each')


@DATASETS.register_module()
class BSDS500Dataset(NameFilesOnErrorMixin, BaseSegDataset):
    """BSDS500 (BSR release) for superpixel evaluation.

    Folder layout (``../shared/data/bsds500`` here; train 200, val 100, test 200 images)::

        bsds500/
        ├── images/{train,val,test}/<id>.jpg          # 481x321 or 321x481
        └── groundTruth/{train,val,test}/<id>.mat     # cell `groundTruth`, 4-9 annotators,
                                                      # each with `Segmentation` (uint16, 1-based)

    Use ``data_prefix=dict(img_path='images/val', seg_map_path='groundTruth/val')`` and the
    pipeline ``LoadImageFromFile -> LoadBSDSAnnotations -> PackMultiAnnotationInputs``.

    Annotators (``annotation_mode``):

    * ``'all'`` (default): one sample per image whose ``gt_sem_seg`` stacks every annotator
      (A, H, W). The superpixels are computed once per image and
      :class:`~mmsp.evaluation.SuperpixelMetric` averages its ground-truth scores over the
      (image, annotation) pairs - the SEAL convention (Tu et al., CVPR 2018).
    * ``'each'``: one sample per (image, annotation) pair with a single-channel ground truth
      (usable by any mmseg pipeline); the same pair average, but a method runs A times per image
      (EV, CO and the count are then weighted by A).

    The ids are region (instance) ids, not classes: evaluate with
    ``SuperpixelMetric(miou_mode='image', ignore_index=None)``. ``classes`` is the single
    placeholder ``('segment',)`` because mmseg requires a class list in test mode.

    Args:
        annotation_mode (str): ``'all'`` or ``'each'``. Defaults to ``'all'``.
        img_suffix (str): defaults to ``'.jpg'``.
        seg_map_suffix (str): defaults to ``'.mat'``.
        check_files (bool): check at construction that every image has its ``.mat`` file
            (``'each'`` mode also reads every ``.mat`` to count the annotators). Defaults to True.
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` arguments.
    """
    METAINFO = dict(classes=('segment', ), palette=[[255, 255, 255]])

    def __init__(self,
                 annotation_mode: str = 'all',
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.mat',
                 check_files: bool = True,
                 **kwargs) -> None:
        if annotation_mode not in ANNOTATION_MODES:
            raise ValueError(f'BSDS500Dataset: annotation_mode must be one of {ANNOTATION_MODES}, '
                             f'got {annotation_mode!r}')
        self.annotation_mode = annotation_mode
        self.check_files = check_files
        kwargs.setdefault('reduce_zero_label', False)
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    def load_data_list(self) -> List[dict]:
        """One entry per image (``'all'``) or per (image, annotation) (``'each'``).

        Returns:
            list[dict]: ``img_path``, ``seg_map_path``, ``annotation_index`` (None or int),
            ``label_map`` (None), ``reduce_zero_label`` and ``seg_fields``.
        """
        ann_dir = self.data_prefix.get('seg_map_path', None) or None
        pairs = list_seg_pairs(
            self.data_prefix.get('img_path', ''), ann_dir, self.img_suffix, self.seg_map_suffix,
            self.ann_file, self.backend_args)
        data_list = []
        local = self.backend_args is None
        for info in pairs:
            seg = info.get('seg_map_path')
            if self.check_files and local:
                image_header(info['img_path'])
                if seg is not None and not osp.isfile(seg):
                    raise FileNotFoundError(f'BSDS500 ground truth not found for image '
                                            f'{info["img_path"]}: {seg}')
            base = dict(info, label_map=None, reduce_zero_label=False, seg_fields=[])
            if self.annotation_mode == 'all' or seg is None:
                data_list.append(dict(base, annotation_index=None))
                continue
            num = len(load_bsds_segmentations(seg, self.backend_args))
            data_list.extend(dict(base, annotation_index=k) for k in range(num))
        return data_list

"""Pascal-Parts-58: the 58-class part labelling of Pascal-Part (GMNet, Michieli et al. 2020)."""
from typing import List

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .camvid import list_seg_pairs
from .checks import CheckLabelValuesMixin, NameFilesOnErrorMixin, check_seg_pair

__all__ = ['PascalParts58Dataset', 'voc_colormap']


def voc_colormap(num: int) -> List[List[int]]:
    """The Pascal VOC colour map (bit-interleaved RGB) for ``num`` labels."""
    palette = []
    for label in range(num):
        r = g = b = 0
        c = label
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette.append([r, g, b])
    return palette


@DATASETS.register_module()
class PascalParts58Dataset(NameFilesOnErrorMixin, CheckLabelValuesMixin,
                           BaseSegDataset):
    """Pascal-Parts-58: 57 object parts plus background on Pascal VOC 2010 images.

    Users bring the data (it is not redistributed here); the expected layout is::

        pascal_parts58/
        ├── JPEGImages/<id>.jpg
        ├── SegmentationPart58/<id>.png   # 8-bit single channel: 0 background, 1..57 parts,
        │                                 # 255 void (palette PNGs are read as indices)
        └── ImageSets/{train,val}.txt     # one <id> per line

    with ``data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationPart58')`` and
    ``ann_file='ImageSets/val.txt'`` (see ``configs/_base_/datasets/pascal_parts58.py``). The
    58-label version and its benchmark split (4,998 train / 5,105 test images) come from the GMNet
    release; the class names below follow that release's label ids (verify them against your
    label files: a wrong order mislabels per-class results but changes neither the painting nor
    ``sp_mIoU``/``sp_mAcc``, which only use the ids). Which split SPFormer used is not stated
    in arXiv 2401.02931; the val config uses ``ImageSets/val.txt``.

    Checks at construction (``check_files=True``, local files; headers only): missing files,
    colour-coded annotations, 16-bit annotations with values above 255, image/annotation size
    mismatches and an empty split raise errors naming the files. After the pipeline, labels
    other than class indices and ``ignore_index`` raise an error naming the annotation file
    (:class:`~mmsp.datasets.checks.CheckLabelValuesMixin`).

    Args:
        img_suffix (str): defaults to ``'.jpg'``.
        seg_map_suffix (str): defaults to ``'.png'``.
        check_files (bool): defaults to True.
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` arguments.
    """
    METAINFO = dict(
        classes=('background', 'aeroplane_body', 'aeroplane_engine', 'aeroplane_wing',
                 'aeroplane_stern', 'aeroplane_wheel', 'bicycle_wheel', 'bicycle_body', 'bird_head',
                 'bird_wing', 'bird_leg', 'bird_torso', 'boat', 'bottle_cap', 'bottle_body',
                 'bus_window', 'bus_wheel', 'bus_body', 'car_window', 'car_wheel', 'car_light',
                 'car_plate', 'car_body', 'cat_head', 'cat_leg', 'cat_tail', 'cat_torso', 'chair',
                 'cow_head', 'cow_tail', 'cow_leg', 'cow_torso', 'dining_table', 'dog_head',
                 'dog_leg', 'dog_tail', 'dog_torso', 'horse_head', 'horse_tail', 'horse_leg',
                 'horse_torso', 'motorbike_wheel', 'motorbike_body', 'person_head', 'person_torso',
                 'person_lower_arm', 'person_upper_arm', 'person_lower_leg', 'person_upper_leg',
                 'pottedplant_pot', 'pottedplant_plant', 'sheep_head', 'sheep_leg', 'sheep_torso',
                 'sofa', 'train', 'tvmonitor_screen', 'tvmonitor_frame'),
        palette=voc_colormap(58))

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 check_files: bool = True,
                 **kwargs) -> None:
        self.check_files = check_files
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    def load_data_list(self) -> List[dict]:
        """(image, annotation) pairs from ``ann_file`` (or a folder scan), checked."""
        ann_dir = self.data_prefix.get('seg_map_path', None) or None
        pairs = list_seg_pairs(
            self.data_prefix.get('img_path', ''), ann_dir, self.img_suffix, self.seg_map_suffix,
            self.ann_file, self.backend_args)
        data_list = []
        for info in pairs:
            if self.check_files and self.backend_args is None:
                check_seg_pair(info['img_path'], info.get('seg_map_path'))
            info.update(
                label_map=self.label_map, reduce_zero_label=self.reduce_zero_label, seg_fields=[])
            data_list.append(info)
        return data_list

"""Datasets and loading transforms registered in ``mmseg.registry`` (DATASETS, TRANSFORMS)."""
from .bsds500 import BSDS500Dataset
from .camvid import CamVidClipDataset, CamVidDataset, list_seg_pairs, parse_frame_stem
from .checks import check_seg_pair, image_header
from .pascal_parts58 import PascalParts58Dataset, voc_colormap
from .transforms import (ClipTransform, LoadBSDSAnnotations, PackClipSegInputs,
                         PackMultiAnnotationInputs, load_bsds_segmentations)

__all__ = [
    'CamVidDataset', 'CamVidClipDataset', 'parse_frame_stem', 'ClipTransform', 'PackClipSegInputs',
    'BSDS500Dataset', 'PascalParts58Dataset', 'LoadBSDSAnnotations',
    'PackMultiAnnotationInputs', 'load_bsds_segmentations', 'list_seg_pairs', 'check_seg_pair',
    'image_header', 'voc_colormap'
]

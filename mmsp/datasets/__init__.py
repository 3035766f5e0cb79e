"""Datasets and transforms registered in ``mmseg.registry`` (DATASETS, TRANSFORMS), label
tables and synthetic clips."""
from .bsds500 import BSDS500Dataset
from .camvid import CAMVID_COARSE_CLASSES, CAMVID_FINE_TO_COARSE, CamVidDataset, list_seg_pairs
from .checks import check_seg_pair, image_header
from .pascal_parts58 import PascalParts58Dataset, voc_colormap
from .synthetic import SHAPE_CLASSES, MovingShapes, make_moving_shapes
from .transforms import (LoadBSDSAnnotations, MapLabels, PackMultiAnnotationInputs,
                         PackSegInputsWithMaps, load_bsds_segmentations)

__all__ = [
    'CamVidDataset', 'BSDS500Dataset', 'PascalParts58Dataset', 'LoadBSDSAnnotations',
    'PackMultiAnnotationInputs', 'load_bsds_segmentations', 'list_seg_pairs', 'check_seg_pair',
    'image_header', 'voc_colormap', 'MapLabels', 'PackSegInputsWithMaps', 'CAMVID_COARSE_CLASSES',
    'CAMVID_FINE_TO_COARSE', 'make_moving_shapes', 'MovingShapes', 'SHAPE_CLASSES'
]

"""Data transforms registered in ``mmseg.registry.TRANSFORMS``."""
from .bsds import LoadBSDSAnnotations, PackMultiAnnotationInputs, load_bsds_segmentations
from .clip import ClipTransform, PackClipSegInputs
from .formatting import PackSegInputsWithMaps
from .load_extra import LoadExtraSegMap
from .map_labels import MapLabels, lookup_table

__all__ = [
    'load_bsds_segmentations', 'LoadBSDSAnnotations', 'PackMultiAnnotationInputs', 'MapLabels',
    'lookup_table', 'PackSegInputsWithMaps', 'ClipTransform', 'PackClipSegInputs',
    'LoadExtraSegMap'
]

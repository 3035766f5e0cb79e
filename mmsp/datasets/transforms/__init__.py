"""Data transforms registered in ``mmseg.registry.TRANSFORMS``."""
from .bsds import LoadBSDSAnnotations, PackMultiAnnotationInputs, load_bsds_segmentations

__all__ = ['load_bsds_segmentations', 'LoadBSDSAnnotations', 'PackMultiAnnotationInputs']

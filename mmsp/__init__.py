"""mmsp: superpixel vision transformers for OpenMMLab.

Importing this package registers every mmsp module in the MMSegmentation registries
(``mmseg.registry.MODELS``, ``METRICS``, ``DATASETS``, ``TRANSFORMS``, ``HOOKS``) and the
allow-listed checkpoint loader (see :mod:`mmsp.utils.checkpoint`).
"""
from .version import __version__
from . import ops  # noqa: E402,F401  (pure torch; no registration)
from . import utils  # noqa: E402,F401
from . import models  # noqa: E402,F401
from . import datasets  # noqa: E402,F401
from . import evaluation  # noqa: E402,F401
from . import engine  # noqa: E402,F401
from . import visualization  # noqa: E402,F401

__all__ = ['__version__']

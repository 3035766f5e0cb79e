from .backbones import *  # noqa: F401,F403
from .data_preprocessor import ClipSegDataPreprocessor  # noqa: F401
from .decode_heads import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403
from .superpixel_predictors import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403

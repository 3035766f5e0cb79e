"""Infrastructure shared by the mmsp tools and tests.

Importing this package (which ``import mmsp`` does first) registers the safe local checkpoint
loader (:func:`~mmsp.utils.checkpoint.register_safe_checkpoint_loader`) and the CPU bf16
optimizer wrapper used by ``tools/train.py --amp`` on machines without a GPU.
"""
from .checkpoint import (UnsafeCheckpointError, allow_checkpoint_globals, checkpoint_safe_globals,
                         find_unsafe_globals, load_from_local_safe,
                         register_safe_checkpoint_loader)
from .cpu_amp import CPUAmpOptimWrapper
from .flops import MultiplyAdds, count_multiply_adds, sdpa_flop_jit
from .run_config import (CONFIG_FAMILIES, build_model_from_config, config_family, enable_amp,
                         finish_distributed, method_names, prepare_cpu_distributed)
from .tiny_dataset import make_tiny_camvid, make_tiny_image_folder

register_safe_checkpoint_loader()

__all__ = [
    'UnsafeCheckpointError', 'allow_checkpoint_globals', 'checkpoint_safe_globals',
    'find_unsafe_globals', 'load_from_local_safe', 'register_safe_checkpoint_loader',
    'CPUAmpOptimWrapper', 'MultiplyAdds', 'count_multiply_adds', 'sdpa_flop_jit',
    'CONFIG_FAMILIES', 'build_model_from_config', 'config_family', 'enable_amp',
    'finish_distributed', 'method_names', 'prepare_cpu_distributed', 'make_tiny_camvid',
    'make_tiny_image_folder'
]

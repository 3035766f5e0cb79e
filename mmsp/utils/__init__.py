"""Infrastructure shared by the mmsp tools and tests.

Importing this package (which ``import mmsp`` does first) registers the safe local checkpoint
loader (:func:`~mmsp.utils.checkpoint.register_safe_checkpoint_loader`) and the CPU bf16
optimizer wrapper used by ``tools/train.py --amp`` on machines without a GPU.
"""
from .checkpoint import (CheckpointMismatchError, NotACheckpointError, UnsafeCheckpointError,
                         allow_checkpoint_globals, check_checkpoint_file, checkpoint_safe_globals,
                         find_unsafe_globals, load_from_local_safe, load_model_checkpoint,
                         load_state_dict_checked, register_safe_checkpoint_loader, state_dict_of)
from .cli import add_method_argument, add_non_strict_argument
from .cpu_amp import CPUAmpOptimWrapper
from .flops import MultiplyAdds, count_multiply_adds, sdpa_flop_jit
from .files import atomic_write, write_text_atomically
from .run_config import (CONFIG_FAMILIES, add_checked_load_hook, build_model_from_config,
                         check_work_dir, checkpoints_in, config_family, enable_amp,
                         finish_distributed, method_names, prepare_cpu_distributed,
                         use_atomic_checkpoint_hook)
from .tiny_dataset import make_tiny_camvid, make_tiny_image_folder

register_safe_checkpoint_loader()

__all__ = [
    'UnsafeCheckpointError', 'NotACheckpointError', 'CheckpointMismatchError',
    'allow_checkpoint_globals', 'check_checkpoint_file', 'checkpoint_safe_globals',
    'find_unsafe_globals', 'load_from_local_safe', 'register_safe_checkpoint_loader',
    'state_dict_of', 'load_state_dict_checked', 'load_model_checkpoint',
    'CPUAmpOptimWrapper', 'MultiplyAdds', 'count_multiply_adds', 'sdpa_flop_jit',
    'CONFIG_FAMILIES', 'build_model_from_config', 'config_family', 'enable_amp',
    'finish_distributed', 'method_names', 'prepare_cpu_distributed', 'add_checked_load_hook',
    'use_atomic_checkpoint_hook', 'checkpoints_in', 'check_work_dir', 'atomic_write',
    'write_text_atomically', 'make_tiny_camvid',
    'make_tiny_image_folder', 'add_method_argument', 'add_non_strict_argument'
]

"""Export of mmsp models (ONNX through ``torch.export``) and the checks that they stay right.

See ``docs/user_guides/deployment.md`` and ``tools/deployment/pytorch2onnx.py``.
"""
from .onnx_export import (ExportSizeError, TensorModeWrapper, check_traced_sizes, export_onnx,
                          export_program, measure_latency, verify_onnx)

__all__ = [
    'ExportSizeError', 'TensorModeWrapper', 'check_traced_sizes', 'export_onnx',
    'export_program', 'measure_latency', 'verify_onnx'
]

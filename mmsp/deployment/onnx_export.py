"""ONNX export through ``torch.export`` and its verification with ONNX Runtime.

mmsp models export with ``torch.onnx.export(..., dynamo=True)`` (the ``torch.export`` tracer):
input sizes stay symbolic, so one ONNX model serves every input size in the range that
``torch.export`` derives. Three things are checked rather than trusted:

* after ``torch.export``, that the height and width of the input really stayed symbolic
  (:func:`export_program` raises :class:`ExportSizeError` when the model specialised them);
* after ONNX conversion, that ONNX Runtime gives PyTorch's outputs (shape, values, no NaN) at
  the export size and at other sizes (:func:`verify_onnx`);
* for ``torch.jit.trace``, which bakes every size into the graph, that a traced module run at
  another size gives PyTorch's output shapes (:func:`check_traced_sizes`).

The model is exported in its paper form (:func:`mmsp.ops.fast.paper_form`) unless ``fast`` is
asked for.
"""
import contextlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from mmsp.ops.fast import paper_form

__all__ = [
    'ExportSizeError', 'TensorModeWrapper', 'export_program', 'export_onnx', 'verify_onnx',
    'check_traced_sizes', 'measure_latency'
]


class ExportSizeError(RuntimeError):
    """An exported or traced model does not give PyTorch's answer at some input size."""


class TensorModeWrapper(nn.Module):
    """A model as a function of one image batch (B, 3, H, W) to a tuple of tensors.

    OpenMMLab models (``BaseModel``: segmentors, classifiers) run ``model(x, mode='tensor')``:
    for a segmentor the decode head's logits (B, K, H', W') before resizing to the image, for a
    classifier the class scores. Other modules (a bare backbone) run ``model(x)``. Nested
    tuples/lists of outputs are flattened.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        from mmengine.model import BaseModel
        if isinstance(self.model, BaseModel):
            out = self.model(inputs, mode='tensor')
        else:
            out = self.model(inputs)
        return tuple(_flatten(out))


def _flatten(out: Any) -> List[Tensor]:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten(o)]
    raise TypeError(f'TensorModeWrapper: the model returned a {type(out).__name__}; expected '
                    'tensors or (nested) tuples/lists of tensors')


def _form(model: nn.Module, fast: bool):
    return contextlib.nullcontext(model) if fast else paper_form(model)


def export_program(model: nn.Module,
                   shape: Sequence[int],
                   dynamic: bool = False,
                   batch_size: int = 1,
                   fast: bool = False) -> torch.export.ExportedProgram:
    """``torch.export.export`` of ``model`` on a (B, 3, H, W) input, sizes checked.

    Args:
        model (nn.Module): a module taking one image batch (e.g. :class:`TensorModeWrapper`),
            in eval mode.
        shape (Sequence[int]): ``(H, W)`` of the example input.
        dynamic (bool): keep height and width symbolic (``torch.export.Dim.DYNAMIC``).
        batch_size (int): batch of the example input (the batch dimension is static).
        fast (bool): export the fast path (``mmsp.ops.fast``) instead of the paper form.

    Returns:
        ExportedProgram: the traced program.

    Raises:
        ExportSizeError: ``dynamic`` but the model fixed the height or width while tracing.
    """
    height, width = (int(v) for v in shape)
    example = torch.randn(batch_size, 3, height, width)
    dims = ({2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC}, ) if dynamic else None
    with _form(model, fast), torch.no_grad():
        try:
            program = torch.export.export(model, (example, ), dynamic_shapes=dims)
        except Exception as err:  # torch.export names the guard that fixed a size
            if not dynamic:
                raise
            raise ExportSizeError(
                f'export_program: the model does not export with a dynamic height/width '
                f'({type(err).__name__}: {err}). Export at a fixed size (no --dynamic); the '
                f'model then accepts only {height}x{width} inputs.') from err
    if dynamic:
        symbolic = input_size_ranges(program)
        fixed = [name for name, rng in symbolic.items() if rng is None]
        if fixed:
            raise ExportSizeError(
                f'export_program: torch.export fixed the input {" and ".join(fixed)} to the '
                f'example size {height}x{width}; this model cannot be exported with dynamic '
                'sizes. Export at a fixed size (no --dynamic).')
        # a finite upper bound means a branch on the input size was taken while tracing: the
        # graph is only right inside the range, and ONNX does not check ranges
        bounded = {name: rng for name, rng in symbolic.items() if rng[1] != float('inf')}
        if bounded:
            raise ExportSizeError(
                f'export_program: while tracing, the model branched on the input size, which '
                f'limits the exported graph to {bounded} (inclusive ranges); ONNX does not '
                'check input ranges. Export at a fixed size (no --dynamic), or remove the '
                'size-dependent branch.')
    return program


def input_size_ranges(program: torch.export.ExportedProgram
                      ) -> Dict[str, Optional[Tuple[int, Any]]]:
    """``{'height': (min, max), 'width': (min, max)}`` of the program's image input.

    ``None`` for a dimension that is a plain int (specialised); ``max`` may be ``inf``.
    """
    placeholders = [n for n in program.graph.nodes if n.op == 'placeholder']
    user_inputs = program.graph_signature.user_inputs
    node = next(n for n in placeholders if n.name == user_inputs[0])
    out: Dict[str, Optional[Tuple[int, Any]]] = {}
    for name, size in zip(('height', 'width'), node.meta['val'].shape[2:]):
        if isinstance(size, int):
            out[name] = None
            continue
        expr = size.node.expr
        rng = program.range_constraints.get(expr)
        if rng is None:
            out[name] = (1, float('inf'))
        else:
            out[name] = (_as_int(rng.lower), _as_int(rng.upper))
    return out


def _as_int(bound: Any) -> Any:
    """A sympy range bound as an int, or ``inf`` (torch writes unbounded as ``int_oo``)."""
    try:
        return int(bound)
    except (TypeError, ValueError, OverflowError, AttributeError):
        return float('inf')


def export_onnx(model: nn.Module,
                path: str,
                shape: Sequence[int],
                dynamic: bool = False,
                batch_size: int = 1,
                fast: bool = False,
                opset_version: Optional[int] = None) -> torch.export.ExportedProgram:
    """Export ``model`` to the ONNX file ``path`` (``torch.onnx.export(dynamo=True)``).

    Input ``'input'`` (B, 3, H, W); outputs ``output0, output1, ...`` (the tensors of the
    model). Arguments as :func:`export_program`; ``opset_version`` defaults to torch's.

    Returns:
        ExportedProgram: the ``torch.export`` program that was converted.
    """
    program = export_program(model, shape, dynamic, batch_size, fast)
    with torch.no_grad():
        onnx_program = torch.onnx.export(
            program, input_names=['input'], dynamo=True, opset_version=opset_version,
            verbose=False)
        num_out = len(onnx_program.model.graph.outputs)
        for i, value in enumerate(onnx_program.model.graph.outputs):
            value.name = f'output{i}' if num_out > 1 else 'output'
    onnx_program.save(path)
    return program


def verify_onnx(path: str,
                model: nn.Module,
                shapes: Sequence[Sequence[int]],
                batch_size: int = 1,
                fast: bool = False,
                rtol: float = 1e-4,
                atol: float = 1e-4,
                seed: int = 0) -> List[Dict[str, Any]]:
    """Run the ONNX model in ONNX Runtime (CPU) and ``model`` in PyTorch at every size.

    Args:
        path (str): the ONNX file.
        model (nn.Module): the PyTorch module that was exported (eval mode).
        shapes (Sequence[Sequence[int]]): ``(H, W)`` sizes to compare at.
        batch_size (int): batch of the random inputs.
        fast (bool): run PyTorch's fast path (as exported) instead of the paper form.
        rtol / atol (float): ``|onnx - torch| <= atol + rtol * |torch|`` everywhere.
        seed (int): seed of the random (standard normal) inputs.

    Returns:
        list[dict]: one row per size: ``shape``, ``ok`` (bool), ``max_abs_diff`` (over all
        outputs; None if not comparable), ``max_abs_ref``, ``nan`` (non-finite ONNX values where
        PyTorch is finite), ``error`` (ONNX Runtime's message if it refused the input, e.g. a
        model exported at a fixed size given another size; such a row has ``ok`` False and
        ``refused`` True).
    """
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for shape in shapes:
        height, width = (int(v) for v in shape)
        x = torch.randn(batch_size, 3, height, width, generator=gen)
        with _form(model, fast), torch.no_grad():
            ref = [t.float().numpy() for t in _flatten(model(x))]
        row: Dict[str, Any] = dict(shape=(height, width), ok=False, max_abs_diff=None,
                                   max_abs_ref=None, nan=None, error=None, refused=False)
        try:
            out = session.run(None, {name: x.numpy()})
        except Exception as err:  # onnxruntime raises its own exception types
            row.update(error=str(err).strip().splitlines()[0], refused=True)
            rows.append(row)
            continue
        if len(out) != len(ref) or any(o.shape != r.shape for o, r in zip(out, ref)):
            row['error'] = (f'output shapes {[o.shape for o in out]} differ from PyTorch\'s '
                            f'{[r.shape for r in ref]}')
            rows.append(row)
            continue
        finite = [np.isfinite(r) for r in ref]
        nan = sum(int((~np.isfinite(o) & f).sum()) for o, f in zip(out, finite))
        diff = max(float(np.abs(np.where(f, o - r, 0)).max(initial=0.0))
                   for o, r, f in zip(out, ref, finite))
        scale = max(float(np.abs(np.where(f, r, 0)).max(initial=0.0)) for r, f in zip(ref, finite))
        close = all(
            np.allclose(o[f], r[f], rtol=rtol, atol=atol) and np.array_equal(
                np.isfinite(o), f) for o, r, f in zip(out, ref, finite))
        row.update(ok=bool(close and nan == 0), max_abs_diff=diff, max_abs_ref=scale, nan=nan)
        rows.append(row)
    return rows


_TRACE_HINT = ('Trace at the size you will run, or export with torch.export / '
               'torch.onnx.export(dynamo=True).')


def check_traced_sizes(model: nn.Module, traced: nn.Module,
                       shapes: Sequence[Sequence[int]], batch_size: int = 1) -> None:
    """Raise :class:`ExportSizeError` if ``traced`` (e.g. ``torch.jit.trace(model, x)``) does
    not give ``model``'s output shapes and values (rtol/atol 1e-4) at every ``(H, W)``.

    ``torch.jit.trace`` records the sizes of the example input as constants: mmsp's grid
    geometry (cells, padding, the 3x3 neighbourhood) is computed from them, so a traced mmsp
    model is only valid at the traced size. This check makes that loud.
    """
    for shape in shapes:
        x = torch.randn(batch_size, 3, *(int(v) for v in shape))
        with torch.no_grad():
            ref = _flatten(model(x))
            try:
                out = _flatten(traced(x))
            except Exception as err:  # a traced graph fails in its own ways at other sizes
                last = str(err).strip().splitlines()[-1]
                raise ExportSizeError(
                    f'check_traced_sizes: the traced module fails at input {tuple(x.shape)} '
                    f'({last}): torch.jit.trace fixes every size to the traced input. '
                    f'{_TRACE_HINT}') from err
        shapes_ref, shapes_out = [tuple(t.shape) for t in ref], [tuple(t.shape) for t in out]
        if shapes_ref != shapes_out or not all(
                torch.allclose(o, r, rtol=1e-4, atol=1e-4) for o, r in zip(out, ref)):
            raise ExportSizeError(
                f'check_traced_sizes: at input {tuple(x.shape)} the traced module gives outputs '
                f'{shapes_out} but the model gives {shapes_ref} (or other values): '
                f'torch.jit.trace fixes every size to the traced input. {_TRACE_HINT}')


def measure_latency(path: str,
                    model: nn.Module,
                    shape: Sequence[int],
                    runs: int = 10,
                    fast: bool = False) -> Dict[str, float]:
    """Median wall time (ms) of one (1, 3, H, W) forward in ONNX Runtime (CPU) and PyTorch.

    Both run in this process with the same number of threads (``torch.get_num_threads()``),
    after one warm-up run each, alternating so that load changes hit both alike.

    Returns:
        dict: ``onnxruntime_ms``, ``pytorch_ms`` and ``speedup`` (PyTorch / ONNX Runtime).
    """
    import time

    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    x = torch.randn(1, 3, *(int(v) for v in shape))
    feed = {name: x.numpy()}
    ort_times, torch_times = [], []
    with _form(model, fast), torch.no_grad():
        session.run(None, feed)
        model(x)
        for _ in range(runs):
            start = time.perf_counter()
            session.run(None, feed)
            ort_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            model(x)
            torch_times.append(time.perf_counter() - start)
    ort_ms, torch_ms = 1e3 * float(np.median(ort_times)), 1e3 * float(np.median(torch_times))
    return dict(onnxruntime_ms=ort_ms, pytorch_ms=torch_ms, speedup=torch_ms / ort_ms)

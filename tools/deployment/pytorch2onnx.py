"""Export the model of an mmseg / mmpretrain config to ONNX and check it in ONNX Runtime.

Usage::

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --shape H W [--dynamic]
        [--verify] [--verify-shape H W ...] [--latency RUNS] [--output-file FILE] [--fast]
        [--cfg-options ...]

The model runs in ``mode='tensor'`` (segmentors: the decode head's logits before resizing to
the image; classifiers: the class scores) on a (1, 3, H, W) input that is already normalised
(no data pre-processor in the graph). Export goes through ``torch.export``
(``torch.onnx.export(dynamo=True)``); the model is exported in its paper form unless ``--fast``.

``--dynamic`` keeps the input height and width symbolic; the tool stops with an error if
``torch.export`` fixed them, and prints the size range it derived. Without ``--dynamic`` the
ONNX model has a fixed input size and ONNX Runtime refuses any other.

``--verify`` runs ONNX Runtime and PyTorch on random inputs at the export size and at a second
size (``--verify-shape``; default ``H + 19, W + 13``, not a multiple of any stride) and prints
the largest absolute difference of the outputs. The exit status is 1 if any verified size
gives other shapes, other values (beyond ``--rtol``/``--atol``) or non-finite values; for a
fixed-size export the second size must be refused by ONNX Runtime.
"""
import argparse
import os.path as osp
import sys
import time
from typing import List, Optional

import mmsp  # noqa: F401  isort:skip  (registers mmsp modules and the safe checkpoint loader)
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import load_checkpoint
from mmsp.deployment import (ExportSizeError, TensorModeWrapper, export_onnx, measure_latency,
                             verify_onnx)
from mmsp.deployment.onnx_export import input_size_ranges
from mmsp.utils import build_model_from_config


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export a config model to ONNX (dynamo=True)')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help="checkpoint file ('none': the initialised weights)")
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), required=True,
                        help='input height and width of the export')
    parser.add_argument('--dynamic', action='store_true',
                        help='keep height and width dynamic (refused if the model fixes them)')
    parser.add_argument('--verify', action='store_true',
                        help='compare ONNX Runtime with PyTorch at the export size and at '
                        '--verify-shape sizes; exit 1 on mismatch')
    parser.add_argument('--verify-shape', type=int, nargs=2, action='append', metavar=('H', 'W'),
                        help='another size to verify at (repeatable); default H+19 W+13')
    parser.add_argument('--output-file', default=None,
                        help='ONNX file (default: <config name>.onnx in the working dir)')
    parser.add_argument('--fast', action='store_true',
                        help='export the fast path (mmsp.ops.fast) instead of the paper form')
    parser.add_argument('--opset-version', type=int, default=None, help='ONNX opset')
    parser.add_argument('--latency', type=int, default=0, metavar='RUNS',
                        help='time RUNS forwards at the export size in ONNX Runtime and '
                        'PyTorch (CPU, same threads) and print the medians')
    parser.add_argument('--rtol', type=float, default=1e-4, help='verification rtol')
    parser.add_argument('--atol', type=float, default=1e-4, help='verification atol')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    args = parser.parse_args(argv)
    if min(args.shape) < 1:
        parser.error(f'--shape must be positive, got {args.shape}')
    return args


def build_model(args: argparse.Namespace) -> torch.nn.Module:
    """The config's model with the checkpoint loaded strictly, in eval mode."""
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    model = build_model_from_config(cfg)
    if args.checkpoint.lower() == 'none':
        model.init_weights()
    else:
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(f'pytorch2onnx: checkpoint {args.checkpoint!r} not found')
        load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    return model.eval()


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    model = TensorModeWrapper(build_model(args)).eval()
    out = args.output_file or osp.splitext(osp.basename(args.config))[0] + '.onnx'
    height, width = args.shape
    form = 'fast path' if args.fast else 'paper form'
    print(f'Exporting {args.config} ({form}) at 1x3x{height}x{width}, '
          f'{"dynamic" if args.dynamic else "fixed"} height/width ...', flush=True)
    start = time.time()
    try:
        program = export_onnx(model, out, args.shape, dynamic=args.dynamic, fast=args.fast,
                              opset_version=args.opset_version)
    except ExportSizeError as err:
        print(f'ERROR: {err}', file=sys.stderr)
        return 2
    print(f'Wrote {out} in {time.time() - start:.1f} s', flush=True)
    if args.dynamic:
        ranges = input_size_ranges(program)
        print('Supported input sizes: ' + ', '.join(
            f'{name} in [{lo}, {hi}]' for name, (lo, hi) in ranges.items()))
    else:
        print(f'Fixed input size: the ONNX model accepts only 1x3x{height}x{width}')
    if args.latency > 0:
        t = measure_latency(out, model, args.shape, runs=args.latency, fast=args.fast)
        print(f'latency 1x3x{height}x{width} ({torch.get_num_threads()} threads, median of '
              f'{args.latency}): ONNX Runtime {t["onnxruntime_ms"]:.1f} ms, PyTorch '
              f'{t["pytorch_ms"]:.1f} ms (PyTorch / ONNX Runtime = {t["speedup"]:.2f})')
    if not args.verify:
        return 0
    others = [tuple(s) for s in (args.verify_shape or [(height + 19, width + 13)])]
    rows = verify_onnx(out, model, [(height, width)] + others, fast=args.fast, rtol=args.rtol,
                       atol=args.atol)
    failed = False
    for row in rows:
        h, w = row['shape']
        if row['refused']:
            expected = not args.dynamic and (h, w) != (height, width)
            failed |= not expected
            verdict = 'refused as expected (fixed size)' if expected else 'FAILED'
            print(f'verify {h}x{w}: ONNX Runtime refused the input: {row["error"]} -> {verdict}')
            continue
        if row['max_abs_diff'] is None:
            failed = True
            print(f'verify {h}x{w}: FAILED: {row["error"]}')
            continue
        if not args.dynamic and (h, w) != (height, width):  # a fixed-size model must refuse
            failed = True
            print(f'verify {h}x{w}: FAILED: the fixed-size ONNX model accepted another size')
            continue
        failed |= not row['ok']
        print(f'verify {h}x{w}: max |onnx - torch| = {row["max_abs_diff"]:.3g} '
              f'(max |torch| = {row["max_abs_ref"]:.3g}), non-finite: {row["nan"]} -> '
              f'{"ok" if row["ok"] else "FAILED"}')
    print('Verification ' + ('FAILED' if failed else 'passed'))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

"""Inference or training-step speed of one or more configs, in the same process and conditions.

Usage::

    python tools/benchmark.py --configs A.py [B.py ...] [--shape H W] [--batch-size N]
        [--part model|backbone|decode_head] [--mode inference|train] [--warmup 5] [--iters 20]
        [--device cpu|cuda] [--threads T] [--cfg-options ...] [--out results.json]

For every config the model is built (random weights: speed does not depend on them) and fed one
random ``B x 3 x H x W`` batch. ``--mode inference`` (default) times the part in eval mode under
``torch.no_grad()``; ``--mode train`` times a training step of it in train mode: forward, the
backward of the mean of its outputs and an AdamW step over its parameters (the loss itself is a
negligible cost next to the model's):

* ``--part model`` times ``model(x, mode='tensor')`` (backbone + neck + head, no data
  pre-processing or resizing of the logits);
* ``--part backbone`` times ``model.backbone(x)``;
* ``--part decode_head`` computes the backbone (and neck) features **once** and times
  ``model.decode_head(features)`` alone (segmentation configs only).

All models are built first. Each runs ``--warmup`` discarded iterations, then the ``--iters``
timed iterations are **interleaved**: round ``i`` times one call of every model, in an order
that rotates from round to round (CUDA is synchronised around each call). Every model thus sees
the same machine load and allocator state (``--also-plain`` adds every config built in its plain
form, mmsp's fast paths off); timing the models one after the other instead made
the second of two CPU models up to 20% slower than when it ran first. Reported per model: median
and mean ms per image, images per second (from the median), the parameters of the timed part,
the ratio of its median to the first config's, and the median over rounds of the per-round
ratio (robust to load that changes between rounds). The device and the number of torch threads
are printed with the table.
"""
import argparse
import contextlib
import json
import statistics
import time
from typing import Callable, Dict, List, Optional, Tuple

import mmsp  # noqa: F401  isort:skip  (registers mmsp modules)
import torch
from mmengine.config import Config, DictAction
from mmsp.ops.fast import fast_path
from mmsp.utils import build_model_from_config, config_family

PARTS = ('model', 'backbone', 'decode_head')
MODES = ('inference', 'train')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark inference speed of config models')
    parser.add_argument('--configs', nargs='+', required=True, help='config files')
    parser.add_argument('--shape', type=int, nargs='+', default=[512, 512],
                        help='input height and width (one value: square); default 512 512')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--part', choices=PARTS, default='model')
    parser.add_argument('--also-plain', action='store_true',
                        help='also time every config built in its plain form (mmsp fast paths '
                        'off), in the same interleaved rounds')
    parser.add_argument('--mode', choices=MODES, default='inference',
                        help='inference (eval, no_grad) or train (forward + backward + AdamW)')
    parser.add_argument('--warmup', type=int, default=5, help='untimed iterations per model')
    parser.add_argument('--iters', type=int, default=20, help='timed iterations per model')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (default: leave torch\'s setting)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of every config')
    parser.add_argument('--out', help='also write the results to this JSON file')
    return check_timing_args(parser, parser.parse_args(argv))


def check_timing_args(parser: argparse.ArgumentParser,
                      args: argparse.Namespace) -> argparse.Namespace:
    """``--shape`` as ``[H, W]`` (one value: square); positive batch and rounds, warm-up >= 0."""
    if len(args.shape) == 1:
        args.shape = [args.shape[0]] * 2
    if len(args.shape) != 2 or min(args.shape) < 1:
        parser.error(f'--shape takes H W (or one size), got {args.shape}')
    if args.batch_size < 1 or args.iters < 1 or args.warmup < 0:
        parser.error('--batch-size and --iters must be >= 1, --warmup >= 0')
    return args


def make_step(model: torch.nn.Module, part: str, inputs: torch.Tensor,
              family: str) -> Callable[[], object]:
    """The callable to time for one model part (features for ``decode_head`` made here, once)."""
    if part == 'model':
        return lambda: model(inputs, mode='tensor')
    if part == 'backbone':
        return lambda: model.backbone(inputs)
    if family != 'seg' or not hasattr(model, 'decode_head'):
        raise ValueError(f'--part decode_head needs a segmentor with a decode_head, got a '
                         f'{type(model).__name__} ({family} config)')
    with torch.no_grad():
        features = model.extract_feat(inputs)
    return lambda: model.decode_head(features)


def _tensors(out: object) -> List[torch.Tensor]:
    """The tensors of a model output (a tensor or nested tuples/lists of them)."""
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for o in out for t in _tensors(o)] if isinstance(out, (tuple, list)) else []


def training_step(forward: Callable[[], object],
                  module: torch.nn.Module) -> Callable[[], object]:
    """``forward``, the backward of the mean of its outputs and an AdamW step of ``module``."""
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-6)

    def step() -> None:
        loss = sum(t.float().mean() for t in _tensors(forward()))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def interleaved_times(steps: List[Callable[[], object]], warmup: int, iters: int,
                      device: str) -> List[List[float]]:
    """Seconds per call of every step: ``warmup`` discarded calls each, then ``iters`` rounds.

    Round ``i`` calls every step once, starting with step ``i mod len(steps)``.
    """
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    for step in steps:
        for _ in range(warmup):
            step()
    sync()
    times: List[List[float]] = [[] for _ in steps]
    for i in range(iters):
        for k in range(len(steps)):
            j = (i + k) % len(steps)
            start = time.perf_counter()
            steps[j]()
            sync()
            times[j].append(time.perf_counter() - start)
    return times


def prepare_config(path: str, args: argparse.Namespace,
                   plain: bool = False) -> Tuple[Callable[[], object], Dict]:
    """Build one config's model (its plain form with ``plain``: mmsp's fast paths off) and return
    the step to time plus its static result fields."""
    cfg = Config.fromfile(path)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    family = config_family(cfg)
    with fast_path(False) if plain else contextlib.nullcontext():
        model = build_model_from_config(cfg).to(args.device)
    model.train(args.mode == 'train')
    height, width = args.shape
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(args.batch_size, 3, height, width, generator=generator).to(args.device)
    step = make_step(model, args.part, inputs, family)
    timed = {'model': model, 'backbone': getattr(model, 'backbone', None),
             'decode_head': getattr(model, 'decode_head', None)}[args.part]
    if args.mode == 'train':
        step = training_step(step, timed)
    info = dict(config=path + (' (plain)' if plain else ''), part=args.part, mode=args.mode,
                params_m=sum(p.numel() for p in timed.parameters()) / 1e6,
                fast_paths=sum(bool(getattr(m, 'fast_path', False)) for m in timed.modules()))
    return step, info


def benchmark_configs(args: argparse.Namespace) -> List[Dict[str, object]]:
    """Interleaved timing of every config (see the module docstring)."""
    prepared = [prepare_config(path, args) for path in args.configs]
    if args.also_plain:
        prepared += [prepare_config(path, args, plain=True) for path in args.configs]
    with torch.set_grad_enabled(args.mode == 'train'):
        times = interleaved_times([step for step, _ in prepared], args.warmup, args.iters,
                                  args.device)
    results = []
    for (_, info), ts in zip(prepared, times):
        median = statistics.median(ts)
        results.append(dict(info, ms_per_img=median * 1e3 / args.batch_size,
                            mean_ms_per_img=statistics.fmean(ts) * 1e3 / args.batch_size,
                            img_per_s=args.batch_size / median))
    for result, ts in zip(results, times):
        result['ratio_to_first'] = result['ms_per_img'] / results[0]['ms_per_img']
        result['median_round_ratio'] = statistics.median(
            t / t0 for t, t0 in zip(ts, times[0]))
    return results


def main(argv: Optional[List[str]] = None) -> List[Dict[str, object]]:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    results = benchmark_configs(args)
    device = args.device
    if device.startswith('cuda'):
        device += f' ({torch.cuda.get_device_name(torch.device(args.device))})'
    print(f'device: {device} | torch {torch.__version__} | threads: {torch.get_num_threads()} | '
          f'input: {args.batch_size}x3x{args.shape[0]}x{args.shape[1]} | part: {args.part} | '
          f'mode: {args.mode} | warm-up {args.warmup}, timed {args.iters}')
    width = max(len('config'), *(len(r['config']) for r in results))
    print(f'{"config":{width}s} {"params(M)":>9s} {"ms/img":>9s} {"mean":>9s} {"img/s":>9s} '
          f'{"x first":>8s} {"x first/round":>13s}')
    for r in results:
        print(f'{r["config"]:{width}s} {r["params_m"]:9.2f} {r["ms_per_img"]:9.2f} '
              f'{r["mean_ms_per_img"]:9.2f} {r["img_per_s"]:9.2f} {r["ratio_to_first"]:8.2f} '
              f'{r["median_round_ratio"]:13.2f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(device=device, threads=torch.get_num_threads(), shape=args.shape,
                           batch_size=args.batch_size, mode=args.mode, results=results), f,
                      indent=2)
    return results


if __name__ == '__main__':
    main()

"""Inference time of every part of an SPFormer backbone, against a reference backbone.

Usage::

    python tools/benchmarks/benchmark_spformer_parts.py \\
        --config configs/spformer/spformer-s_8xb128_in1k.py \\
        --reference configs/spformer/deit-s_8xb128_in1k.py \\
        [--shape 224 224] [--batch-size 1] [--threads 2] [--warmup 3] [--iters 20] \\
        [--target-ratio 1.15] [--out parts.json]

One forward of the SPFormer backbone records the inputs of each part: the stem, the
superpixel init, every SCA layer, every stage's ViT blocks (timed together, in order) and
every pixel unfolding. ``torch.no_grad()`` and eval mode throughout. Then each part is called
on its recorded inputs. The two whole backbones are called too, on the same random batch. All
calls are interleaved in rounds with a rotating order (``benchmark.interleaved_times``), so every
number sees the same machine load. Reported: the median ms per image of every part, the sums of
the ViT blocks and of the other ("non-ViT") parts, the rest of the whole SPFormer backbone
(position embeddings, output norms, and the cost of running in context rather than alone), the
whole-backbone ratio, and the **budget** that ``--target-ratio`` leaves for the non-ViT parts:
``target x reference - ViT blocks``.

Each part's multiply-adds per image are counted too (mmengine's counter on one image, with
the self-attention matmuls: :func:`mmsp.utils.count_multiply_adds`), and the rate it runs at
(GMAC/s). The budget is then also stated as a rate: the multiply-adds of everything but the
ViT blocks divided by the budget, next to the rate the reference backbone reaches. That is
the efficiency a faster implementation of the non-ViT parts would have to reach.
"""
import argparse
import json
import os.path as osp
import statistics
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import mmsp  # noqa: F401  isort:skip  (registers mmsp modules)
import torch
from mmengine.config import Config
from torch import nn

from mmsp.models.backbones import SPFormer
from mmsp.utils import build_model_from_config, count_multiply_adds

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'analysis_tools'))
from benchmark import check_timing_args, interleaved_times  # noqa: E402  isort:skip


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Time every part of an SPFormer backbone')
    parser.add_argument('--config', required=True, help='config whose backbone is an SPFormer')
    parser.add_argument('--reference', required=True, help='config of the reference backbone')
    parser.add_argument('--shape', type=int, nargs='+', default=[224, 224],
                        help='input height and width (one value: square); default 224 224')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--warmup', type=int, default=3, help='untimed calls of every part')
    parser.add_argument('--iters', type=int, default=20, help='timed rounds')
    parser.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    parser.add_argument('--target-ratio', type=float, default=1.15,
                        help='SPFormer / reference latency to compute the budget for')
    parser.add_argument('--out', help='also write the results to this JSON file')
    args = check_timing_args(parser, parser.parse_args(argv))
    if args.target_ratio <= 0:
        parser.error(f'--target-ratio must be > 0, got {args.target_ratio}')
    return args


def build_backbone(path: str) -> nn.Module:
    """The backbone of a config's model, in eval mode (random weights)."""
    model = build_model_from_config(Config.fromfile(path))
    if getattr(model, 'backbone', None) is None:
        raise ValueError(f'{path}: the model has no backbone')
    model.backbone.eval()  # (some backbones' train() returns None, so not chained)
    return model.backbone


def part_modules(backbone: SPFormer) -> List[Tuple[str, bool, nn.Module, str]]:
    """``(name, is_vit, module, module path)`` of every part of ``backbone``, in order.

    The ViT blocks of a stage are one part (their ``ModuleList``); ``module path`` is the
    dotted name in ``backbone.named_modules()``.
    """
    modules = [('stem', False, backbone.stem, 'stem'),
               ('superpixel init', False, backbone.superpixel_init, 'superpixel_init')]
    for k, stage in enumerate(backbone.stages):
        modules += [(f'stage {k} SCA {i}', False, layer, f'stages.{k}.sca.{i}')
                    for i, layer in enumerate(stage.sca)]
        modules.append((f'stage {k} ViT blocks ({len(stage.blocks)})', True, stage.blocks,
                        f'stages.{k}.blocks'))
        if stage.unfold is not None:
            modules.append((f'stage {k} pixel unfolding', False, stage.unfold,
                            f'stages.{k}.unfold'))
    return modules


def spformer_parts(backbone: SPFormer, images: torch.Tensor) -> List[Tuple[str, bool, Callable]]:
    """``(name, is_vit, call)`` for every part, each bound to the inputs it had in a forward.

    Args:
        backbone (SPFormer): the backbone (eval mode).
        images (Tensor): the batch (B, 3, H, W).

    Returns:
        list: in execution order (:func:`part_modules`); ``is_vit`` marks the ViT blocks of
        a stage.
    """
    modules = [(name, is_vit, module) for name, is_vit, module, _ in part_modules(backbone)]
    recorded: Dict[str, Tuple[tuple, dict]] = {}
    hooks = []
    for name, _, module in modules:
        target = module[0] if isinstance(module, nn.ModuleList) else module

        def record(mod, args, kwargs, out, name=name):
            recorded[name] = (args, kwargs)

        hooks.append(target.register_forward_hook(record, with_kwargs=True))
    try:
        with torch.no_grad():
            backbone(images)
    finally:
        for hook in hooks:
            hook.remove()
    parts = []
    for name, is_vit, module in modules:
        args, kwargs = recorded[name]
        if isinstance(module, nn.ModuleList):  # the blocks of a stage, one after the other

            def call(blocks=module, tokens=args[0]):
                for block in blocks:
                    tokens = block(tokens)
                return tokens
        else:

            def call(module=module, args=args, kwargs=kwargs):
                return module(*args, **kwargs)

        parts.append((name, is_vit, call))
    return parts


def multiply_adds_per_image(spformer: SPFormer, reference: nn.Module,
                            shape: Sequence[int]) -> Tuple[List[int], int, int]:
    """Multiply-adds of one ``1 x 3 x H x W`` image: per part (:func:`part_modules` order),
    for the whole SPFormer and for the whole reference (mmengine's counter with the
    self-attention matmuls, :func:`mmsp.utils.count_multiply_adds`)."""
    image = torch.rand(1, 3, *shape, generator=torch.Generator().manual_seed(0))
    counts = count_multiply_adds(spformer, (image, ))
    parts = [counts.by_module.get(path, 0) for _, _, _, path in part_modules(spformer)]
    return parts, counts.total, count_multiply_adds(reference, (image, )).total


def gmacs(macs: float, ms: float) -> float:
    """Rate in 1e9 multiply-adds per second of ``macs`` done in ``ms`` milliseconds."""
    return macs / ms / 1e6 if ms > 0 else float('inf')


def main(argv: Optional[List[str]] = None) -> Dict[str, object]:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    spformer, reference = build_backbone(args.config), build_backbone(args.reference)
    if not isinstance(spformer, SPFormer):
        raise ValueError(f'{args.config}: the backbone is a {type(spformer).__name__}, '
                         f'not an SPFormer')
    images = torch.rand(args.batch_size, 3, *args.shape,
                        generator=torch.Generator().manual_seed(0))
    parts = spformer_parts(spformer, images)
    steps = [call for _, _, call in parts] + [lambda: spformer(images), lambda: reference(images)]
    with torch.no_grad():
        times = interleaved_times(steps, args.warmup, args.iters, 'cpu')
    ms = [statistics.median(t) * 1e3 / args.batch_size for t in times]
    macs, whole_macs, ref_macs = multiply_adds_per_image(spformer, reference, args.shape)
    rows = [
        dict(part=name, vit=is_vit, ms_per_img=m, macs=n, gmacs=gmacs(n, m))
        for (name, is_vit, _), m, n in zip(parts, ms, macs)
    ]
    whole, ref = ms[-2], ms[-1]
    vit = sum(r['ms_per_img'] for r in rows if r['vit'])
    non_vit = sum(r['ms_per_img'] for r in rows if not r['vit'])
    vit_macs = sum(r['macs'] for r in rows if r['vit'])
    non_vit_macs = whole_macs - vit_macs  # the non-ViT parts and the rest
    budget = args.target_ratio * ref - vit
    result = dict(
        config=args.config, reference=args.reference, threads=torch.get_num_threads(),
        shape=args.shape, batch_size=args.batch_size, iters=args.iters, parts=rows,
        vit_ms=vit, non_vit_ms=non_vit, rest_ms=whole - vit - non_vit, spformer_ms=whole,
        reference_ms=ref, ratio=whole / ref, vit_to_reference=vit / ref,
        target_ratio=args.target_ratio, non_vit_budget_ms=budget, spformer_macs=whole_macs,
        reference_macs=ref_macs, vit_macs=vit_macs, non_vit_macs=non_vit_macs,
        reference_gmacs=gmacs(ref_macs, ref), vit_gmacs=gmacs(vit_macs, vit),
        non_vit_gmacs=gmacs(non_vit_macs, whole - vit),
        required_non_vit_gmacs=gmacs(non_vit_macs, budget) if budget > 0 else None)
    print(f'cpu | torch {torch.__version__} | threads: {torch.get_num_threads()} | input: '
          f'{args.batch_size}x3x{args.shape[0]}x{args.shape[1]} | warm-up {args.warmup}, '
          f'timed rounds {args.iters} | ms per image, medians; multiply-adds per image '
          f'(mmengine counter with the attention matmuls) and the rate they run at')
    width = max(len(r['part']) for r in rows) + 2
    print(f'{"":{width}s} {"ms":>9s} {"M MACs":>9s} {"GMAC/s":>7s}')
    for r in rows:
        print(f'{r["part"]:{width}s} {r["ms_per_img"]:9.2f} {r["macs"] / 1e6:9.1f} '
              f'{r["gmacs"]:7.1f}')
    print(f'{"ViT blocks, sum":{width}s} {vit:9.2f} {vit_macs / 1e6:9.1f} '
          f'{result["vit_gmacs"]:7.1f}   ({vit / ref:.2f} x the reference)')
    print(f'{"non-ViT parts, sum":{width}s} {non_vit:9.2f}')
    print(f'{"rest of the whole":{width}s} {whole - vit - non_vit:9.2f}   (glue, norms, '
          f'running in context)')
    print(f'{"whole SPFormer":{width}s} {whole:9.2f} {whole_macs / 1e6:9.1f} '
          f'{gmacs(whole_macs, whole):7.1f}')
    print(f'{"whole reference":{width}s} {ref:9.2f} {ref_macs / 1e6:9.1f} '
          f'{result["reference_gmacs"]:7.1f}   ratio {whole / ref:.3f}')
    print(f'budget for the non-ViT parts and the rest at ratio {args.target_ratio}: '
          f'{budget:.2f} ms (now {whole - vit:.2f})')
    if budget > 0:
        print(f'their {non_vit_macs / 1e6:.1f} M multiply-adds must then run at '
              f'{result["required_non_vit_gmacs"]:.1f} GMAC/s (now '
              f'{result["non_vit_gmacs"]:.1f}; the reference runs at '
              f'{result["reference_gmacs"]:.1f})')
    else:
        print('unreachable: the ViT blocks alone exceed the target')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()

"""Multiply-adds of supervoxel against superpixel SPFormers, counted on the real modules.

Two tables, both from :func:`mmsp.utils.count_multiply_adds` (the paper form, attention matmuls
included):

1. **One global block** (SPFormer's :class:`~mmsp.models.utils.TransformerBlock` of the chosen
   arch) on the tokens of a clip: per-frame superpixels attended jointly over the clip
   (``s_t = 1``) against supervoxels with ``s_t = 2, 4``; attention matmuls, linear layers and
   their sum, with the closed forms ``2 L^2 C`` and ``12 C^2 L`` beside them.
2. **Whole backbones** on the clip: the image SPFormer on every frame on its own, and
   SPFormer3D with cells ``(s_t, s, s)`` for every ``s_t``; total, attention matmuls and the
   SCA layers of every stage (the local association), in G multiply-adds per clip.

Example (the tables of ``configs/supervoxel/README.md``)::

    OMP_NUM_THREADS=1 python tools/benchmarks/supervoxel_flops.py --arch small \\
        --clip 8 240 320 --stride 16 --time-cells 1 2 4
"""
import argparse
from typing import Dict, List, Sequence

import torch

import mmsp  # noqa: F401
from mmsp.models.backbones import SPFormer, SPFormer3D
from mmsp.models.backbones.spformer_arch import resolve_stride
from mmsp.utils import count_multiply_adds

G = 1e9


def block_rows(arch, clip: Sequence[int], stride: int,
               time_cells: Sequence[int]) -> List[Dict[str, float]]:
    """One global block's multiply-adds for every ``s_t``.

    Returns:
        list[dict]: ``tokens``, ``s_t``, ``attention``, ``attention_formula`` (``2 L^2 C``),
        ``linear``, ``linear_formula`` (``12 C^2 L``) and ``total`` per ``s_t``.
    """
    t, h, w = clip
    model = SPFormer(arch, superpixel_stride=stride, img_size=(h, w)).eval()
    block = model.stages[-1].blocks[0]
    c = block.embed_dims
    per_frame = -(-h // stride) * -(-w // stride)
    rows = []
    for s_t in time_cells:
        tokens = -(-t // s_t) * per_frame
        counts = count_multiply_adds(block, (torch.zeros(1, tokens, c), ))
        rows.append(
            dict(tokens=tokens,
                 s_t=s_t,
                 attention=counts.by_operator.get('scaled_dot_product_attention', 0),
                 attention_formula=2 * tokens**2 * c,
                 linear=counts.by_operator.get('linear', 0),
                 linear_formula=12 * c**2 * tokens,
                 total=counts.total))
    return rows


def block_table(rows: List[Dict[str, float]]) -> str:
    lines = ['| tokens L (s_t) | attention matmuls | 2 L^2 C | linear | 12 C^2 L | total |',
             '|---|---:|---:|---:|---:|---:|']
    for r in rows:
        lines.append(f'| {r["tokens"]} ({r["s_t"]}) | {r["attention"] / G:.2f} G | '
                     f'{r["attention_formula"] / G:.2f} G | {r["linear"] / G:.2f} G | '
                     f'{r["linear_formula"] / G:.2f} G | {r["total"] / G:.2f} G |')
    return '\n'.join(lines)


def _split(counts) -> Dict[str, float]:
    sca = sum(v for k, v in counts.by_module.items()
              if k.count('.') == 2 and k.startswith('stages.') and k.endswith('.sca'))
    return dict(total=counts.total,
                attention=counts.by_operator.get('scaled_dot_product_attention', 0),
                sca=sca)


def model_rows(arch, clip: Sequence[int], stride: int,
               time_cells: Sequence[int]) -> List[Dict]:
    """Whole-backbone multiply-adds per clip: the image SPFormer on every frame (``name``
    ``'per-frame'``, counts times T) and SPFormer3D for every ``s_t``; ``tokens``, ``total``,
    ``attention``, ``sca``."""
    t, h, w = clip
    torch.manual_seed(0)
    per_frame = -(-h // stride) * -(-w // stride)
    image = SPFormer(arch, superpixel_stride=stride, img_size=(h, w)).eval()
    counts = _split(count_multiply_adds(image, (torch.zeros(1, 3, h, w), )))
    rows = [dict(name='per-frame', s_t=None, tokens=t * per_frame,
                 **{k: t * v for k, v in counts.items()})]
    for s_t in time_cells:
        model = SPFormer3D(arch, superpixel_stride=(s_t, stride, stride), img_size=tuple(clip))
        counts = _split(count_multiply_adds(model.eval(), (torch.zeros(1, 3, t, h, w), )))
        rows.append(dict(name='spformer3d', s_t=s_t, tokens=-(-t // s_t) * per_frame, **counts))
    return rows


def model_table(rows: List[Dict], clip: Sequence[int], stride: int) -> str:
    lines = ['| backbone (cell) | tokens per clip | total | attention matmuls | SCA layers |',
             '|---|---:|---:|---:|---:|']
    for r in rows:
        name = (f'SPFormer on each of the {clip[0]} frames ({stride}x{stride})'
                if r['name'] == 'per-frame' else f'SPFormer3D ({r["s_t"]}x{stride}x{stride})')
        lines.append(f'| {name} | {r["tokens"]} | {r["total"] / G:.1f} G | '
                     f'{r["attention"] / G:.2f} G | {r["sca"] / G:.1f} G |')
    return '\n'.join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', default='small')
    parser.add_argument('--clip', type=int, nargs=3, default=[8, 240, 320],
                        metavar=('T', 'H', 'W'))
    parser.add_argument('--stride', type=int, default=16, help='superpixel stride r s in px')
    parser.add_argument('--time-cells', type=int, nargs='+', default=[1, 2, 4])
    parser.add_argument('--no-models', action='store_true', help='the block table only')
    args = parser.parse_args(argv)
    resolve_stride(args.stride, None)  # a clear error for an unsupported stride
    print(f'SPFormer-{args.arch}, clip {args.clip}, superpixel stride {args.stride}')
    print(block_table(block_rows(args.arch, args.clip, args.stride, args.time_cells)))
    if not args.no_models:
        print()
        rows = model_rows(args.arch, args.clip, args.stride, args.time_cells)
        print(model_table(rows, args.clip, args.stride))


if __name__ == '__main__':
    main()

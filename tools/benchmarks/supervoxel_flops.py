"""Multiply-adds of supervoxel against superpixel SPFormers, counted on the real modules.

Two tables, both from :func:`mmsp.utils.count_multiply_adds` (the paper form, attention matmuls
included):

1. **One global block** (SPFormer's :class:`~mmsp.models.utils.TransformerBlock` of the chosen
   arch) on the tokens of a clip: per-frame superpixels attended jointly over the clip
   (``s_t = 1``) against supervoxels with ``s_t = 2, 4``; attention matmuls, linear layers and
   their sum, with the closed forms ``2 L^2 C`` and ``12 C^2 L`` beside them.
2. **Whole backbones** on the clip: the image SPFormer on every frame on its own, and
   SPFormer3D with cells ``(s_t, s, s)`` for every ``s_t``; total, attention matmuls and the
   SCA layers (local association, unfolding included), in G multiply-adds per clip.

Example (the tables of ``configs/supervoxel/README.md``)::

    OMP_NUM_THREADS=1 python tools/benchmarks/supervoxel_flops.py --arch small \\
        --clip 8 240 320 --stride 16 --time-cells 1 2 4
"""
import argparse
from typing import Dict, Sequence

import torch

import mmsp  # noqa: F401
from mmsp.models.backbones import SPFormer, SPFormer3D
from mmsp.models.backbones.spformer_arch import resolve_stride
from mmsp.utils import count_multiply_adds

G = 1e9


def block_table(arch: str, clip: Sequence[int], stride: int, time_cells: Sequence[int]) -> str:
    """Markdown table of one global block's multiply-adds for every ``s_t``."""
    t, h, w = clip
    model = SPFormer(arch, superpixel_stride=stride, img_size=(h, w)).eval()
    block = model.stages[-1].blocks[0]
    c = block.embed_dims
    lines = ['| tokens L (s_t) | attention matmuls | 2 L^2 C | linear | 12 C^2 L | total |',
             '|---|---:|---:|---:|---:|---:|']
    per_frame = -(-h // stride) * -(-w // stride)
    for s_t in time_cells:
        tokens = -(-t // s_t) * per_frame
        counts = count_multiply_adds(block, (torch.zeros(1, tokens, c), ))
        attn = counts.by_operator.get('scaled_dot_product_attention', 0)
        linear = counts.by_operator.get('linear', 0)
        lines.append(f'| {tokens} ({s_t}) | {attn / G:.2f} G | {2 * tokens**2 * c / G:.2f} G | '
                     f'{linear / G:.2f} G | {12 * c**2 * tokens / G:.2f} G | '
                     f'{counts.total / G:.2f} G |')
    return '\n'.join(lines)


def _split(counts) -> Dict[str, float]:
    sca = sum(v for k, v in counts.by_module.items()
              if k.count('.') == 2 and '.sca.' in k and k.startswith('stages.'))
    return dict(
        total=counts.total / G,
        attention=counts.by_operator.get('scaled_dot_product_attention', 0) / G,
        sca=sca / G)


def model_table(arch: str, clip: Sequence[int], stride: int, time_cells: Sequence[int]) -> str:
    """Markdown table of whole-backbone multiply-adds per clip."""
    t, h, w = clip
    torch.manual_seed(0)
    lines = ['| backbone (cell) | tokens | total | attention matmuls | SCA layers |',
             '|---|---:|---:|---:|---:|']
    image = SPFormer(arch, superpixel_stride=stride, img_size=(h, w)).eval()
    counts = _split(count_multiply_adds(image, (torch.zeros(1, 3, h, w), )))
    per_frame = -(-h // stride) * -(-w // stride)
    lines.append(f'| SPFormer per frame, x{t} ({stride}x{stride}) | {t} x {per_frame} | '
                 f'{t * counts["total"]:.1f} G | {t * counts["attention"]:.2f} G | '
                 f'{t * counts["sca"]:.1f} G |')
    for s_t in time_cells:
        model = SPFormer3D(arch, superpixel_stride=(s_t, stride, stride), img_size=tuple(clip))
        model.eval()
        counts = _split(count_multiply_adds(model, (torch.zeros(1, 3, t, h, w), )))
        tokens = -(-t // s_t) * per_frame
        lines.append(f'| SPFormer3D ({s_t}x{stride}x{stride}) | {tokens} | '
                     f'{counts["total"]:.1f} G | {counts["attention"]:.2f} G | '
                     f'{counts["sca"]:.1f} G |')
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
    print(block_table(args.arch, args.clip, args.stride, args.time_cells))
    if not args.no_models:
        print()
        print(model_table(args.arch, args.clip, args.stride, args.time_cells))


if __name__ == '__main__':
    main()

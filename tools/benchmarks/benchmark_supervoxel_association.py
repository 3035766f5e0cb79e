"""Time the local 27-candidate supervoxel association against global voxel attention.

One SCA-style exchange over a clip's pixel-branch map (B, C, T, H, W) and its supervoxels
(B, C, t, h, w) with cells ``(s_t, s, s)``, both directions, as an SCA layer computes them:

* ``local``: :mod:`mmsp.ops` (association logits over the 27 neighbouring cells, the voxel-side
  unfolding and the supervoxel update), ``O(27 T H W C)``;
* ``global``: every voxel attends to every supervoxel and every supervoxel to every voxel
  (:func:`mmsp.ops.reference.global_attention`), ``O(T H W M C)`` with ``M = t h w``.

The two run interleaved (local, global, local, global, ...) in the same process, so that load
changes on a shared machine hit both; the medians and their ratio are printed per clip size,
with the local time per million voxels (constant when the cost is linear in ``T H W``). Global
attention is skipped above ``--max-pairs`` voxel-supervoxel pairs (its logits alone take
``4 * pairs`` bytes per head).

Example (CamVid clips at the pixel stride 4: 60 x 80 per frame)::

    OMP_NUM_THREADS=1 python tools/benchmarks/benchmark_supervoxel_association.py \\
        --clips 2x60x80 4x60x80 8x60x80 16x60x80 8x30x40 8x120x160
"""
import argparse
import statistics
import time

import torch

from mmsp.ops import SuperpixelGrid, association_logits, superpixel_update, unfold_with_logits
from mmsp.ops.reference import global_attention


def local_step(vox, svx, vox_value, svx_value, cell, heads, causal):
    """Voxel-side unfolding and supervoxel update over the 27 (18 causal) candidates."""
    logits = association_logits(vox, svx, cell, heads, causal=causal)
    return (unfold_with_logits(logits, svx_value, cell, causal=causal),
            superpixel_update(logits, vox_value, cell, causal))


def global_step(vox, svx, vox_value, svx_value, cell, heads, causal):
    """Both directions over all voxel-supervoxel pairs (no mask)."""
    return global_attention(vox, svx, svx_value, heads), global_attention(svx, vox, vox_value,
                                                                          heads)


def interleaved(fns, args, warmup, repeat):
    """Median milliseconds of every function, calls alternating between them."""
    for _ in range(warmup):
        for fn in fns:
            fn(*args)
    times = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn(*args)
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) * 1e3 for t in times]


def parse_clip(text):
    t, h, w = (int(v) for v in text.lower().split('x'))
    return t, h, w


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--clips', nargs='+', default=['2x60x80', '4x60x80', '8x60x80',
                                                       '8x30x40', '8x120x160'],
                        help='pixel-branch clip sizes TxHxW')
    parser.add_argument('--cell', type=int, nargs=3, default=[2, 4, 4], help='s_t s s')
    parser.add_argument('--channels', type=int, default=64)
    parser.add_argument('--heads', type=int, default=2)
    parser.add_argument('--causal', action='store_true', help='18 candidates (dt in {-1, 0})')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--max-pairs', type=float, default=1.5e8,
                        help='skip global attention above this many voxel-supervoxel pairs')
    args = parser.parse_args(argv)
    cell = tuple(args.cell)
    print(f'torch={torch.__version__} threads={torch.get_num_threads()} C={args.channels} '
          f'heads={args.heads} cell={cell} causal={args.causal} repeat={args.repeat}')
    header = (f'{"clip TxHxW":>12} {"voxels":>8} {"M":>6} | {"local ms":>9} {"global ms":>10} '
              f'{"global/local":>12} | {"local ms/1e6 vox":>16}')
    print(header)
    print('-' * len(header))
    for text in args.clips:
        size = parse_clip(text)
        grid = SuperpixelGrid.of(size, cell)
        g = torch.Generator().manual_seed(0)
        vox = torch.randn(1, args.channels, *size, generator=g)
        svx = torch.randn(1, args.channels, *grid.shape, generator=g)
        fargs = (vox, svx, torch.randn_like(vox), torch.randn_like(svx), cell, args.heads,
                 args.causal)
        voxels = vox[0, 0].numel()
        fns = [local_step]
        if voxels * grid.num_superpixels <= args.max_pairs:
            fns.append(global_step)
        with torch.no_grad():
            ms = interleaved(fns, fargs, args.warmup, args.repeat)
        local = ms[0]
        glob = f'{ms[1]:>10.1f} {ms[1] / local:>12.1f}' if len(ms) > 1 else \
            f'{"skipped":>10} {"-":>12}'
        print(f'{text:>12} {voxels:>8} {grid.num_superpixels:>6} | {local:>9.1f} {glob} | '
              f'{local / voxels * 1e6:>16.1f}')


if __name__ == '__main__':
    main()

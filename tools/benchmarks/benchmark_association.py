"""Benchmark the local 3x3 association against a dense masked reference and global attention.

For each pixel-map size and superpixel stride, one SCA-style step (logits, pixel-side softmax,
unfolding of superpixel values; and the superpixel-side update) is timed for:

* ``local``  — mmsp's block implementation (``mmsp.ops``);
* ``dense``  — the masked global reference (``mmsp.ops.reference``), same result;
* ``global`` — plain global pixel->superpixel attention (no mask), the cost baseline.

Times (median of ``--repeat`` runs after ``--warmup``) and peak memory are printed with the
ratios ``dense/local`` and ``global/local`` measured in the same run. Peak memory is the peak of
live tensor memory during one call: ``torch.profiler`` memory events on CPU,
``torch.cuda.max_memory_allocated`` on CUDA.

Example::

    python tools/benchmarks/benchmark_association.py --sizes 64 128 256 512 \\
        --strides 4 8 16 --channels 64
"""
import argparse
import gc
import resource
import statistics
import time

import torch

from mmsp.ops import (SuperpixelGrid, association_logits, association_weights, superpixel_update,
                      unfold_superpixels)
from mmsp.ops.reference import dense_superpixel_update, dense_unfold, global_attention


def local_step(pix, sp, pv, sv, stride, heads):
    logits = association_logits(pix, sp, stride, heads)
    return unfold_superpixels(association_weights(logits), sv, stride), superpixel_update(
        logits, pv, stride)


def dense_step(pix, sp, pv, sv, stride, heads):
    return dense_unfold(pix, sp, sv, stride, heads), dense_superpixel_update(
        pix, sp, pv, stride, heads)


def global_step(pix, sp, pv, sv, stride, heads):
    # both directions, as in the other two: pixels attend to all superpixels and vice versa
    return global_attention(pix, sp, sv, heads), global_attention(sp, pix, pv, heads)


METHODS = {'local': local_step, 'dense': dense_step, 'global': global_step}


def measure(fn, args, device, warmup, repeat):
    for _ in range(warmup):
        fn(*args)
    if device.type == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        if device.type == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == 'cuda' else float('nan')
    return statistics.median(times) * 1e3, peak


def cpu_peak_mb(fn, args):
    """Peak tensor memory of one call on CPU, via the profiler's memory accounting."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn(*args)
    # cumulative allocations minus frees in time order give the live-tensor curve
    events = sorted((e for e in prof.events() if e.cpu_memory_usage != 0),
                    key=lambda e: e.time_range.start)
    live = peak = 0
    for e in events:
        live += e.cpu_memory_usage
        peak = max(peak, live)
    return peak / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[64, 128, 256, 512])
    parser.add_argument('--strides', type=int, nargs='+', default=[4, 8, 16])
    parser.add_argument('--channels', type=int, default=64)
    parser.add_argument('--heads', type=int, default=2)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--max-dense-pairs', type=float, default=2.5e8,
                        help='skip dense/global when H*W*h*w exceeds this (memory)')
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f'device={device} torch={torch.__version__} threads={torch.get_num_threads()} '
          f'C={args.channels} heads={args.heads} batch={args.batch}')
    header = (f'{"size":>5} {"s":>3} {"M_sp":>6} | {"local ms":>9} {"dense ms":>9} '
              f'{"global ms":>9} | {"dense/local":>11} {"global/local":>12} | '
              f'{"local MB":>8} {"dense MB":>8} {"global MB":>9}')
    print(header)
    print('-' * len(header))
    rows = []
    for size in args.sizes:
        for stride in args.strides:
            grid = SuperpixelGrid.of((size, size), stride)
            g = torch.Generator().manual_seed(0)
            pix = torch.randn(args.batch, args.channels, size, size, generator=g).to(device)
            sp = torch.randn(args.batch, args.channels, grid.rows, grid.cols,
                             generator=g).to(device)
            pv, sv = torch.randn_like(pix), torch.randn_like(sp)
            fargs = (pix, sp, pv, sv, stride, args.heads)
            pairs = size * size * grid.num_superpixels * args.batch * args.heads
            res = {}
            for name, fn in METHODS.items():
                if name != 'local' and pairs > args.max_dense_pairs:
                    res[name] = (float('nan'), float('nan'))
                    continue
                with torch.no_grad():
                    ms, peak = measure(fn, fargs, device, args.warmup, args.repeat)
                    if device.type == 'cpu':
                        peak = cpu_peak_mb(fn, fargs)
                res[name] = (ms, peak)
                gc.collect()
            loc = res['local'][0]
            print(f'{size:>5} {stride:>3} {grid.num_superpixels:>6} | {loc:>9.2f} '
                  f'{res["dense"][0]:>9.2f} {res["global"][0]:>9.2f} | '
                  f'{res["dense"][0] / loc:>11.2f} {res["global"][0] / loc:>12.2f} | '
                  f'{res["local"][1]:>8.1f} {res["dense"][1]:>8.1f} {res["global"][1]:>9.1f}')
            rows.append((size, stride, loc))
    # scaling: ms per megapixel of the local method at each stride
    print('\nlocal ms per 1e6 pixels (linear scaling => roughly constant along a stride):')
    for stride in args.strides:
        vals = [f'{size}:{ms / (size * size * args.batch) * 1e6:.1f}' for size, st, ms in rows
                if st == stride]
        print(f'  s={stride:<3} ' + '  '.join(vals))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'max RSS of this process: {rss:.0f} MB')


if __name__ == '__main__':
    main()

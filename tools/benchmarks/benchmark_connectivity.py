"""Speed and piece counts of mmsp's connectivity pass next to scikit-image's, on the same maps.

Usage::

    python tools/benchmarks/benchmark_connectivity.py [--data-root ../shared/data/bsds500]
        [--num-images 20] [--n-segments 200] [--min-size-factor 0.5] [--repeats 5]
        [--synthetic 5] [--out results.json]

Compared on every map, interleaved (round ``i`` times one call of each pass, the order
alternating between rounds; the minimum over ``--repeats`` rounds is reported):

* **ours**: :func:`mmsp.ops.enforce_connectivity` (``skimage.measure.label`` pieces, small
  pieces merged into the best-bordering large piece);
* **skimage**: the connectivity pass of ``skimage.segmentation.slic``,
  ``skimage.segmentation._slic._enforce_label_connectivity_cython`` (a small piece joins the
  piece met before it in raster order). It is called with ``max_size = H * W``: with the
  ``3 * segment size`` that ``slic`` passes, the pass cuts any larger region into pieces.

Both get ``min_size = int(min_size_factor * H * W / n_segments)`` (``slic``'s rule, factor
0.5 by default). Maps:

* ``synthetic`` (always): a 321x481 grid of ``n_segments`` cells whose boundaries are bent by
  a smooth random displacement and salted with 2 % stray pixels (fragments of 1-20 pixels);
* ``slic`` and ``grid`` (when ``--data-root`` holds BSDS500 ``images/val``): scikit-image SLIC
  without its own connectivity step (``enforce_connectivity=False``), and the regular grid
  (already connected: the cost of the pass on a clean map).

Printed per map: ms of both passes, their ratio (ours / skimage) and the number of regions
each returns; then the median ratio per kind of map.
"""
import argparse
import glob
import json
import os.path as osp
import statistics
import time
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
from scipy import ndimage

from mmsp.ops import enforce_connectivity

BSDS_SHAPE = (321, 481)


def skimage_pass() -> Callable[[np.ndarray, int], np.ndarray]:
    """scikit-image's connectivity pass of SLIC, as ``f(ids, min_size) -> ids``."""
    try:
        from skimage.segmentation._slic import _enforce_label_connectivity_cython
    except ImportError as err:  # private: may move in a later scikit-image
        import skimage
        raise SystemExit(f'scikit-image {skimage.__version__} has no '
                         f'segmentation._slic._enforce_label_connectivity_cython: {err}')

    def run(ids: np.ndarray, min_size: int) -> np.ndarray:
        return _enforce_label_connectivity_cython(
            np.ascontiguousarray(ids[None], dtype=np.intp), min_size, ids.size, start_label=0)[0]

    return run


def synthetic_map(seed: int, n_segments: int, shape: Tuple[int, int] = BSDS_SHAPE) -> np.ndarray:
    """A grid of about ``n_segments`` cells with bent boundaries and stray pixels."""
    rng = np.random.default_rng(seed)
    h, w = shape
    side = max(1, int(round((h * w / n_segments)**0.5)))
    cols = -(-w // side)
    shift = [ndimage.gaussian_filter(rng.standard_normal(shape), 6) * 6 * side for _ in range(2)]
    ys, xs = np.mgrid[:h, :w]
    rows_of = np.clip(ys + shift[0], 0, h - 1).astype(int) // side
    cols_of = np.clip(xs + shift[1], 0, w - 1).astype(int) // side
    ids = rows_of * cols + cols_of
    stray = rng.random(shape) < 0.02
    ids[stray] = np.roll(ids, (side // 2, side // 2), axis=(0, 1))[stray]
    return ids


def grid_map(shape: Tuple[int, int], n_segments: int) -> np.ndarray:
    """The regular grid of about ``n_segments`` square cells."""
    h, w = shape
    side = max(1, int(round((h * w / n_segments)**0.5)))
    return (np.arange(h)[:, None] // side) * (-(-w // side)) + np.arange(w)[None] // side


def maps(args: argparse.Namespace) -> Iterator[Tuple[str, str, np.ndarray]]:
    """``(kind, name, ids)`` of every map to time."""
    for seed in range(args.synthetic):
        yield 'synthetic', f'seed{seed}', synthetic_map(seed, args.n_segments)
    files = sorted(glob.glob(osp.join(args.data_root or '', 'images', 'val', '*.jpg')))
    if args.data_root and not files:
        print(f'no BSDS500 images under {args.data_root}/images/val: synthetic maps only')
    for path in files[:args.num_images]:
        from skimage import io
        from skimage.segmentation import slic
        img = io.imread(path)
        name = osp.splitext(osp.basename(path))[0]
        yield 'slic', name, slic(img, n_segments=args.n_segments, enforce_connectivity=False,
                                 start_label=0)
        yield 'grid', name, grid_map(img.shape[:2], args.n_segments)


def time_pair(ids: np.ndarray, min_size: int, repeats: int,
              theirs: Callable) -> Dict[str, float]:
    """Minimum ms over ``repeats`` interleaved rounds, and the region counts of both passes."""
    ours_ms, theirs_ms = [], []
    for i in range(repeats):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for which in order:
            start = time.perf_counter()
            if which == 0:
                ours, count = enforce_connectivity(ids, min_size)
                ours_ms.append(1e3 * (time.perf_counter() - start))
            else:
                out = theirs(ids, min_size)
                theirs_ms.append(1e3 * (time.perf_counter() - start))
    return dict(
        ours_ms=min(ours_ms),
        skimage_ms=min(theirs_ms),
        ratio=min(ours_ms) / min(theirs_ms),
        ours_regions=count,
        skimage_regions=int(len(np.unique(out))),
        input_ids=int(len(np.unique(ids))))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default=None,
                        help='BSDS500 root holding images/val (optional)')
    parser.add_argument('--num-images', type=int, default=20)
    parser.add_argument('--n-segments', type=int, default=200)
    parser.add_argument('--min-size-factor', type=float, default=0.5,
                        help='min_size = factor * H * W / n_segments (slic: 0.5)')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--synthetic', type=int, default=5, help='number of synthetic maps')
    parser.add_argument('--out', help='also write the rows to this JSON file')
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.n_segments < 1 or args.synthetic < 0:
        parser.error('--repeats and --n-segments must be >= 1, --synthetic >= 0')
    return args


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    theirs = skimage_pass()
    rows = []
    print(f'{"map":<24}{"ours ms":>9}{"skimage ms":>12}{"ratio":>7}{"ours K":>8}'
          f'{"skimage K":>11}{"input K":>9}')
    for kind, name, ids in maps(args):
        min_size = int(args.min_size_factor * ids.size / args.n_segments)
        row = dict(kind=kind, name=name, min_size=min_size,
                   **time_pair(ids, min_size, args.repeats, theirs))
        rows.append(row)
        print(f'{kind + "/" + name:<24}{row["ours_ms"]:>9.2f}{row["skimage_ms"]:>12.2f}'
              f'{row["ratio"]:>7.2f}{row["ours_regions"]:>8}{row["skimage_regions"]:>11}'
              f'{row["input_ids"]:>9}')
    for kind in dict.fromkeys(r['kind'] for r in rows):
        sel = [r for r in rows if r['kind'] == kind]
        extra = [r['ours_regions'] / r['skimage_regions'] - 1 for r in sel]
        print(f'{kind}: {len(sel)} maps, median ratio (ours / skimage) '
              f'{statistics.median(r["ratio"] for r in sel):.2f}, median ours '
              f'{statistics.median(r["ours_ms"] for r in sel):.2f} ms, regions ours vs skimage '
              f'{100 * statistics.median(extra):+.1f} % (median)')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == '__main__':
    main()

"""Draw supervoxels over a clip: one row per method, one colour per supervoxel in every frame.

The clip is public domain: a 240 x 320 window panning across scikit-image's ``astronaut()``
(``--step`` pixels to the right and down per frame), so the scene moves as under a camera pan.
Each supervoxel keeps its colour in every frame it occupies (ids coloured over the whole clip),
so a supervoxel that follows the motion shows as a patch of constant colour moving along, and
a per-frame superpixel changes colour from frame to frame. Methods: the 3-D grid, SLIC-3D and,
with ``--config`` / ``--checkpoint``, a trained ``SPVideoEncoderDecoder`` (e.g. SPFormer3D);
the same definitions as ``tools/eval_supervoxels.py``.

Example (the picture of ``configs/supervoxel/README.md``)::

    python tools/visualization/visualize_supervoxels.py \\
        --config configs/supervoxel/spformer3d-t_1xb2-400it_camvid-clips-2x120x160.py \\
        --checkpoint work_dirs/spformer3d-t_1xb2-400it_camvid-clips-2x120x160/iter_400.pth \\
        --show 0 1 2 3 --colors 256 --out docs/figures/supervoxels_astronaut_pan.png
"""
import argparse
import importlib.util
import os.path as osp
from typing import Dict, Tuple

import cv2
import numpy as np
import torch

import mmsp  # noqa: F401
from mmsp.visualization.drawing import colorize_ids, draw_boundaries, make_panel, save_rgb


def _eval_tool():
    tools = osp.dirname(osp.dirname(osp.abspath(__file__)))
    path = osp.join(tools, 'eval_supervoxels.py')
    spec = importlib.util.spec_from_file_location('mmsp_tools_eval_supervoxels', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def astronaut_pan(frames: int, size: Tuple[int, int], step: int) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB: windows of ``size`` moving ``step`` px right and down per frame
    over ``skimage.data.astronaut()`` (512 x 512)."""
    from skimage.data import astronaut
    image = astronaut()
    h, w = size
    if (frames - 1) * step + max(h, w) > image.shape[0]:
        raise ValueError(f'--step {step}: {frames} frames of {size} leave the 512 x 512 image')
    return np.stack([image[t * step:t * step + h, 100 + t * step:100 + t * step + w]
                     for t in range(frames)])


def overlay(rgb: np.ndarray, ids: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Frames (T, H, W, 3) with every supervoxel's colour blended in and its boundaries."""
    colours = colorize_ids(ids)  # (T, H, W, 3): one colour per id over the whole clip
    blended = np.round((1 - alpha) * rgb + alpha * colours).astype(np.uint8)
    return np.stack([draw_boundaries(f, i, color=(255, 255, 255)) for f, i in zip(blended, ids)])


def main(argv=None) -> Dict[str, np.ndarray]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--frames', type=int, default=8)
    parser.add_argument('--size', type=int, nargs=2, default=[240, 320], metavar=('H', 'W'))
    parser.add_argument('--step', type=int, default=6, help='pan in px per frame')
    parser.add_argument('--cell', type=int, nargs=3, default=[2, 16, 16])
    parser.add_argument('--config', default=None)
    parser.add_argument('--checkpoint', default=None)
    parser.add_argument('--scale', type=float, default=0.5, help='drawn frame size factor')
    parser.add_argument('--colors', type=int, default=None,
                        help='write a palette PNG of this many colours (at most 256)')
    parser.add_argument('--show', type=int, nargs='+', default=None,
                        help='frames to draw (default: all)')
    parser.add_argument('--out', required=True, help='PNG file')
    args = parser.parse_args(argv)
    if (args.config is None) != (args.checkpoint is None):
        raise ValueError('--config and --checkpoint go together')
    tool = _eval_tool()
    size, cell = tuple(args.size), tuple(args.cell)
    rgb = astronaut_pan(args.frames, size, args.step)
    target = tool.count(tool.grid_3d(rgb.shape[:3], cell))
    spacing = (cell[1] / cell[0], 1., 1.)
    results = {
        'grid-3d': tool.grid_3d(rgb.shape[:3], cell),
        'slic-3d': tool.match_count(lambda n: tool.slic_3d(rgb, n, 10., spacing), target,
                                    target),
    }
    if args.config is not None:
        model = tool.build_segmentor(args.config, args.checkpoint)
        clip = dict(inputs=torch.from_numpy(np.ascontiguousarray(rgb[..., ::-1].transpose(
            3, 0, 1, 2))), labels=np.zeros(rgb.shape[:3], np.int64))
        results['spformer3d'] = tool.run_segmentor(model, clip)[0]
    h, w = (int(round(v * args.scale)) for v in size)
    show = list(range(args.frames)) if args.show is None else args.show
    if any(not 0 <= t < args.frames for t in show):
        raise ValueError(f'--show: frames {show} outside 0..{args.frames - 1}')
    tiles, titles = [], []
    for name, ids in results.items():
        drawn = overlay(rgb, ids)
        for k, t in enumerate(show):
            tiles.append(cv2.resize(drawn[t], (w, h), interpolation=cv2.INTER_AREA))
            titles.append(f'{name}: {tool.count(ids)} sv, t={t}' if k == 0 else f't={t}')
    panel = make_panel(tiles, titles, cols=len(show))
    if args.colors:  # a palette PNG: a few times smaller for docs
        from PIL import Image
        Image.fromarray(panel).quantize(colors=args.colors).save(args.out, optimize=True)
    else:
        save_rgb(args.out, panel)
    print(f'wrote {args.out}: rows {list(results)}; counts '
          f'{ {k: tool.count(v) for k, v in results.items()} }')
    return results


if __name__ == '__main__':
    main()

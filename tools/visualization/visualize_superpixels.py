"""Draw the superpixels of several methods side by side, with rotation / occlusion variants.

For every image and every variant (original, each ``--rotate`` angle, ``--occlude``) and every
method, the output PNG shows the superpixel boundaries over the image, the mean-colour
superpixel image and, for methods that expose their association (``SuperpixelPredictor``), the
soft association as a heat map: of the superpixel under ``--superpixel Y X`` (default: the image
centre) or of the pixel ``--pixel Y X`` (original-image coordinates).

Usage::

    python tools/visualization/visualize_superpixels.py IMG [IMG ...] \\
        --method configs/superpixel_eval/patch-grid_14x14_voc12-val.py \\
        --method configs/superpixel_eval/spformer-s_zeroshot-224_voc12-val.py spformer_s.pth \\
        --method configs/superpixel_eval/slic_n196_voc12-val.py \\
        [--rotate 15 45] [--occlude 64] [--pixel 120 200] [--out-dir work_dirs/vis_superpixels]

The occlusion square is placed at (80, 80) of the original image and filled with the ImageNet
mean colour (the SPFormer robustness setting zeroes the normalised 224x224 input there).

A checkpoint must match its method's model (:func:`mmsp.utils.load_model_checkpoint`, with the
config's ``load_prefix``): missing, unexpected or shape-mismatched keys stop the tool with an
error naming them; ``--non-strict`` loads what matches and logs the rest.
"""
import argparse
import copy
import os.path as osp
import sys
from typing import List, Optional, Tuple

import cv2
import mmcv
import numpy as np
import mmsp  # noqa: F401
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from mmsp.utils import (add_method_argument, add_non_strict_argument, load_model_checkpoint,
                        method_names)
from mmsp.visualization import (association_heatmap, draw_boundaries, draw_colorbar, fit_width,
                                make_panel, mean_color_image, occlude_image, overlay_heatmap,
                                rotate_image, save_rgb)

ANNOTATION_LOADERS = ('LoadAnnotations', 'LoadBSDSAnnotations')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Visualise superpixels of several methods')
    parser.add_argument('images', nargs='+', help='image files')
    add_method_argument(parser, 'config [checkpoint]; repeat')
    parser.add_argument(
        '--rotate',
        type=float,
        nargs='*',
        default=[],
        help='also draw the image rotated by these angles (degrees)')
    parser.add_argument(
        '--occlude',
        type=int,
        help='also draw the image with a square of this '
        'side occluded at (80, 80)')
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        '--pixel',
        type=int,
        nargs=2,
        metavar=('Y', 'X'),
        help='heat map of this pixel\'s association')
    group.add_argument(
        '--superpixel',
        type=int,
        nargs=2,
        metavar=('Y', 'X'),
        help='heat map of the superpixel whose grid cell contains this pixel')
    parser.add_argument('--out-dir', default='work_dirs/vis_superpixels')
    add_non_strict_argument(parser, 'each model')
    parser.add_argument('--max-width', type=int, default=2000,
                        help='width of the figure at most (pixels); panels are scaled down')
    args = parser.parse_args(argv)
    return args


class Method:
    """A superpixel model with the in-memory version of its config's test pipeline."""

    def __init__(self,
                 config: str,
                 checkpoint: Optional[str],
                 name: Optional[str] = None,
                 strict: Optional[bool] = None) -> None:
        cfg = Config.fromfile(config)
        self.name = name or osp.splitext(osp.basename(config))[0]
        model_cfg = copy.deepcopy(cfg.model)
        if str(model_cfg.get('type', '')).endswith('SuperpixelPredictor'):
            model_cfg['return_association'] = True
        self.model = MODELS.build(model_cfg).eval()
        if checkpoint:
            strict = cfg.get('load_strict', True) if strict is None else strict
            load_model_checkpoint(self.model, checkpoint, strict, cfg.get('load_prefix', ''))
        steps = []
        for step in copy.deepcopy(cfg.test_dataloader.dataset.pipeline):
            kind = str(step['type']).split('.')[-1]
            if kind in ANNOTATION_LOADERS:
                continue
            if kind == 'LoadImageFromFile':
                step = dict(type='LoadImageFromNDArray')
            elif kind.startswith('Pack'):
                step = dict(type='PackSegInputs')
            steps.append(step)
        self.pipeline = Compose(steps)

    def __call__(self, bgr: np.ndarray):
        data = pseudo_collate([self.pipeline(dict(img=bgr))])
        return self.model.test_step(data)[0]


def heat_map(sample, rgb: np.ndarray, pixel: Optional[Tuple[int, int]],
             superpixel: Optional[Tuple[int, int]]) -> Optional[Tuple[np.ndarray, str]]:
    """(association heat map at the association's resolution, its title), or None if the
    method has no association."""
    if 'pred_association' not in sample:
        return None
    logits = sample.pred_association.data.cpu().numpy()
    cell = int(sample.metainfo['association_cell_size'])
    stride = int(sample.metainfo['association_pixel_stride'])
    ori_h, ori_w = rgb.shape[:2]
    in_h, in_w = sample.metainfo['img_shape'][:2]
    h, w = -(-in_h // stride), -(-in_w // stride)  # association pixels covering the input
    point = pixel or superpixel or (ori_h // 2, ori_w // 2)
    ya = min(h - 1, int(point[0] * in_h / ori_h / stride))
    xa = min(w - 1, int(point[1] * in_w / ori_w / stride))
    if pixel is not None:
        heat = association_heatmap(logits, cell, pixel=(ya, xa))
        title = f'association of pixel ({point[0]}, {point[1]})'
    else:
        heat = association_heatmap(logits, cell, superpixel=(ya // cell, xa // cell))
        title = f'association of the superpixel at ({point[0]}, {point[1]})'
    return heat[:h, :w], title


def heat_panel(heat: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The heat map over ``rgb`` (normalised to its maximum) with a colour bar from 0 to it
    (left out on panels under 60x24 pixels, too small to hold one)."""
    panel = overlay_heatmap(rgb, heat)
    if panel.shape[0] < 24 or panel.shape[1] < 60:
        return panel
    return draw_colorbar(panel, 0.0, float(heat.max()))


def variants(rgb: np.ndarray, args) -> List[Tuple[str, np.ndarray]]:
    out = [('original', rgb)]
    out += [(f'rotated {a:g} deg', rotate_image(rgb, a)) for a in args.rotate]
    if args.occlude:
        out.append((f'occluded {args.occlude}px', occlude_image(rgb, args.occlude)))
    return out


def resize(img: np.ndarray, size: Tuple[int, int], nearest: bool = False) -> np.ndarray:
    """``img`` resized to ``size = (H, W)``."""
    if img.shape[:2] == tuple(size):
        return img
    mode = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return cv2.resize(img, (size[1], size[0]), interpolation=mode)


def draw_image(path: str, methods: List[Method], args) -> np.ndarray:
    """One figure: a row per variant; per method its boundaries, mean colours and (for methods
    with an association) the heat map, at most ``args.max_width`` pixels wide."""
    rgb = mmcv.imread(path, channel_order='rgb')
    if rgb is None:
        raise FileNotFoundError(f'cannot read image {path}')
    rows = []
    for label, img in variants(rgb, args):
        row = []
        for method in methods:
            sample = method(np.ascontiguousarray(img[..., ::-1]))
            ids = sample.pred_superpixels.data[0].cpu().numpy()
            row.append((method, img, ids, heat_map(sample, img, args.pixel, args.superpixel)))
        rows.append((label, row))
    cols = sum(3 if heat is not None else 2 for _, _, _, heat in rows[0][1])
    size = fit_width(rgb.shape[:2], cols, args.max_width)
    panels, titles = [], []
    for label, row in rows:
        for method, img, ids, heat in row:
            small, small_ids = resize(img, size), resize(ids.astype(np.int32), size, True)
            suffix = '' if label == 'original' else f', {label}'
            panels += [draw_boundaries(small, small_ids), mean_color_image(small, small_ids)]
            titles += [f'{method.name}: {len(np.unique(ids))} superpixels{suffix}', 'mean colour']
            if heat is not None:
                panels.append(heat_panel(heat[0], small))
                titles.append(heat[1])
    return make_panel(panels, titles, cols=cols)


def main(argv: Optional[List[str]] = None) -> List[str]:
    args = parse_args(argv)
    init_default_scope('mmseg')
    methods = [
        Method(m[0], m[1] if len(m) > 1 else None, name, False if args.non_strict else None)
        for m, name in zip(args.method, method_names(args.method))
    ]
    written = []
    for path in args.images:
        out = osp.join(args.out_dir, osp.splitext(osp.basename(path))[0] + '_superpixels.png')
        written.append(save_rgb(out, draw_image(path, methods, args)))
        print(f'wrote {out}')
    return written


if __name__ == '__main__':
    main(sys.argv[1:])

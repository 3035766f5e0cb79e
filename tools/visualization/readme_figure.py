"""Draw a model's superpixels on a public-domain scikit-image picture (the README's figure).

The picture is one of scikit-image's public-domain images (``astronaut``, ``coffee`` or
``chelsea``), so the figure may be published. The model is any mmseg config + checkpoint whose
predictions carry ``pred_superpixels`` (``SPEncoderDecoder`` models, e.g. the SP-head
configs); the figure shows the superpixel boundaries over the image and the mean-colour
superpixel image, with the model named in the panel titles. For a two-level model
(``HierSPEncoderDecoder``, configs/lgformer) the groups are drawn the same way next to them.

Usage::

    python tools/visualization/readme_figure.py CONFIG CHECKPOINT \\
        [--image astronaut] [--size 384] [--out docs/figures/readme_superpixels.png]
"""
import argparse
from typing import List, Optional

import cv2
import mmcv
import numpy as np
from mmseg.apis import inference_model, init_model

import mmsp  # noqa: F401  (registers mmsp's models)
from mmsp.visualization import draw_boundaries, make_panel, mean_color_image, save_rgb

IMAGES = ('astronaut', 'coffee', 'chelsea')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Draw a model's superpixels on a public-domain "
                                     'scikit-image picture')
    parser.add_argument('config', help='mmseg config of a model that yields pred_superpixels')
    parser.add_argument('checkpoint', help='its checkpoint')
    parser.add_argument('--image', choices=IMAGES, default='astronaut',
                        help='scikit-image public-domain picture')
    parser.add_argument('--size', type=int, default=384,
                        help='longer side of the picture fed to the model and drawn (pixels)')
    parser.add_argument('--label', default=None,
                        help='model name written in the titles (default: the config file name)')
    parser.add_argument('--out', default='docs/figures/readme_superpixels.png', help='PNG path')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def load_image(name: str, size: int) -> np.ndarray:
    """The scikit-image picture ``name`` (RGB uint8), resized so its longer side is ``size``."""
    from skimage import data
    if name not in IMAGES:
        raise ValueError(f'--image must be one of {IMAGES}, got {name!r}')
    img = getattr(data, name)()
    scale = size / max(img.shape[:2])
    h, w = round(img.shape[0] * scale), round(img.shape[1] * scale)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def draw_figure(img: np.ndarray,
                ids: np.ndarray,
                label: str,
                groups: Optional[np.ndarray] = None) -> np.ndarray:
    """Labelled panels: boundaries over ``img`` and the mean-colour superpixel image; with
    ``groups`` (a two-level model's ``pred_groups``) the same two for the groups."""
    panels = [draw_boundaries(img, ids), mean_color_image(img, ids)]
    titles = [f'{label}: {len(np.unique(ids))} superpixels', 'each superpixel in its mean colour']
    if groups is not None:
        panels += [draw_boundaries(img, groups), mean_color_image(img, groups)]
        titles += [f'{len(np.unique(groups))} groups', 'each group in its mean colour']
    return make_panel(panels, titles)


def main(argv: Optional[List[str]] = None) -> str:
    args = parse_args(argv)
    model = init_model(args.config, args.checkpoint, device=args.device)
    # no labels at inference: drop the test pipeline's label steps (inference_model drops
    # LoadAnnotations itself, not the two-level models' label mapping that follows it)
    model.cfg.test_pipeline = [
        t for t in model.cfg.test_pipeline
        if t['type'].split('.')[-1] not in ('LoadAnnotations', 'MapLabels', 'LoadExtraSegMap')
    ]
    img = load_image(args.image, args.size)
    result = inference_model(model, mmcv.rgb2bgr(img))  # mmseg pipelines read images as BGR
    if 'pred_superpixels' not in result:
        raise ValueError(f'{args.config}: the model returns no pred_superpixels (use a model '
                         'built as SPEncoderDecoder, e.g. an SP-head config)')
    ids = result.pred_superpixels.data[0].cpu().numpy()
    groups = result.pred_groups.data[0].cpu().numpy() if 'pred_groups' in result else None
    label = args.label or args.config.rsplit('/', 1)[-1].rsplit('.', 1)[0]
    path = save_rgb(args.out, draw_figure(img, ids, label, groups))
    print(f'wrote {path}')
    return path


if __name__ == '__main__':
    main()

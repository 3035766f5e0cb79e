"""Picture of an SP-MAE model: masked input, reconstruction and learned superpixels.

For a few public-domain scikit-image photographs (``astronaut``, ``coffee``, ``chelsea``), each
centre-cropped to a square and resized to the pre-training size, one row of panels:

1. the image;
2. the partition that was masked (EMA teacher superpixels, grid or SLIC) with its boundaries;
3. the masked input the encoder sees (masked superpixels, dilated, in the learned fill colour);
4. the reconstruction: the head's per-cell normalised prediction mapped back with each cell's
   true mean and standard deviation (MAE's visualisation convention), visible pixels pasted;
5. the student's own superpixels (last stage, hard argmax) on the image at ``--zero-shot-size``
   px (the zero-shot protocol), shown at panel size.

Usage (from the repository root)::

    python tools/visualize_spmae.py configs/spmae/spmae_spformer-t-s8_1xb32-200it_cifar10-64px.py \\
        CKPT --out configs/spmae/spmae_reconstruction.png [--seed 0] [--panel 160]
"""
import argparse
import sys
from typing import List, Optional

import mmsp  # noqa: F401  isort:skip  (registers mmsp)
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner.checkpoint import load_checkpoint
from PIL import Image, ImageDraw
from skimage import data as skdata
from skimage.segmentation import find_boundaries

from mmsp.utils import build_model_from_config

IMAGES = ('astronaut', 'coffee', 'chelsea')
TITLES = ('image', 'masked partition', 'masked input', 'reconstruction', 'student superpixels')


def square(img: np.ndarray, size: int) -> np.ndarray:
    """Centre square crop of an (H, W, 3) uint8 image, resized to ``size`` (bicubic)."""
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(img[top:top + side, left:left + side])
    return np.asarray(crop.resize((size, size), Image.BICUBIC))


def panel(rgb: np.ndarray, size: int, ids: Optional[np.ndarray] = None) -> Image.Image:
    """An RGB panel (nearest upscaling), with the boundaries of ``ids`` drawn in yellow."""
    img = np.asarray(Image.fromarray(rgb).resize((size, size), Image.NEAREST)).copy()
    if ids is not None:
        big = Image.fromarray(ids.astype(np.int32)).resize((size, size), Image.NEAREST)
        big = np.asarray(big)
        img[find_boundaries(big, mode='inner')] = (255, 230, 0)
    return Image.fromarray(img)


@torch.no_grad()
def rows_of(model, cfg: Config, size: int, zero_shot_size: int, seed: int) -> List[List]:
    pre = cfg.model.get('data_preprocessor') or cfg.data_preprocessor
    mean = torch.tensor(pre['mean']).view(1, 3, 1, 1)
    std = torch.tensor(pre['std']).view(1, 3, 1, 1)
    rows = []
    for index, name in enumerate(IMAGES):
        rgb = square(getattr(skdata, name)(), size)
        x = (torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() - mean) / std
        torch.manual_seed(seed + index)
        part = model.partition(x)
        keep_ids, token_mask = model.random_masking(1, (size // model.stride)**2, x.device)
        pixel_mask = model.mask_pixels(part.ids, token_mask)
        latent, _ = model.encode(x, pixel_mask, keep_ids)
        pred = model.head(model.neck(latent, keep_ids), part.weights)  # normalised per cell
        # back to pixels with each cell's true statistics (MAE's visualisation)
        p = model.stride
        cells = F.unfold(x, p, stride=p).view(1, 3 * p * p, -1)
        mu = cells.mean(1, keepdim=True).expand(1, 3 * p * p, -1)
        sd = (cells.var(1, unbiased=True, keepdim=True) + 1e-6).sqrt().expand(1, 3 * p * p, -1)
        fold = dict(output_size=(size, size), kernel_size=p, stride=p)
        recon = pred * F.fold(sd, **fold) + F.fold(mu, **fold)
        m = pixel_mask[:, None]
        recon = torch.where(m, recon, x)
        masked = torch.where(m, model.fill_colour.view(1, 3, 1, 1), x)
        big = F.interpolate(x, size=(zero_shot_size, zero_shot_size), mode='bicubic',
                            align_corners=False)
        student, _ = model.backbone.forward_superpixels(big)

        def to_rgb(t):
            return (t * std + mean).clamp(0, 255)[0].permute(1, 2, 0).byte().numpy()

        rows.append([(rgb, None), (rgb, part.ids[0].numpy()), (to_rgb(masked), None),
                     (to_rgb(recon), None),
                     (square(getattr(skdata, name)(), zero_shot_size), student[0].numpy())])
    return rows


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description='SP-MAE reconstruction / superpixel picture')
    parser.add_argument('config', help='an SP-MAE pre-training config')
    parser.add_argument('checkpoint', help='its checkpoint')
    parser.add_argument('--out', required=True, help='output .png')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random token masks')
    parser.add_argument('--panel', type=int, default=224, help='panel side in pixels')
    parser.add_argument('--zero-shot-size', type=int, default=224,
                        help='input side for the student superpixels')
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    model = build_model_from_config(cfg)
    load_checkpoint(model, args.checkpoint, map_location='cpu', logger='silent')
    MessageHub.get_current_instance().update_info('max_iters', 1)
    model.eval()
    size = cfg.model.backbone.img_size
    rows = rows_of(model, cfg, size, args.zero_shot_size, args.seed)
    pad, title_h, s = 4, 18, args.panel
    sheet = Image.new('RGB', (len(TITLES) * (s + pad) + pad, title_h + len(rows) * (s + pad)),
                      'white')
    draw = ImageDraw.Draw(sheet)
    for col, title in enumerate(TITLES):
        draw.text((pad + col * (s + pad) + 4, 3), title, fill='black')
    for r, row in enumerate(rows):
        for col, (rgb, ids) in enumerate(row):
            sheet.paste(panel(rgb, s, ids), (pad + col * (s + pad), title_h + r * (s + pad)))
    # 256 colours keep the sheet small (< 300 KB at the default sizes)
    sheet.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(args.out, optimize=True)
    print(f'{args.out}: {sheet.size[0]}x{sheet.size[1]} px')


if __name__ == '__main__':
    main(sys.argv[1:])

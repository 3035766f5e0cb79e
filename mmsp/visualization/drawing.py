"""Superpixel drawing primitives: boundaries, mean colours, association heat maps, panels.

Pure numpy + OpenCV (no display, no matplotlib). Images are (H, W, 3) uint8 **RGB**; write them
with :func:`save_rgb` (converts to BGR for ``cv2.imwrite``).
"""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from mmsp.evaluation.functional import boundary_map, compact_ids
from mmsp.ops import SuperpixelGrid

__all__ = [
    'draw_boundaries', 'mean_color_image', 'colorize_ids', 'association_heatmap', 'overlay_heatmap',
    'make_panel', 'wrap_title', 'rotate_image', 'occlude_image', 'save_rgb', 'IMAGENET_MEAN_RGB',
    'draw_colorbar', 'fit_width'
]

#: Fill of the occlusion square: zero in an ImageNet-normalised image is the mean colour.
IMAGENET_MEAN_RGB = (123.675, 116.28, 103.53)


def _check_img_ids(img: np.ndarray, ids: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    img, ids = np.asarray(img), np.asarray(ids)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'expected an (H, W, 3) image, got {img.shape}')
    if ids.shape != img.shape[:2]:
        raise ValueError(f'superpixel ids {ids.shape} and image {img.shape[:2]} differ in size')
    return img, ids


def draw_boundaries(img: np.ndarray,
                    ids: np.ndarray,
                    color: Sequence[int] = (255, 255, 0),
                    thickness: int = 1) -> np.ndarray:
    """Superpixel boundaries (4-neighbour, both sides) painted over the image.

    Args:
        img (np.ndarray): (H, W, 3) uint8 RGB.
        ids (np.ndarray): (H, W) superpixel ids.
        color (Sequence[int]): RGB colour of the boundaries.
        thickness (int): line width in pixels (the boundary map is dilated).

    Returns:
        np.ndarray: (H, W, 3) uint8 copy with the boundaries drawn.
    """
    img, ids = _check_img_ids(img, ids)
    mask = boundary_map(ids, 'stutz')
    if thickness > 1:
        mask = cv2.dilate(mask.astype(np.uint8), np.ones((thickness, thickness), np.uint8)) > 0
    out = img.astype(np.uint8).copy()
    out[mask] = np.asarray(color, np.uint8)
    return out


def mean_color_image(img: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Every superpixel filled with its mean colour: (H, W, 3) uint8."""
    img, ids = _check_img_ids(img, ids)
    flat, _ = compact_ids(ids)
    flat = flat.ravel()
    pix = img.reshape(-1, 3).astype(np.float64)
    count = np.bincount(flat)
    means = np.stack([np.bincount(flat, pix[:, c]) for c in range(3)], 1) / count[:, None]
    return np.round(means[flat]).astype(np.uint8).reshape(img.shape)


def colorize_ids(ids: np.ndarray, seed: int = 0) -> np.ndarray:
    """A random but reproducible colour per superpixel id: (H, W, 3) uint8."""
    flat, values = compact_ids(np.asarray(ids))
    colors = np.random.default_rng(seed).integers(40, 256, size=(len(values), 3), dtype=np.uint8)
    return colors[flat]


def association_heatmap(association,
                        cell_size: int,
                        pixel: Optional[Tuple[int, int]] = None,
                        superpixel: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Soft association as an (H, W) map in [0, 1] at the association's resolution.

    Args:
        association (Tensor | np.ndarray): (9, H, W) head-merged **logits** (``-inf`` at invalid
            candidates); the softmax over the 9 candidates is taken here.
        cell_size (int): superpixel cell size ``s`` in association pixels.
        pixel (tuple[int, int], optional): ``(y, x)``: the chosen pixel's probability of belonging
            to each superpixel, painted over that superpixel's current (argmax) extent.
        superpixel (tuple[int, int], optional): ``(row, col)`` of a grid cell: the probability of
            every pixel belonging to that superpixel (zero outside its 3x3-cell window).

    Exactly one of ``pixel`` and ``superpixel`` must be given.
    """
    if (pixel is None) == (superpixel is None):
        raise ValueError('association_heatmap: give exactly one of pixel and superpixel')
    logits = torch.as_tensor(np.asarray(association, dtype=np.float32))
    if logits.dim() != 3 or logits.shape[0] != 9:
        raise ValueError(f'association_heatmap: expected (9, H, W) logits, got '
                         f'{tuple(logits.shape)}')
    height, width = logits.shape[1:]
    grid = SuperpixelGrid.of((int(height), int(width)), int(cell_size))
    weights = torch.softmax(logits, dim=0)
    # grid id of candidate n of every pixel; -1 for candidates outside the grid
    cand = grid.cell_ids()[None] + grid.neighbor_id_offsets()[:, None, None]
    cand = torch.where(torch.isfinite(logits), cand, torch.full_like(cand, -1))
    if superpixel is not None:
        row, col = superpixel
        if not (0 <= row < grid.rows and 0 <= col < grid.cols):
            raise ValueError(f'superpixel {superpixel} is outside the {grid.rows}x{grid.cols} grid')
        target = row * grid.cols + col
        return (weights * (cand == target)).sum(0).numpy()
    y, x = pixel
    if not (0 <= y < height and 0 <= x < width):
        raise ValueError(f'pixel {pixel} is outside the {height}x{width} association map')
    hard = cand.gather(0, logits.argmax(0, keepdim=True))[0]  # argmax grid id of every pixel
    heat = torch.zeros(height, width)
    for n in range(9):
        if cand[n, y, x] >= 0:
            heat[hard == cand[n, y, x]] = weights[n, y, x]
    return heat.numpy()


def overlay_heatmap(img: np.ndarray,
                    heat: np.ndarray,
                    alpha: float = 0.5,
                    normalize: bool = True) -> np.ndarray:
    """JET-coloured heat map (resized nearest to the image) blended over the image."""
    img = np.asarray(img)
    heat = np.asarray(heat, np.float32)
    if normalize and heat.max() > 0:
        heat = heat / heat.max()
    heat = cv2.resize(
        np.clip(heat, 0, 1), (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST)
    colored = cv2.applyColorMap(np.round(heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
    colored = cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)
    return np.round((1 - alpha) * img + alpha * colored).astype(np.uint8)


def draw_colorbar(img: np.ndarray, vmin: float, vmax: float, bar_width: int = 10) -> np.ndarray:
    """The JET colour bar of :func:`overlay_heatmap` drawn inside the right edge of ``img``.

    A white strip holds the bar (``vmax`` at the top, ``vmin`` at the bottom, the colours of a
    heat map normalised to ``[vmin, vmax]``) and both values as labels.

    Args:
        img (np.ndarray): (H, W, 3) uint8 RGB, at least 24 pixels high and 60 wide.
        vmin (float): the value of the bottom colour.
        vmax (float): the value of the top colour.
        bar_width (int): width of the colour gradient in pixels.

    Returns:
        np.ndarray: (H, W, 3) uint8 copy with the colour bar.
    """
    out = np.asarray(img, np.uint8).copy()
    h, w = out.shape[:2]
    labels = [f'{vmax:.2f}', f'{vmin:.2f}']
    margin = bar_width + 8 + 8 * max(map(len, labels))
    if h < 24 or w < margin + 8:
        raise ValueError(f'draw_colorbar: image {h}x{w} is too small for a colour bar')
    x0 = w - margin
    out[:, x0:] = 255
    ramp = np.linspace(255, 0, h - 8).round().astype(np.uint8)[:, None]
    colored = cv2.applyColorMap(np.repeat(ramp, bar_width, axis=1), cv2.COLORMAP_JET)
    out[4:h - 4, x0 + 2:x0 + 2 + bar_width] = cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)
    for text, y in ((labels[0], 14), (labels[1], h - 6)):
        cv2.putText(out, text, (x0 + bar_width + 5, y), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0),
                    1, cv2.LINE_AA)
    return out


def fit_width(size: Tuple[int, int],
              cols: int,
              max_width: int = 2000,
              pad: int = 4) -> Tuple[int, int]:
    """``(H, W)`` of panels so that ``cols`` of them (with padding) fit in ``max_width`` pixels,
    keeping the aspect ratio; never enlarged."""
    h, w = size
    if cols < 1:
        raise ValueError(f'fit_width: cols must be >= 1, got {cols}')
    width = min(w, (max_width - pad) // cols - pad)
    if width < 1:
        raise ValueError(f'fit_width: {cols} columns do not fit in {max_width} pixels')
    return max(1, round(h * width / w)), width


#: Pixels per title line of :func:`make_panel` (``FONT_HERSHEY_SIMPLEX`` at scale 0.45: ~8 px
#: per character).
TITLE_LINE_HEIGHT = 16


def wrap_title(title: str, width: int) -> List[str]:
    """``title`` in lines of at most ``width`` characters, broken at spaces where possible."""
    lines: List[str] = []
    current = ''
    for word in str(title).split(' '):
        while len(word) > width:  # a word longer than a line: split it
            if current:
                lines.append(current)
                current = ''
            lines.append(word[:width])
            word = word[width:]
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f'{current} {word}' if current else word
    if current or not lines:
        lines.append(current)
    return lines


def make_panel(images: Sequence[np.ndarray],
               titles: Optional[Sequence[str]] = None,
               cols: Optional[int] = None,
               pad: int = 4,
               title_height: int = 22) -> np.ndarray:
    """Tile images (resized to the first one's size) in a grid with a title above each.

    Titles wider than an image are wrapped onto more lines (:func:`wrap_title`), never cut:
    the title rows grow to the longest title (at least ``title_height`` pixels).
    """
    if not images:
        raise ValueError('make_panel: no images')
    titles = list(titles or [''] * len(images))
    if len(titles) != len(images):
        raise ValueError(f'make_panel: {len(images)} images but {len(titles)} titles')
    h, w = images[0].shape[:2]
    cols = cols or len(images)
    rows = -(-len(images) // cols)
    wrapped = [wrap_title(t, max(1, w // 8)) for t in titles]
    title_height = max(title_height, TITLE_LINE_HEIGHT * max(map(len, wrapped)) + 6)
    cell_h, cell_w = h + title_height + pad, w + pad
    canvas = np.full((rows * cell_h + pad, cols * cell_w + pad, 3), 255, np.uint8)
    for k, (im, lines) in enumerate(zip(images, wrapped)):
        im = np.asarray(im)
        if im.ndim == 2:
            im = np.repeat(im[..., None], 3, axis=2)
        if im.shape[:2] != (h, w):
            im = cv2.resize(im, (w, h), interpolation=cv2.INTER_NEAREST)
        y0, x0 = (k // cols) * cell_h + pad + title_height, (k % cols) * cell_w + pad
        canvas[y0:y0 + h, x0:x0 + w] = im
        for i, line in enumerate(lines):  # the last line sits just above the image
            y = y0 - 6 - TITLE_LINE_HEIGHT * (len(lines) - 1 - i)
            cv2.putText(canvas, line, (x0, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                        cv2.LINE_AA)
    return canvas


def rotate_image(img: np.ndarray, angle: float, fill: Sequence[float] = (0, 0, 0)) -> np.ndarray:
    """Rotate by ``angle`` degrees (counter-clockwise) about the centre, same size, constant fill
    (as a fixed ``RandomRotation`` in the SPFormer robustness evaluation of arXiv 2401.02931)."""
    img = np.asarray(img)
    h, w = img.shape[:2]
    mat = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), float(angle), 1.0)
    return cv2.warpAffine(
        img,
        mat, (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=tuple(float(f) for f in fill))


def occlude_image(img: np.ndarray,
                  size: int,
                  top_left: Tuple[int, int] = (80, 80),
                  fill: Sequence[float] = IMAGENET_MEAN_RGB) -> np.ndarray:
    """Occlude a ``size x size`` square at ``top_left = (y, x)``.

    The SPFormer evaluation zeroes the square in the ImageNet-normalised 224x224 image, which
    is the ImageNet mean colour in RGB pixel space (the default ``fill``).
    """
    img = np.asarray(img).copy()
    if size < 0:
        raise ValueError(f'occlusion size must be >= 0, got {size}')
    y, x = top_left
    img[y:y + size, x:x + size] = np.round(np.asarray(fill)).astype(img.dtype)
    return img


def save_rgb(path: str, img: np.ndarray) -> str:
    """Write an RGB uint8 image as PNG (creating folders); returns the path."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(np.asarray(img, np.uint8), cv2.COLOR_RGB2BGR)):
        raise OSError(f'could not write {path}')
    return path

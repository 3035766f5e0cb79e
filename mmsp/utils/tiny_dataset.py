"""Tiny generated data sets (CamVid layout, image-folder classification) for smoke runs.

``tools/run_demo.sh`` and the tests fall back to it when ``../shared/data/camvid`` is absent. The
images are synthetic (no licence question): a few axis-aligned rectangles of random colour on a
random background, each rectangle a class, plus a textured noise layer; the label map marks the
rectangles with their class id and some pixels with ``11`` (CamVid's ``Unlabelled``, mapped to
ignore by :class:`mmsp.datasets.CamVidDataset`).
"""
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

__all__ = ['make_tiny_camvid', 'make_tiny_image_folder']

#: CamVid ids: 0..10 are classes, 11 is ``Unlabelled``.
NUM_CLASSES = 11
UNLABELLED_ID = 11


def _sample(rng: np.random.Generator, height: int, width: int) -> Tuple[np.ndarray, np.ndarray]:
    """One ``(image uint8 (H, W, 3), label uint8 (H, W))`` pair."""
    background = int(rng.integers(NUM_CLASSES))
    label = np.full((height, width), background, dtype=np.uint8)
    palette = rng.integers(0, 256, size=(NUM_CLASSES, 3))
    for _ in range(int(rng.integers(2, 5))):
        y0, x0 = int(rng.integers(0, height - 4)), int(rng.integers(0, width - 4))
        y1 = int(rng.integers(y0 + 4, height + 1))
        x1 = int(rng.integers(x0 + 4, width + 1))
        label[y0:y1, x0:x1] = int(rng.integers(NUM_CLASSES))
    image = palette[label].astype(np.float64) + rng.normal(0.0, 12.0, size=(height, width, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    # a thin unlabelled band, as around object borders in CamVid
    label[:, :2] = UNLABELLED_ID
    return image, label


def make_tiny_camvid(root: str,
                     splits: Optional[Dict[str, Union[int, Sequence[str]]]] = None,
                     size: Tuple[int, int] = (48, 64),
                     seed: int = 0) -> str:
    """Write a tiny CamVid-layout set: ``images/<split>/*.jpg`` and ``labels/<split>/*.png``.

    Args:
        root (str): output folder (created; existing files with the same names are replaced).
        splits (dict[str, int | Sequence[str]]): per split, a number of images (named
            ``tiny_<split>_<index>``) or the file stems to write (e.g. CamVid frame names
            ``0016E5_07959`` for clip tests). Defaults to ``{'train': 4, 'val': 2}``.
        size (tuple[int, int]): ``(height, width)`` of every image, each at least 8.
        seed (int): random seed; the same seed writes the same pixels.

    Returns:
        str: ``root``.

    Raises:
        ValueError: a size below 8 pixels or a split with no image.
    """
    splits = {'train': 4, 'val': 2} if splits is None else dict(splits)
    height, width = size
    if height < 8 or width < 8:
        raise ValueError(f'size must be at least (8, 8), got {size}')
    stems = {
        split: [f'tiny_{split}_{i:03d}' for i in range(value)] if isinstance(value, int) else
        [str(v) for v in value]
        for split, value in splits.items()
    }
    for split, names in stems.items():
        if not names:
            raise ValueError(f'split {split!r} needs at least one image, got {splits[split]!r}')
    rng = np.random.default_rng(seed)
    for split, names in stems.items():
        img_dir = osp.join(root, 'images', split)
        ann_dir = osp.join(root, 'labels', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for stem in names:
            image, label = _sample(rng, height, width)
            Image.fromarray(image).save(osp.join(img_dir, stem + '.jpg'), quality=95)
            Image.fromarray(label).save(osp.join(ann_dir, stem + '.png'))
    return root


def make_tiny_image_folder(root: str,
                           splits: Optional[Dict[str, int]] = None,
                           num_classes: int = 10,
                           size: int = 32,
                           seed: int = 0) -> str:
    """Write ``<root>/<split>/class_<k>/<i>.png`` (mmpretrain ``CustomDataset`` layout).

    Class ``k`` is a rectangle of a class-specific colour on noise, so a classifier can learn it.

    Args:
        root (str): output folder.
        splits (dict[str, int]): images per class and split. Defaults to
            ``{'train': 4, 'test': 2}``.
        num_classes (int): number of class folders (>= 2).
        size (int): image side (>= 8).
        seed (int): random seed.

    Returns:
        str: ``root``.
    """
    splits = {'train': 4, 'test': 2} if splits is None else dict(splits)
    if num_classes < 2 or size < 8:
        raise ValueError(f'need num_classes >= 2 and size >= 8, got {num_classes}, {size}')
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, size=(num_classes, 3))
    for split, count in splits.items():
        for k in range(num_classes):
            folder = osp.join(root, split, f'class_{k}')
            os.makedirs(folder, exist_ok=True)
            for index in range(count):
                image = rng.integers(0, 256, size=(size, size, 3)).astype(np.uint8)
                y, x = rng.integers(0, size // 2, size=2)
                image[y:y + size // 2, x:x + size // 2] = colours[k]
                Image.fromarray(image).save(osp.join(folder, f'{index:03d}.png'))
    return root


def _main(argv=None) -> None:
    """``python -m mmsp.utils.tiny_dataset {camvid|folder} ROOT [split=N ...]``."""
    import argparse
    parser = argparse.ArgumentParser(description='write a tiny generated data set')
    parser.add_argument('kind', choices=['camvid', 'folder'])
    parser.add_argument('root')
    parser.add_argument('splits', nargs='*', help='split=count, e.g. train=8 val=4')
    args = parser.parse_args(argv)
    splits = {k: int(v) for k, v in (item.split('=', 1) for item in args.splits)} or None
    maker = make_tiny_camvid if args.kind == 'camvid' else make_tiny_image_folder
    print(maker(args.root, splits))


if __name__ == '__main__':
    _main()

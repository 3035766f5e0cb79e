"""Write Fashion-MNIST (Debian package ``dataset-fashion-mnist``) as an image-folder dataset.

The fallback real data set of the main job when ``../shared/data/cifar10`` is absent: it comes
from the package registry (``apt-get install dataset-fashion-mnist``, MIT licence), so the
project can obtain it by itself. Output layout (mmpretrain ``CustomDataset``)::

    OUT/train/<class>/<index>.png   (``--per-class-train`` images per class)
    OUT/test/<class>/<index>.png    (``--per-class-test`` images per class)

Example::

    python tools/dataset_converters/prepare_fashion_mnist.py work_dirs/data/fashion_mnist
"""
import argparse
import gzip
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ('t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag',
           'ankle-boot')
SOURCE = Path('/usr/share/datasets/fashion-mnist')


def read_idx(path: Path) -> np.ndarray:
    """Read an (optionally gzipped) IDX file of unsigned bytes."""
    opener = gzip.open if path.suffix == '.gz' else open
    with opener(path, 'rb') as f:
        data = f.read()
    if data[:2] != b'\x00\x00' or data[2] != 0x08:
        raise ValueError(f'{path}: not an unsigned-byte IDX file')
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find(source: Path, stem: str) -> Path:
    for candidate in sorted(source.rglob(f'{stem}*')):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f'{stem}* not found below {source} '
                            f'(install it with: apt-get install dataset-fashion-mnist)')


def main() -> None:
    parser = argparse.ArgumentParser(description='Fashion-MNIST to an image-folder dataset')
    parser.add_argument('out', type=Path)
    parser.add_argument('--source', type=Path, default=SOURCE)
    parser.add_argument('--per-class-train', type=int, default=1000)
    parser.add_argument('--per-class-test', type=int, default=300)
    args = parser.parse_args()
    for split, prefix, per_class in (('train', 'train', args.per_class_train),
                                     ('test', 't10k', args.per_class_test)):
        images = read_idx(find(args.source, f'{prefix}-images'))
        labels = read_idx(find(args.source, f'{prefix}-labels'))
        if len(images) != len(labels):
            raise ValueError(f'{split}: {len(images)} images but {len(labels)} labels')
        for cls, name in enumerate(CLASSES):
            folder = args.out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i, idx in enumerate(np.flatnonzero(labels == cls)[:per_class]):
                Image.fromarray(images[idx]).save(folder / f'{i:04d}.png')
        print(f'{split}: {per_class} images per class -> {args.out / split}')


if __name__ == '__main__':
    main()

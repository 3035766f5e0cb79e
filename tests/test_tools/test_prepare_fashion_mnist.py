"""tools/dataset_converters/prepare_fashion_mnist.py: the main job's fallback data set, on
generated IDX files."""
import gzip
import subprocess
import sys

import numpy as np
from PIL import Image
from tools_helpers import REPO_ROOT

TOOL = 'tools/dataset_converters/prepare_fashion_mnist.py'


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b''.join(
        int(n).to_bytes(4, 'big') for n in array.shape)
    with gzip.open(path, 'wb') as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_writes_image_folders_per_class(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (('train', 40), ('t10k', 20)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 256, size=(n, 28, 28))
        images[:, 0, 0] = labels  # tag each image with its label
        _write_idx(src / f'{prefix}-images-idx3-ubyte.gz', images)
        _write_idx(src / f'{prefix}-labels-idx1-ubyte.gz', labels)
    out = tmp_path / 'out'
    proc = subprocess.run([sys.executable, TOOL, str(out), '--source',
                           str(src), '--per-class-train', '3', '--per-class-test', '2'],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    classes = sorted(p.name for p in (out / 'train').iterdir())
    assert len(classes) == 10
    from importlib import util
    spec = util.spec_from_file_location('pfm', REPO_ROOT / TOOL)
    mod = util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for k, name in enumerate(mod.CLASSES):
        files = sorted((out / 'train' / name).glob('*.png'))
        assert len(files) == 3 and len(list((out / 'test' / name).glob('*.png'))) == 2
        assert all(np.asarray(Image.open(f))[0, 0] == k for f in files)


def test_missing_source_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, TOOL, str(tmp_path / 'o'),
                           '--source', str(tmp_path)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and 'apt-get install dataset-fashion-mnist' in proc.stderr

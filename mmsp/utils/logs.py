"""Reading mmengine's scalar logs (``vis_data/scalars.json``)."""
import json
from pathlib import Path
from typing import Dict, List, Tuple

__all__ = ['find_scalars', 'read_scalars', 'last_metrics']

TRAIN_KEYS = ('loss', 'lr', 'base_lr', 'time', 'data_time', 'grad_norm', 'memory', 'iter',
              'epoch', 'step')


def find_scalars(path: Path) -> Path:
    """``scalars.json`` itself, or the newest one below a work dir."""
    if path.is_file():
        return path
    found = sorted(path.glob('**/vis_data/scalars.json'), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f'no vis_data/scalars.json below {path}')
    return found[-1]


def read_scalars(path: Path) -> Tuple[List[Tuple[int, float]], Dict[str, List[Tuple[int, float]]]]:
    """Training losses and validation metrics as ``(iteration, value)`` lists."""
    losses, metrics = [], {}
    last_iter = 0
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            step = int(rec.get('step', rec.get('iter', last_iter)))
            if 'loss' in rec:
                last_iter = int(rec.get('iter', step))
                losses.append((last_iter, float(rec['loss'])))
                continue
            for key, value in rec.items():
                if key in TRAIN_KEYS or not isinstance(value, (int, float)):
                    continue
                metrics.setdefault(key, []).append((last_iter, float(value)))
    return losses, metrics


def last_metrics(path: Path) -> Dict[str, float]:
    """The last value of every validation metric logged under a work dir."""
    _, metrics = read_scalars(find_scalars(Path(path)))
    return {key: values[-1][1] for key, values in metrics.items()}

"""Peak resident memory (RSS) of whole-image CPU inference, each case in a fresh process.

Usage::

    python tools/benchmarks/measure_memory.py                      # the two reference cases below
    python tools/benchmarks/measure_memory.py --cases sp-head-r50 --scale 0.25  # quick, 256x512
    python tools/benchmarks/measure_memory.py --config CFG --size 512 1024       # any seg config

Reference cases (docs/user_guides/reliability.md, section 5):

* ``sp-head-r50``: SP-Transformer head + ResNet-50, Cityscapes config, 1024x2048 image.
* ``spformer-s``: SP-Transformer head + SPFormer-S backbone, Cityscapes config, 512x1024.

Every case runs in a new interpreter (``--worker``) so that the peaks do not mix: it builds the
model from the config (random weights; SyncBN reverted to BN), reads ``ru_maxrss`` (the
process's peak RSS so far: imports + model), runs one ``model.test_step`` in whole-image mode
(``test_cfg.mode='whole'``, ``torch.no_grad``, batch 1, a uint8 image as the data pipeline gives
it, data preprocessor included, superpixel prediction included where the model has it), and
reads ``ru_maxrss`` again. Printed per case, in MB (2**20 bytes): the model-only peak, the peak
after inference and their difference (what inference itself adds). Threads follow
``OMP_NUM_THREADS`` (set it for comparable numbers; activations do not depend on it).
"""
import argparse
import json
import os.path as osp
import resource
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CASES: Dict[str, dict] = {
    'sp-head-r50': dict(config='configs/sp_head/sp-head_r50_8xb2-80k_cityscapes-512x1024.py',
                        size=(1024, 2048)),
    'spformer-s': dict(
        config='configs/sp_head/sp-head_spformer-s_8xb2-80k_cityscapes-512x1024.py',
        size=(512, 1024)),
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def worker(config: str, height: int, width: int) -> dict:
    """Build the model of ``config`` and run whole-image inference on one H x W image."""
    import torch
    from mmengine.config import Config
    from mmseg.structures import SegDataSample

    import mmsp  # noqa: F401  (registers mmsp modules)
    from mmsp.utils import build_model_from_config

    cfg = Config.fromfile(config)
    cfg.model.pretrained = None
    cfg.model.setdefault('test_cfg', {})['mode'] = 'whole'
    model = build_model_from_config(cfg).eval()
    params = sum(p.numel() for p in model.parameters())
    model_peak = _peak_mb()
    image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8)
    meta = dict(img_shape=(height, width), ori_shape=(height, width), pad_shape=(height, width),
                scale_factor=(1.0, 1.0), img_path='synthetic.png')
    with torch.no_grad():
        out = model.test_step(dict(inputs=[image], data_samples=[SegDataSample(metainfo=meta)]))
    pred = out[0].pred_sem_seg.data
    if tuple(pred.shape[-2:]) != (height, width):
        raise RuntimeError(f'prediction {tuple(pred.shape)} is not at the image size '
                           f'{(height, width)}')
    peak = _peak_mb()
    return dict(config=config, size=[height, width], params_M=round(params / 1e6, 2),
                model_peak_MB=round(model_peak), peak_MB=round(peak),
                inference_MB=round(peak - model_peak),
                superpixels='pred_superpixels' in out[0])


def run_case(config: str, size: Sequence[int], timeout: Optional[float] = None) -> dict:
    """Run :func:`worker` in a fresh interpreter; returns its JSON result."""
    cmd = [sys.executable, osp.abspath(__file__), '--worker', config, str(size[0]), str(size[1])]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f'{config} at {size[0]}x{size[1]} failed '
                           f'(exit {proc.returncode}):\n{proc.stderr[-3000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='peak RSS of whole-image CPU inference')
    parser.add_argument('--cases', nargs='+', choices=sorted(CASES), default=sorted(CASES))
    parser.add_argument('--scale', type=float, default=1.0,
                        help='multiply the reference sizes (e.g. 0.25 for a quick check)')
    parser.add_argument('--config', help='measure this seg config instead of the cases')
    parser.add_argument('--size', nargs=2, type=int, metavar=('H', 'W'),
                        help='image size for --config')
    parser.add_argument('--worker', nargs=3, metavar=('CONFIG', 'H', 'W'), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.config is not None and args.size is None:
        parser.error('--config needs --size H W')
    if args.scale <= 0:
        parser.error(f'--scale must be positive, got {args.scale}')
    return args


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    if args.worker is not None:
        config, h, w = args.worker
        print(json.dumps(worker(config, int(h), int(w))))
        return []
    if args.config is not None:
        jobs = [(args.config, tuple(args.size))]
    else:
        jobs = [(CASES[c]['config'], tuple(int(round(s * args.scale / 32)) * 32 or 32
                                           for s in CASES[c]['size'])) for c in args.cases]
    results = []
    for config, size in jobs:
        res = run_case(config, size)
        results.append(res)
        print(f'{osp.basename(config)} {size[0]}x{size[1]}: params {res["params_M"]} M, '
              f'peak RSS {res["peak_MB"]} MB (model only {res["model_peak_MB"]} MB, inference '
              f'+{res["inference_MB"]} MB)', flush=True)
    return results


if __name__ == '__main__':
    main()

"""Cost of the SP-MAE comparison's pre-training runs: multiply-adds per image and s/it.

For every pre-training config (mmpretrain's MAE or SP-MAE) the model is built, and

* ``train_madds``: multiply-adds of one training forward (masking, encoder on the visible
  tokens, decoder, loss) per image, counted by :func:`mmsp.utils.count_multiply_adds` (paper
  form, attention matmuls included); the backward is not counted;
* ``encoder_madds``: multiply-adds of the encoder alone on a whole unmasked image (what the
  linear probe and the zero-shot superpixels run);
* ``s_per_it``: median wall time of a full training step (forward, backward, AdamW) on random
  images of the config's batch size, the configs interleaved round by round in one process so
  that they share the machine's load; ``ratio`` is against the first config.

Usage (from the repository root)::

    python tools/experiments/spmae_cost.py \\
        configs/spmae/mae_vit-t-p8_1xb32-200it_cifar10-64px.py \\
        configs/spmae/spmae-grid_spformer-t-s8_1xb32-200it_cifar10-64px.py \\
        configs/spmae/spmae_spformer-t-s8_1xb32-200it_cifar10-64px.py [--rounds 5] [--out f.json]
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import mmsp  # noqa: F401  isort:skip  (registers mmsp)
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from torch import nn

from mmsp.utils import build_model_from_config, count_multiply_adds


class _Encoder(nn.Module):
    """The encoder on whole images (MAEViT with its masking off: ``mask=None``; mmpretrain
    1.2 tests ``mask is None or False``, so ``mask=False`` would still mask)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, inputs: torch.Tensor):
        if type(self.backbone).__name__ == 'MAEViT':
            return self.backbone(inputs, mask=None)
        return self.backbone(inputs)


class _TrainForward(nn.Module):
    """``model.loss(inputs, [])['loss']`` as a module, for the FLOP counter."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model.loss(inputs, [])['loss']


def image_size(cfg: Config) -> int:
    """The pre-training crop size (the RandomResizedCrop's ``scale``)."""
    for step in cfg.train_dataloader.dataset.get('pipeline', []):
        if step['type'] == 'RandomResizedCrop':
            return int(step['scale'])
    raise ValueError('spmae_cost: the config has no RandomResizedCrop in its train pipeline')


def build(config: str):
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = build_model_from_config(cfg)
    model.init_weights()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95))
    return cfg, model, optimizer


def measure(configs: List[str], rounds: int, warmup: int = 1) -> Dict[str, Dict]:
    MessageHub.get_current_instance().update_info('max_iters', 1000)  # CosineEMA's schedule
    runs, rows = [], {}
    for config in configs:
        cfg, model, optimizer = build(config)
        size, batch = image_size(cfg), cfg.train_dataloader.batch_size
        x1 = torch.randn(1, 3, size, size)
        model.eval()
        train = count_multiply_adds(_TrainForward(model), (x1, )).total
        encoder = count_multiply_adds(_Encoder(model.backbone), (x1, )).total
        model.train()
        runs.append((Path(config).stem, model, optimizer, torch.randn(batch, 3, size, size)))
        rows[Path(config).stem] = dict(
            params_M=round(sum(p.numel() for p in model.backbone.parameters()) / 1e6, 3),
            train_madds_G=round(train / 1e9, 4),
            encoder_madds_G=round(encoder / 1e9, 4),
            batch=batch,
            size=size)
    times: Dict[str, List[float]] = {name: [] for name, *_ in runs}
    for index in range(warmup + rounds):
        for name, model, optimizer, x in runs:
            start = time.perf_counter()
            loss = model.loss(x, [])['loss']
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if index >= warmup:
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times[runs[0][0]])
    for name in times:
        rows[name]['s_per_it'] = round(statistics.median(times[name]), 3)
        rows[name]['ratio'] = round(statistics.median(times[name]) / base, 2)
    return rows


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict]:
    parser = argparse.ArgumentParser(description='multiply-adds and s/it of pre-training configs')
    parser.add_argument('configs', nargs='+', help='pre-training configs (the first: baseline)')
    parser.add_argument('--rounds', type=int, default=5, help='timed steps per config')
    parser.add_argument('--out', help='write the rows to this .json file')
    args = parser.parse_args(argv)
    rows = measure(args.configs, args.rounds)
    cols = ['params_M', 'train_madds_G', 'encoder_madds_G', 'batch', 'size', 's_per_it', 'ratio']
    print('| config | ' + ' | '.join(cols) + ' |')
    print('|---' * (len(cols) + 1) + '|')
    for name, row in rows.items():
        print(f'| {name} | ' + ' | '.join(str(row[c]) for c in cols) + ' |')
    print(f'threads: {torch.get_num_threads()}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(rows, f, indent=2)
    return rows


if __name__ == '__main__':
    main(sys.argv[1:])

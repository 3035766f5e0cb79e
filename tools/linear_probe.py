"""Linear probe of a frozen encoder on cached features (MAE's protocol, CPU-sized).

The backbone of a classification config (SPFormer or mmpretrain's VisionTransformer) is loaded
from a checkpoint's ``backbone.*`` keys (or left at its random initialisation), frozen, and run
once over the train and test splits with the config's *test* pipeline (no augmentation). The
feature of an image is the mean of its final-block tokens before any output norm; for a ViT the
class token too (``--feature cls``). A BatchNorm without affine parameters followed by a Linear
layer (MAE's linear probing head, arXiv 2111.06377, Sec. 4 / Appendix A.2: "BatchNorm without
affine transformation") is trained on the cached features: SGD (momentum 0.9), cosine schedule,
batch 256, no weight decay. Top-1 on the test split.

Usage::

    python tools/linear_probe.py CONFIG [CHECKPOINT] [--epochs 100] [--feature mean|cls]
        [--device cpu|cuda] [--work-dir DIR] [--out result.json] [--cfg-options k=v ...]

``CONFIG`` is a classifier config (``configs/spmae/spformer-t-s8_1xb64-30e_cifar10-64px.py``,
``configs/spmae/vit-t-p8_1xb64-30e_cifar10-64px.py``): its backbone, data preprocessor and
train / test datasets are used. The features are cached in ``--work-dir`` (``features.pt``).
"""
import argparse
import json
import logging
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Tuple

import mmsp  # noqa: F401  isort:skip  (registers mmsp and its safe checkpoint loader)
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import _load_checkpoint
from torch import Tensor, nn

FEATURES = ('mean', 'cls')
#: checkpoint keys of the output norms the features are taken before (SPFormer's pooled
#: ``fc_norm`` and per-output ``out_norms``, the ViT's final ``ln1``)
OUTPUT_NORMS = ('fc_norm.', 'out_norms.', 'ln1.')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Linear probe on cached frozen features')
    parser.add_argument('config', help='a classification config (backbone + datasets)')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint with backbone.* keys '
                        '(omit: the random initialisation of the seed)')
    parser.add_argument('--epochs', type=int, default=100, help='probe epochs')
    parser.add_argument('--lr', type=float, default=0.1, help='probe SGD learning rate')
    parser.add_argument('--batch-size', type=int, default=256, help='probe batch size')
    parser.add_argument('--feature', choices=FEATURES, default='mean',
                        help="'mean' of the final tokens, or the ViT's class token")
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--seed', type=int, default=0, help='seed of the init and the probe')
    parser.add_argument('--max-samples', type=int, help='first N images of each split')
    parser.add_argument('--extract-batch-size', type=int, default=100)
    parser.add_argument('--work-dir', default='work_dirs/linear_probe',
                        help='folder for the cached features')
    parser.add_argument('--out', help='write the result to this .json file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='config overrides (e.g. data roots)')
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1:
        parser.error('--epochs and --batch-size must be >= 1')
    return args


def token_backbone_cfg(backbone: dict) -> dict:
    """The backbone config changed so that it returns its final tokens before any norm."""
    backbone = dict(backbone)
    kind = str(backbone.get('type', '')).split('.')[-1]
    if kind == 'SPFormer':
        backbone.update(out_type='featmap', out_indices=-1, out_norm_cfg=None, out_pixels=False,
                        unfold_outputs=False)
    elif kind in ('VisionTransformer', 'MAEViT'):
        backbone.update(type='VisionTransformer', out_type='raw', final_norm=False)
    else:
        raise ValueError(f'linear_probe: backbone type {kind!r} is not supported '
                         "(SPFormer or VisionTransformer)")
    return backbone


def pooled_features(backbone: nn.Module, inputs: Tensor, feature: str) -> Tensor:
    """(B, C) features: mean of the final tokens, or the ViT class token."""
    out = backbone(inputs)[-1]
    if out.dim() == 4:  # SPFormer featmap (B, C, h, w)
        if feature != 'mean':
            raise ValueError('linear_probe: SPFormer has no class token; use --feature mean')
        return out.flatten(2).mean(dim=2)
    tokens = out  # ViT raw (B, 1 + L, C), class token first
    return tokens[:, 0] if feature == 'cls' else tokens[:, 1:].mean(dim=1)


def build_parts(cfg: Config, checkpoint: Optional[str],
                seed: int) -> Tuple[nn.Module, nn.Module, Dict]:
    """Backbone (checkpoint loaded), data preprocessor and the key report."""
    from mmpretrain.registry import MODELS
    torch.manual_seed(seed)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # not the per-parameter init report
    try:
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            backbone = MODELS.build(token_backbone_cfg(cfg.model.backbone))
            backbone.init_weights()
    finally:
        logger.setLevel(level)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        preprocessor = MODELS.build(dict(type='ClsDataPreprocessor', **cfg.data_preprocessor))
    report = dict(missing_keys=[], unexpected_keys=[], unused_output_norm_keys=[])
    if checkpoint:
        state = _load_checkpoint(checkpoint, map_location='cpu')
        state = state.get('state_dict', state)
        weights = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
        if not weights:
            raise ValueError(f'linear_probe: {checkpoint} has no backbone.* weights')
        result = backbone.load_state_dict(weights, strict=False)
        unused = [k for k in result.unexpected_keys if k.startswith(OUTPUT_NORMS)]
        report = dict(missing_keys=list(result.missing_keys),
                      unexpected_keys=[k for k in result.unexpected_keys if k not in unused],
                      unused_output_norm_keys=unused)
    backbone.eval()  # (mmpretrain's VisionTransformer.train returns None, so not chained)
    preprocessor.eval()
    return backbone.requires_grad_(False), preprocessor, report


def split_dataset(cfg: Config, loader: str, max_samples: Optional[int]):
    """The dataset of ``cfg[loader]`` with the test pipeline (no augmentation)."""
    from mmpretrain.registry import DATASETS
    ds = dict(cfg[loader].dataset)
    ds['pipeline'] = cfg.test_dataloader.dataset.pipeline
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = DATASETS.build(ds)
    if max_samples is not None and max_samples < len(dataset):  # spread over the classes
        dataset = torch.utils.data.Subset(
            dataset, torch.linspace(0, len(dataset) - 1, max_samples).long().tolist())
    return dataset


@torch.no_grad()
def extract(backbone: nn.Module, preprocessor: nn.Module, dataset, feature: str,
            batch_size: int, device: str) -> Tuple[Tensor, Tensor]:
    """Features (N, C) and labels (N,) of a dataset."""
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, collate_fn=pseudo_collate)
    feats, labels = [], []
    for data in loader:
        data = preprocessor(data, False)
        feats.append(pooled_features(backbone, data['inputs'].to(device), feature).float().cpu())
        labels.append(torch.cat([s.gt_label for s in data['data_samples']]).cpu())
    return torch.cat(feats), torch.cat(labels)


def train_probe(train: Tuple[Tensor, Tensor], test: Tuple[Tensor, Tensor], epochs: int, lr: float,
                batch_size: int, seed: int, device: str) -> Dict:
    """BatchNorm (no affine) + Linear on the cached features; top-1 on the test features."""
    (x, y), (xt, yt) = train, test
    torch.manual_seed(seed)
    num_classes = int(max(y.max(), yt.max())) + 1
    probe = nn.Sequential(
        nn.BatchNorm1d(x.shape[1], affine=False, eps=1e-6), nn.Linear(x.shape[1], num_classes))
    nn.init.trunc_normal_(probe[1].weight, std=0.01)
    nn.init.zeros_(probe[1].bias)
    probe = probe.to(device)
    x, y, xt, yt = x.to(device), y.to(device), xt.to(device), yt.to(device)
    steps = epochs * -(-len(x) // batch_size)
    optimizer = torch.optim.SGD(probe.parameters(), lr=lr, momentum=0.9)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(epochs):
        probe.train()
        for index in torch.randperm(len(x), device=device).split(batch_size):
            loss = nn.functional.cross_entropy(probe(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    probe.eval()
    with torch.no_grad():
        top1 = (probe(xt).argmax(1) == yt).float().mean().item() * 100
        train_top1 = (probe(x).argmax(1) == y).float().mean().item() * 100
    return dict(top1=round(top1, 2), train_top1=round(train_top1, 2), final_loss=loss.item())


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    start = time.perf_counter()
    backbone, preprocessor, report = build_parts(cfg, args.checkpoint, args.seed)
    backbone, preprocessor = backbone.to(args.device), preprocessor.to(args.device)
    os.makedirs(args.work_dir, exist_ok=True)
    cache = osp.join(args.work_dir, f'features_{args.feature}.pt')
    if osp.isfile(cache):
        feats = torch.load(cache)
    else:
        feats = {
            split: extract(backbone, preprocessor,
                           split_dataset(cfg, f'{split}_dataloader', args.max_samples),
                           args.feature, args.extract_batch_size, args.device)
            for split in ('train', 'test')
        }
        torch.save(feats, cache)
    extracted = time.perf_counter()
    result = train_probe(feats['train'], feats['test'], args.epochs, args.lr, args.batch_size,
                         args.seed, args.device)
    result.update(
        config=args.config,
        checkpoint=args.checkpoint,
        feature=args.feature,
        feature_dims=int(feats['train'][0].shape[1]),
        num_train=len(feats['train'][1]),
        num_test=len(feats['test'][1]),
        epochs=args.epochs,
        extract_seconds=round(extracted - start, 1),
        probe_seconds=round(time.perf_counter() - extracted, 1),
        **report)
    print(json.dumps(result, indent=2))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main(sys.argv[1:])

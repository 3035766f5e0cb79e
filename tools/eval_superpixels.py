"""Zero-shot superpixel evaluation of several methods on one dataset, printed as one table.

Every method is a config whose model fills ``pred_superpixels`` (``PatchGridSuperpixels``,
``SLICSuperpixels``, ``SuperpixelPredictor`` around an SPFormer backbone, ``SPEncoderDecoder``)
plus an optional checkpoint. Nothing is trained: each method runs through the mmengine Runner's
test loop with its config's ``test_dataloader`` and ``SuperpixelMetric``.

Usage::

    python tools/eval_superpixels.py \\
        --method configs/superpixel_eval/patch-grid_14x14_voc12-val.py \\
        --method configs/superpixel_eval/spformer-s_zeroshot-224_voc12-val.py spformer_s.pth \\
        --method configs/superpixel_eval/slic_n196_voc12-val.py \\
        [--dataset configs/_base_/datasets/bsds500.py] [--max-images 3] [--out table.md]

``--dataset`` replaces the data and evaluator of every method by those of a dataset config
(``configs/_base_/datasets/{voc12_superpixel,pascal_parts58,bsds500}.py``); a method whose config
defines ``zero_shot_input_size`` (SPFormer: (224, 224)) gets a ``Resize`` to that size inserted
after ``LoadImageFromFile``. ``--out`` writes the table as Markdown (``.md``) or JSON (``.json``).
A method is named by its config's file stem; a config given twice (say with trained and without
any weights) is told apart by its checkpoint's stem in brackets (:func:`mmsp.utils.method_names`).

A checkpoint must match its method's model (``mmsp.engine.hooks.CheckedLoadHook``): missing,
unexpected or shape-mismatched keys stop the tool with an error naming them. The zero-shot
SPFormer configs set ``load_prefix = 'backbone.'``, so a classifier or segmentor checkpoint
gives its backbone; ``--non-strict`` loads what matches and logs the rest.
"""
import argparse
import copy
import itertools
import json
import os
import os.path as osp
import re
import sys
import time
from typing import Dict, List, Optional

import mmsp  # noqa: F401  (registers mmsp and its safe checkpoint loader)
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmsp.utils import (add_checked_load_hook, add_method_argument, add_non_strict_argument,
                        method_names)

_RUN_COUNTER = itertools.count()
COLUMNS = ('num_superpixels', 'sp_mIoU', 'sp_mAcc', 'ASA', 'BR', 'BP', 'UE', 'UE_levinshtein', 'EV',
           'CO')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Zero-shot superpixel evaluation table')
    add_method_argument(parser, 'a method config and optionally its checkpoint (repeat the option)')
    parser.add_argument(
        '--dataset', help='dataset config whose test data / evaluator replace '
        "the methods' own")
    parser.add_argument('--max-images', type=int, help='evaluate the first N samples only')
    parser.add_argument('--num-workers', type=int, default=0, help='dataloader workers')
    parser.add_argument(
        '--work-dir', default='work_dirs/eval_superpixels', help='folder for the per-method logs')
    parser.add_argument('--out', help='write the table to a .md or .json file')
    add_non_strict_argument(parser, 'each model')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides applied to every method config')
    args = parser.parse_args(argv)
    if args.max_images is not None and args.max_images < 1:
        parser.error('--max-images must be >= 1')
    if args.out and not args.out.endswith(('.md', '.json')):
        parser.error('--out must end with .md or .json')
    return args


def _insert_resize(pipeline: list, size) -> list:
    pipeline = copy.deepcopy(list(pipeline))
    names = [str(t.get('type', '')).split('.')[-1] for t in pipeline]
    if 'LoadImageFromFile' not in names:
        raise ValueError('cannot insert the zero-shot Resize: the dataset pipeline has no '
                         'LoadImageFromFile')
    pos = names.index('LoadImageFromFile') + 1
    pipeline.insert(pos, dict(type='Resize', scale=tuple(size), keep_ratio=False))
    return pipeline


def build_method_config(config: str,
                        checkpoint: Optional[str],
                        args: argparse.Namespace,
                        name: Optional[str] = None) -> Config:
    """The method's config with the dataset override, sample limit and loader settings.

    ``name`` (default: the config's file stem) names the method's work folder and run.
    """
    cfg = Config.fromfile(config)
    if args.dataset:
        data = Config.fromfile(args.dataset)
        for key in ('test_dataloader', 'test_evaluator'):
            cfg[key] = copy.deepcopy(data[key])
        if cfg.get('zero_shot_input_size'):
            ds = cfg.test_dataloader.dataset
            ds.pipeline = _insert_resize(ds.pipeline, cfg.zero_shot_input_size)
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper', 'param_scheduler',
                'val_dataloader', 'val_cfg', 'val_evaluator'):
        cfg.pop(key, None)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    loader = cfg.test_dataloader
    loader.num_workers = args.num_workers
    loader.persistent_workers = args.num_workers > 0
    if args.max_images is not None:
        loader.dataset.indices = args.max_images
    name = re.sub(r'[^\w.-]+', '_', name or osp.splitext(osp.basename(config))[0]).strip('_')
    cfg.work_dir = osp.join(args.work_dir, name)
    # unique logger / visualizer instances even when one config is evaluated twice in a process
    run_id = f'{name}_{time.strftime("%Y%m%d_%H%M%S")}_{next(_RUN_COUNTER)}'
    cfg.experiment_name = run_id
    if cfg.get('visualizer') is not None:
        cfg.visualizer['name'] = run_id
    cfg.load_from = checkpoint
    cfg.resume = False
    cfg.launcher = 'none'
    add_checked_load_hook(cfg, strict=False if args.non_strict else None)
    return cfg


def evaluate(config: str,
             checkpoint: Optional[str],
             args: argparse.Namespace,
             name: Optional[str] = None) -> Dict:
    cfg = build_method_config(config, checkpoint, args, name)
    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    metrics = runner.test()
    seconds = time.perf_counter() - start
    num = len(runner.test_dataloader.dataset)
    row = {k.split('/')[-1]: v for k, v in metrics.items()}
    row['s_per_image'] = round(seconds / max(num, 1), 4)
    row['num_images'] = num
    return row


def format_table(rows: Dict[str, Dict]) -> str:
    cols = [c for c in COLUMNS if any(c in r for r in rows.values())] + ['s_per_image']
    lines = ['| method | ' + ' | '.join(cols) + ' |', '|---' * (len(cols) + 1) + '|']
    for name, row in rows.items():
        cells = [('' if row.get(c) is None else f'{row[c]:g}') for c in cols]
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict]:
    args = parse_args(argv)
    rows: Dict[str, Dict] = {}
    for method, name in zip(args.method, method_names(args.method)):
        config, checkpoint = method[0], (method[1] if len(method) > 1 else None)
        rows[name] = evaluate(config, checkpoint, args, name)
    table = format_table(rows)
    print(table)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            if args.out.endswith('.json'):
                json.dump(rows, f, indent=2)
            else:
                f.write(table + '\n')
    return rows


if __name__ == '__main__':
    main(sys.argv[1:])

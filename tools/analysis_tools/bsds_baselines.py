"""Patch grid and SLIC on BSDS500 val at about 200, 400 and 1000 superpixels (the README table).

Runs the registered baseline models (``PatchGridSuperpixels``, ``SLICSuperpixels``) on the
``BSDS500Dataset`` (all annotators per image) and scores them with ``SuperpixelMetric`` twice:
Stutz's two-sided boundaries at ``r = round(0.0025 * diagonal)`` (1 px here) and the SEAL/SSN
one-sided boundaries at ``r = 1``. Ground-truth scores are means over the (image, annotation)
pairs; ``ms/img`` times ``model.test_step`` (preprocessing + superpixels + resizing) per image.

Usage::

    python tools/analysis_tools/bsds_baselines.py [--data-root ../shared/data/bsds500] [--split val]
        [--grid 200 400 1000] [--slic 300 550 1400] [--max-images N] [--out table.md]

SLIC is asked for more segments than wanted because scikit-image returns fewer (e.g.
300 -> ~218, 1400 -> ~1054); the table reports the returned count.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

import mmsp  # noqa: F401
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, METRICS, MODELS

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadBSDSAnnotations'),
    dict(type='PackMultiAnnotationInputs'),
]
GT_METRICS = ['num_superpixels', 'ASA', 'UE', 'BR', 'BP', 'sp_mIoU', 'sp_mAcc', 'EV', 'CO']
CONVENTIONS = {
    'stutz':
    dict(boundary_convention='stutz', boundary_tolerance=0.0025, tolerance_mode='diagonal'),
    'seal': dict(boundary_convention='seal', boundary_tolerance=1, tolerance_mode='pixels'),
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='SLIC / patch grid table on BSDS500')
    parser.add_argument('--data-root', default='../shared/data/bsds500')
    parser.add_argument('--split', default='val')
    parser.add_argument(
        '--grid',
        type=int,
        nargs='*',
        default=[200, 400, 1000],
        help='target counts of the patch grid')
    parser.add_argument(
        '--slic',
        type=int,
        nargs='*',
        default=[300, 550, 1400],
        help='n_segments requested from SLIC')
    parser.add_argument('--max-images', type=int, help='first N images only (a quick check)')
    parser.add_argument('--out', help='write the table to .md or .json')
    args = parser.parse_args(argv)
    if args.out and not args.out.endswith(('.md', '.json')):
        parser.error('--out must end with .md or .json')
    return args


def run_method(model_cfg: dict, dataset) -> Dict[str, float]:
    """Scores of one baseline under both boundary conventions, plus ms/image."""
    model = MODELS.build(model_cfg).eval()
    metrics = {
        name:
        METRICS.build(
            dict(
                type='SuperpixelMetric',
                metrics=GT_METRICS,
                miou_mode='image',
                ignore_index=None,
                **conv))
        for name, conv in CONVENTIONS.items()
    }
    seconds = 0.
    for i in range(len(dataset)):
        data = pseudo_collate([dataset[i]])
        start = time.perf_counter()
        outputs = model.test_step(data)
        seconds += time.perf_counter() - start
        samples = [o.to_dict() for o in outputs]
        for metric in metrics.values():
            metric.process(data, samples)
    stutz = metrics['stutz'].compute_metrics(metrics['stutz'].results)
    seal = metrics['seal'].compute_metrics(metrics['seal'].results)
    row = dict(stutz)
    row['BR_seal'], row['BP_seal'] = seal['BR'], seal['BP']
    row['ms_per_image'] = round(1000 * seconds / len(dataset), 1)
    return row


def format_table(rows: Dict[str, Dict]) -> str:
    cols = [
        'num_superpixels', 'ASA', 'UE', 'BR', 'BP', 'BR_seal', 'BP_seal', 'sp_mIoU', 'sp_mAcc',
        'EV', 'CO', 'ms_per_image'
    ]
    lines = ['| method | ' + ' | '.join(cols) + ' |', '|---' * (len(cols) + 1) + '|']
    for name, row in rows.items():
        lines.append(f'| {name} | ' + ' | '.join(f'{row[c]:g}' for c in cols) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict]:
    args = parse_args(argv)
    init_default_scope('mmseg')
    dataset = DATASETS.build(
        dict(
            type='BSDS500Dataset',
            data_root=args.data_root,
            annotation_mode='all',
            data_prefix=dict(
                img_path=f'images/{args.split}', seg_map_path=f'groundTruth/{args.split}'),
            indices=args.max_images,
            pipeline=PIPELINE))
    rows: Dict[str, Dict] = {}
    for count in args.grid:
        rows[f'patch grid (target {count})'] = run_method(
            dict(type='PatchGridSuperpixels', num_superpixels=count), dataset)
    for count in args.slic:
        rows[f'SLIC (asked {count})'] = run_method(
            dict(type='SLICSuperpixels', num_superpixels=count, compactness=10.), dataset)
    table = format_table(rows)
    print(f'BSDS500 {args.split}: {len(dataset)} images; BR/BP: Stutz two-sided r=round(0.0025 '
          'diag) (=1 px), *_seal: one-sided r=1; pair means over annotators')
    print(table)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(json.dumps(rows, indent=2) if args.out.endswith('.json') else table + '\n')
    return rows


if __name__ == '__main__':
    main(sys.argv[1:])

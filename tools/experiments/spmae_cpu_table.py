"""The table of the CPU-sized SP-MAE comparison from the files of spmae_cpu_pretrain.sh and
spmae_cpu_eval.sh: per run the final pre-training loss, the mean s/it over the logged windows,
linear-probe top-1 and the zero-shot BSDS500 val scores (returned count, ASA, BR, BP, UE); then
the SPFormer runs' zero-shot scores at every connectivity minimum size evaluated
(spmae_cpu_matched.sh; 48 is the zero-shot config's), to compare at matched returned counts.

Usage (from the repository root)::

    python tools/experiments/spmae_cpu_table.py [WORK] [--seeds 0 1]
"""
import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import List, Optional

RUNS = [
    ('M1', 'mae_vit-t-p8', 'patch MAE, ViT-T/8 (mmpretrain MAE)'),
    ('M2', 'spmae-grid_spformer-t-s8', 'SP-MAE, grid masks'),
    ('M3', 'spmae_spformer-t-s8', 'SP-MAE, EMA-teacher superpixel masks, dilation 2 px'),
    ('M4', 'spmae-nodil_spformer-t-s8', 'SP-MAE, teacher masks, no dilation'),
    ('R', 'random', 'SPFormer-T/8, random init'),
    ('R-ViT', 'random-vit', 'ViT-T/8, random init'),
    ('S', 'spformer-t-s8', 'SPFormer-T/8, supervised (labels)'),
    ('grid', 'grid-28x28', '28x28 grid'),
    ('SLIC', 'slic-n784', 'SLIC, 784 asked'),
]
ZERO_SHOT = ('num_superpixels', 'ASA', 'BR', 'BP', 'UE')


def read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return next(iter(data.values())) if data and isinstance(next(iter(data.values())),
                                                            dict) else data


def train_stats(log: Path) -> dict:
    """Final logged loss and the mean of the logged per-window iteration times."""
    if not log.is_file():
        return {}
    lines = [ln for ln in log.read_text().splitlines()
             if 'Iter(train)' in ln or 'Epoch(train)' in ln]
    times = [float(m) for ln in lines for m in re.findall(r' time: ([0-9.]+)', ln)]
    losses = [float(m) for ln in lines for m in re.findall(r' loss: ([0-9.]+)', ln)]
    return dict(loss=losses[-1] if losses else None,
                s_per_it=round(statistics.mean(times), 2) if times else None)


def fmt(value, digits=3) -> str:
    if value is None:
        return ''
    return f'{value:.{digits}f}' if isinstance(value, float) else str(value)


def main(argv: Optional[List[str]] = None) -> str:
    parser = argparse.ArgumentParser(description='SP-MAE CPU comparison table')
    parser.add_argument('work', nargs='?', default='work_dirs/spmae_cpu')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0])
    args = parser.parse_args(argv)
    head = ['run', 'seed', 'what', 'final loss', 's/it', 'probe top-1'] + list(ZERO_SHOT)
    lines = ['| ' + ' | '.join(head) + ' |', '|---' * len(head) + '|']
    for seed in args.seeds:
        root = Path(args.work) / f'seed{seed}'
        for short, name, what in RUNS:
            stats = train_stats(root / f'{name}.log')
            probe = read_json(root / 'probe' / f'{name}.json')
            zs = read_json(root / 'zeroshot' / f'{name}.json')
            cells = [short, str(seed), what, fmt(stats.get('loss')), fmt(stats.get('s_per_it'), 2),
                     fmt(probe.get('top1'), 2)]
            cells += [fmt(zs.get(k), 0 if k == 'num_superpixels' else 3) for k in ZERO_SHOT]
            if any(cells[3:]):  # runs of this seed that exist
                lines.append('| ' + ' | '.join(cells) + ' |')
    matched = ['', '| run | seed | connectivity min size | ' + ' | '.join(ZERO_SHOT) + ' |',
               '|---' * (3 + len(ZERO_SHOT)) + '|']
    for seed in args.seeds:
        root = Path(args.work) / f'seed{seed}'
        found = [(short, name, 48, root / 'zeroshot' / f'{name}.json') for short, name, _ in RUNS]
        for path in (root / 'matched').glob('*-min*.json'):
            name, size = path.stem.rsplit('-min', 1)
            short = next((s for s, n, _ in RUNS if n == name), name)
            found.append((short, name, int(size), path))
        for short, name, size, path in sorted(found, key=lambda f: (f[1], f[2])):
            zs = read_json(path)
            if zs and short not in ('grid', 'SLIC'):
                matched.append(f'| {short} | {seed} | {size} | ' + ' | '.join(
                    fmt(zs.get(k), 0 if k == 'num_superpixels' else 3) for k in ZERO_SHOT) + ' |')
    table = '\n'.join(lines + matched)
    print(table)
    return table


if __name__ == '__main__':
    main(sys.argv[1:])

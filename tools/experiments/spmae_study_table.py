"""The tables of tools/experiments/spmae_study.py: per run its pre-training loss and s/it, E1
linear-probe top-1, E2 fine-tuned top-1, and E3 zero-shot BSDS500 val scores at each
connectivity minimum size and at matched returned counts.

Matched counts: each SPFormer run and the random-init control R of the same seed and data are
compared at one returned count: R's count at ``--ref-size`` (48, the zero-shot config's minimum
size), or, where the run's evaluated counts do not reach it, the nearest count that both
evaluated ranges cover. The scores there are interpolated linearly in the returned count between
the two evaluated minimum sizes that bracket it; ``dBR`` / ``dASA`` are the run's minus R's. The
emergence criterion of configs/spmae/README.md: dBR >= 0.03 and dASA >= 0 for every seed.

Only runs that finished (``status.json``) are read; the others are listed as not finished (a
fine-tuning run stopped at the deadline with the last top-1 it logged and its iteration: a partial
number, not the recipe's result).

Usage (from the repository root)::

    python tools/experiments/spmae_study_table.py [WORK] [--ref-size 48] [--out table.md]
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from spmae_cpu_table import fmt, read_json, train_stats  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from mmsp.utils.logs import find_scalars, read_scalars  # noqa: E402

ZERO_SHOT = ('num_superpixels', 'ASA', 'BR', 'BP', 'UE')


def interpolate(points: List[Tuple[float, float]], x: float) -> Optional[float]:
    """Linear interpolation of ``(x, y)`` points at ``x`` (None outside their range)."""
    points = sorted(points)
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return None


def _last_top1(work_dir: Path) -> Optional[Tuple[int, float]]:
    """The last validation top-1 logged under a fine-tuning work dir, with its iteration."""
    try:
        _, metrics = read_scalars(find_scalars(work_dir))
    except FileNotFoundError:
        return None
    values = metrics.get('accuracy/top1')
    return (values[-1][0], values[-1][1]) if values else None


def collect(work: Path) -> Dict[str, Dict[str, dict]]:
    """Per group (``natural/seed0``, ``cifar/seed1``) and run: its numbers."""
    status = json.loads((work / 'status.json').read_text())
    done = {name for name, st in status.items() if st['state'] == 'done'}
    groups: Dict[str, Dict[str, dict]] = {}
    for name in sorted(status):
        parts = name.split('/')
        group, short = '/'.join(parts[:2]), parts[2]
        row = groups.setdefault(group, {}).setdefault(short, dict(zeroshot={}, missing=[]))
        what = parts[3] if len(parts) > 3 else 'pretrain'
        if name not in done:
            note = f'{what} ({status[name]["state"]})'
            if what == 'finetune' and status[name]['state'] == 'stopped':
                partial = _last_top1(work / name)
                if partial:
                    note += f', top-1 {partial[1]:.2f} at iteration {partial[0]}'
            row['missing'].append(note)
            continue
        if what == 'pretrain':
            row.update(train_stats(work / f'{name}.log'))
        elif what == 'probe':
            row['probe'] = read_json(work / f'{name}.json').get('top1')
        elif what == 'finetune':
            row['finetune'] = (_last_top1(work / name) or (None, None))[1]
        elif what.startswith('zeroshot-min'):
            row['zeroshot'][int(what[len('zeroshot-min'):])] = read_json(work / f'{name}.json')
    return groups


def matched(row: dict, count: float) -> Dict[str, Optional[float]]:
    scores = list(row['zeroshot'].values())
    return {key: interpolate([(s['num_superpixels'], s[key]) for s in scores], count)
            for key in ('ASA', 'BR', 'BP', 'UE')}


def common_count(run: dict, ref: dict, count: float) -> Optional[float]:
    """``count`` moved into the returned-count range that both runs' evaluations cover."""
    counts = [[s['num_superpixels'] for s in r['zeroshot'].values()] for r in (run, ref)]
    low, high = max(min(c) for c in counts), min(max(c) for c in counts)
    return None if low > high else min(max(count, low), high)


def tables(work: Path, ref_size: int = 48) -> str:
    groups = collect(work)
    out = ['| data / seed | run | final loss | s/it | probe top-1 | fine-tune top-1 | '
           'not finished |', '|---|---|---|---|---|---|---|']
    for group, rows in groups.items():
        for short, row in rows.items():
            out.append(f'| {group} | {short} | {fmt(row.get("loss"))} | '
                       f'{fmt(row.get("s_per_it"), 2)} | {fmt(row.get("probe"), 2)} | '
                       f'{fmt(row.get("finetune"), 2)} | {", ".join(row["missing"])} |')
    out += ['', '| data / seed | run | min size | ' + ' | '.join(ZERO_SHOT) + ' |',
            '|---' * (3 + len(ZERO_SHOT)) + '|']
    for group, rows in groups.items():
        for short, row in rows.items():
            for size, s in sorted(row['zeroshot'].items()):
                out.append(f'| {group} | {short} | {size} | ' + ' | '.join(
                    fmt(s.get(k), 0 if k == 'num_superpixels' else 3) for k in ZERO_SHOT) + ' |')
    out += ['', f'Against R of the same data and seed at a matched returned count (R\'s at min '
            f'size {ref_size} where the run reaches it):', '',
            '| data / seed | run | count | ASA | BR | BP | UE | R ASA | R BR | dASA | dBR | '
            'criterion |', '|---' * 12 + '|']
    for group, rows in groups.items():
        ref = rows.get('R', {})
        if ref_size not in ref.get('zeroshot', {}):
            continue
        for short, row in rows.items():
            if not row['zeroshot'] or short == 'R':
                continue
            count = common_count(row, ref, ref['zeroshot'][ref_size]['num_superpixels'])
            if count is None:
                out.append(f'| {group} | {short} | | no returned count in common with R '
                           '| | | | | | |')
                continue
            m, r = matched(row, count), matched(ref, count)
            d_asa, d_br = m['ASA'] - r['ASA'], m['BR'] - r['BR']
            ok = 'met' if d_br >= 0.03 and d_asa >= 0 else 'not met'
            out.append(f'| {group} | {short} | {count:.0f} | ' + ' | '.join(
                fmt(m[k]) for k in ('ASA', 'BR', 'BP', 'UE')) + ' | ' + ' | '.join(
                    fmt(r[k]) for k in ('ASA', 'BR')) + f' | {d_asa:+.3f} | {d_br:+.3f} | {ok} |')
    return '\n'.join(out)


def main(argv: Optional[List[str]] = None) -> str:
    p = argparse.ArgumentParser(description='tables of the SP-MAE study')
    p.add_argument('work', nargs='?', default='work_dirs/spmae_study')
    p.add_argument('--ref-size', type=int, default=48)
    p.add_argument('--out', help='also write the tables to this markdown file')
    args = p.parse_args(argv)
    text = tables(Path(args.work), args.ref_size)
    print(text)
    if args.out:
        Path(args.out).write_text(text + '\n')
    return text


if __name__ == '__main__':
    main(sys.argv[1:])

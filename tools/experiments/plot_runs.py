"""Plot one logged scalar of several training runs on one axis, e.g. the training loss of the
heads of a study.

Each RUN is a work dir (the newest ``*/vis_data/scalars.json`` below it is read) or a
``scalars.json`` file; its label is the work dir's name unless ``--labels`` gives one per run.

Example::

    python tools/experiments/plot_runs.py \\
        work_dirs/camvid_study/{sp-head,fcn-head}_r18_1xb4-1k_camvid-240x320_adamw-lr1e-3 \\
        --key loss --out loss.png --labels "SP head" FCNHead
"""
import argparse
import json
from pathlib import Path
from typing import Dict, List, Tuple


def find_scalars(run: Path) -> Path:
    """The scalars file of ``run``: itself if it is a file, else the newest one below it."""
    if run.is_file():
        return run
    found = sorted(run.glob('*/vis_data/scalars.json'))
    if not found:
        raise FileNotFoundError(f'{run}: no */vis_data/scalars.json below this work dir')
    return found[-1]


def read_series(path: Path, key: str) -> Tuple[List[int], List[float]]:
    """The (step, value) pairs of ``key`` in an mmengine scalars file (one JSON dict a line)."""
    steps, values = [], []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record: Dict = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f'{path}:{number}: not a JSON line ({error})') from None
        if key in record:
            steps.append(int(record.get('step', record.get('iter', len(steps)))))
            values.append(float(record[key]))
    if not steps:
        raise KeyError(f'{path}: no record has the key {key!r}')
    return steps, values


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('runs', nargs='+', type=Path, help='work dirs or scalars.json files')
    parser.add_argument('--key', default='loss', help='logged scalar to plot (default: loss)')
    parser.add_argument('--labels', nargs='+', help='one label per run')
    parser.add_argument('--out', type=Path, required=True, help='PNG to write')
    parser.add_argument('--title', default=None)
    parser.add_argument('--xlabel', default='iteration')
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.runs):
        parser.error(f'--labels has {len(args.labels)} entries for {len(args.runs)} runs')
    labels = args.labels or [run.name for run in args.runs]

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    colours = plt.get_cmap('tab10')
    for index, (run, label) in enumerate(zip(args.runs, labels)):
        steps, values = read_series(find_scalars(run), args.key)
        ax.plot(steps, values, label=label, color=colours(index % 10), linewidth=1.6)
    ax.set_xlabel(args.xlabel)
    ax.set_ylabel(args.key)
    ax.grid(alpha=0.3)
    if args.title:
        ax.set_title(args.title)
    ax.legend(loc='upper left', bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()

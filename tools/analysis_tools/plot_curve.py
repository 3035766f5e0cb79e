"""Plot the learning curve of an mmengine run (``vis_data/scalars.json``) to a PNG.

One panel per scale, three per row, each with its legend below it, outside the data: the
training loss (and its running mean); percentages (``mIoU``, ``aAcc``, ``accuracy/top1``,
``sp/sp_mIoU``: names with acc, iou, dice, fscore, precision, recall or top); counts
(``sp/num_superpixels``: names with num or count); the other scores in [0, 1] (``sp/ASA``,
``sp/BR``, ...); any other values. Panels without data are left out.

Example::

    python tools/analysis_tools/plot_curve.py work_dirs/spformer-t_1xb64-2k_cifar10-64px \\
        --out curve.png
"""
import argparse
from pathlib import Path
from typing import Dict

import matplotlib

from mmsp.utils.logs import find_scalars, read_scalars

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


#: Panel titles, in drawing order.
PANELS = ('training loss', 'metrics in %', 'scores in [0, 1]', 'counts', 'other values')
#: Name parts of metrics that OpenMMLab reports in percent (mIoU, aAcc, accuracy/top1, ...).
PERCENT_WORDS = ('acc', 'iou', 'dice', 'fscore', 'precision', 'recall', 'top')


def metric_panel(key: str, values) -> str:
    """The panel (one of :data:`PANELS`) of a validation metric, from its name and values."""
    name = key.lower().split('/')[-1]
    top = max(abs(v) for _, v in values)
    if any(word in name for word in PERCENT_WORDS):
        return PANELS[1]
    if 'num' in name or 'count' in name:
        return PANELS[3]
    return PANELS[2] if top <= 1 else PANELS[4]


def group_series(losses, metrics) -> Dict[str, Dict[str, list]]:
    """``{panel: {label: [(iteration, value), ...]}}`` for the panels that have data."""
    groups: Dict[str, Dict[str, list]] = {}
    if losses:
        ys = [y for _, y in losses]
        k = max(1, len(ys) // 20)
        smooth = [sum(ys[max(0, i - k):i + 1]) / len(ys[max(0, i - k):i + 1])
                  for i in range(len(ys))]
        groups[PANELS[0]] = {'train loss': list(losses),
                             'running mean': [(x, s) for (x, _), s in zip(losses, smooth)]}
    for key, values in metrics.items():
        groups.setdefault(metric_panel(key, values), {})[key] = list(values)
    return {name: groups[name] for name in PANELS if name in groups}


def plot(losses, metrics, title: str, out: Path) -> Path:
    """Draw the panels of :func:`group_series`, three per row, into ``out`` (PNG)."""
    groups = group_series(losses, metrics)
    if not groups:
        raise ValueError('plot: no loss or metric to draw')
    cols = min(3, len(groups))
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), dpi=110,
                             squeeze=False)
    for ax in axes.flat[len(groups):]:
        ax.set_visible(False)
    colours = plt.get_cmap('tab10').colors
    markers = 'osD^vP*Xh<>'
    for ax, (name, series) in zip(axes.flat, groups.items()):
        for i, (label, points) in enumerate(series.items()):
            xs, ys = zip(*points)
            if name == PANELS[0]:
                ax.plot(xs, ys, color='0.7' if i == 0 else 'k', lw=0.8 if i == 0 else 1.5,
                        label=label)
            else:
                ax.plot(xs, ys, color=colours[i % len(colours)],
                        marker=markers[(i // len(colours)) % len(markers)], ms=4, lw=1.3,
                        label=label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel('iteration', fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        # legend below the axes, outside the data
        ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.2), fontsize=7, frameon=False,
                  ncol=2)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches='tight')
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description='Plot an mmengine learning curve to PNG')
    parser.add_argument('path', type=Path, help='work dir or scalars.json')
    parser.add_argument('--out', type=Path, default=None,
                        help='PNG (default: <work dir>/curve.png)')
    parser.add_argument('--title', default=None)
    args = parser.parse_args()
    scalars = find_scalars(args.path)
    losses, metrics = read_scalars(scalars)
    if not losses and not metrics:
        raise SystemExit(f'{scalars} holds no loss or metric records')
    out = args.out or (args.path if args.path.is_dir() else args.path.parent) / 'curve.png'
    plot(losses, metrics, args.title or str(args.path), out)
    last = {k: v[-1][1] for k, v in metrics.items()}
    print(f'{out}  ({len(losses)} loss points; last metrics: {last})')


if __name__ == '__main__':
    main()

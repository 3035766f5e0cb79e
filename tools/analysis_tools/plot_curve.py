"""Plot the learning curve of an mmengine run (``vis_data/scalars.json``) to a PNG.

Training loss (and a running mean) against iteration on the left axis, every validation
metric found in the log (e.g. ``accuracy/top1``, ``mIoU``, ``sp/ASA``) on the right axis.

Example::

    python tools/analysis_tools/plot_curve.py work_dirs/spformer-t_1xb64-2k_cifar10-64px \\
        --out curve.png
"""
import argparse
from pathlib import Path

import matplotlib

from mmsp.utils.logs import find_scalars, read_scalars

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


def plot(losses, metrics, title: str, out: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    if losses:
        xs, ys = zip(*losses)
        ax.plot(xs, ys, color='0.7', lw=0.8, label='train loss')
        k = max(1, len(ys) // 20)
        smooth = [sum(ys[max(0, i - k):i + 1]) / len(ys[max(0, i - k):i + 1])
                  for i in range(len(ys))]
        ax.plot(xs, smooth, color='k', lw=1.5, label='train loss (running mean)')
    ax.set_xlabel('iteration')
    ax.set_ylabel('loss')
    if metrics:
        ax2 = ax.twinx()
        for key, vals in metrics.items():
            xs, ys = zip(*vals)
            ax2.plot(xs, ys, marker='o', lw=1.5, label=key)
        ax2.set_ylabel('validation metric')
        ax2.legend(loc='upper right', fontsize=8)
    ax.legend(loc='upper left', fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


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

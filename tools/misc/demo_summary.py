"""Summary of the main job (tools/run_demo.sh): where the outputs are, what the numbers mean.

Reads the validation metrics logged by the two training runs and the zero-shot table, writes
``WORK/SUMMARY.md`` and prints it.
"""
import argparse
from pathlib import Path

from mmsp.utils.logs import last_metrics


def fmt(metrics: dict, key: str, scale: float = 1.0, digits: int = 2) -> str:
    value = metrics.get(key)
    return 'n/a' if value is None else f'{value * scale:.{digits}f}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work', type=Path)
    parser.add_argument('--cls-work', type=Path, required=True)
    parser.add_argument('--cls-data', required=True)
    parser.add_argument('--seg-work', type=Path, required=True)
    parser.add_argument('--seg-data', required=True)
    parser.add_argument('--zero-shot', type=Path, required=True)
    parser.add_argument('--minutes', type=int, default=0)
    args = parser.parse_args()
    cls = last_metrics(args.cls_work)
    seg = last_metrics(args.seg_work)
    table = args.zero_shot.read_text().strip() if args.zero_shot.is_file() else 'not run'
    lines = [
        '# mmsp main job: summary',
        '',
        f'Wall time: {args.minutes} min. Everything is under `{args.work}`.',
        '',
        '## 1. SPFormer-T classifier (superpixel tokens learned from image labels only)',
        f'- data: {args.cls_data}; model: SPFormer-T, 64 px input, 4x4 = 16 superpixels',
        f'- top-1 accuracy on the held-out test images: **{fmt(cls, "accuracy/top1")} %** '
        '(chance: 10 %)',
        f'- learning curve: `{args.work / "curve_spformer-t_cifar10.png"}`; checkpoint: '
        f'`{(args.cls_work / "last_checkpoint").read_text().strip()}`',
        '',
        '## 2. ResNet-18 + superpixel-transformer head on CamVid (trained from scratch)',
        f'- data: {args.seg_data}',
        f'- val mIoU: **{fmt(seg, "mIoU")} %** (11 classes; a short CPU schedule without '
        'ImageNet weights, far from the published CamVid numbers)',
        f'- the superpixels the head learned (no superpixel supervision), scored against the '
        f'CamVid labels: ASA {fmt(seg, "sp/ASA", digits=3)}, boundary recall '
        f'{fmt(seg, "sp/BR", digits=3)}, {fmt(seg, "sp/num_superpixels", digits=0)} '
        'superpixels per image on average',
        f'- learning curve: `{args.work / "curve_sp-head_camvid.png"}`',
        '',
        '## 3. Zero-shot superpixel quality on BSDS500 val (no training on BSDS)',
        '',
        table,
        '',
        'ASA: pixel accuracy reachable when every superpixel takes its majority ground-truth '
        'segment (1 = every superpixel inside one segment). BR/BP: boundary recall/precision '
        'within the tolerance. UE: undersegmentation error (lower is better). sp_mIoU/sp_mAcc: '
        'the SPFormer paper protocol (majority label per superpixel, scored like a '
        'segmentation). Compare rows at the same returned count.',
        '',
        '## 4. Pictures',
        f'- `{args.work / "pictures" / "zero_shot"}`: patch grid vs SPFormer-T vs SLIC '
        '(boundaries, mean colour, association heat map, rotated and occluded inputs)',
        f'- `{args.work / "pictures" / "camvid_sp_head"}`: superpixels of the CamVid head',
    ]
    text = '\n'.join(lines) + '\n'
    (args.work / 'SUMMARY.md').write_text(text)
    print(text)


if __name__ == '__main__':
    main()

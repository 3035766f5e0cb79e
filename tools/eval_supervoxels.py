"""Supervoxels on CamVid val clips at matched counts: baselines and SPFormer3D in one table.

Every method gives (T, H, W) supervoxel ids for the same clips (CamVid val, the 15-Hz run, clips
of ``--clip-len`` frames resized to ``--size``, labels resized by nearest neighbour), scored by the
LIBSVX definitions of :mod:`mmsp.evaluation.supervoxel` (Xu & Corso, CVPR 2012: 3-D SA, UE,
BR/BP, explained variation, mean duration; ground-truth segments are the 3-D 6-connected
components of every class within the clip, void excluded). The target count is that of the 3-D
grid of ``--cell`` cells (``(T / s_t) (H / s) (W / s)``); every method with a count parameter is
tuned per clip to come closest to it:

* ``grid-3d``: the regular grid of ``(s_t, s, s)`` cells;
* ``slic-2d``: scikit-image SLIC on every frame, ``n = target / T`` per frame, ids of different
  frames never shared (unlinked);
* ``slic-2d-linked``: the same, each superpixel then taking over the id of the previous frame's
  superpixel it overlaps most when that overlap covers at least half of it (one-to-one, largest
  overlaps first); ``n`` per frame raised until the clip's count meets the target;
* ``slic-3d``: SLIC on the whole ``T x H x W x 3`` volume, ``spacing = (s / s_t, 1, 1)`` so that
  its seed grid has the cells' aspect;
* ``spformer3d-inflated``: SPFormer3D built from ``--zero-shot-config`` and loaded from an image
  SPFormer checkpoint (``--zero-shot-checkpoint``; a freshly initialised SPFormer with
  ``--seed`` when none is given: then the row measures the architecture, not learned weights),
  i.e. inflated on load, ids from its last association;
* ``spformer3d-trained`` (with ``--config`` and ``--checkpoint``): a trained
  ``SPVideoEncoderDecoder``; also its per-frame mIoU over the same frames.

SA, UE and UE_np are computed twice: with the 3-D connected components of every class
as segments (LIBSVX) and with the class volumes (``*_class``).

Usage (the table of ``configs/supervoxel/README.md``)::

    OMP_NUM_THREADS=1 python tools/eval_supervoxels.py --data-root ../shared/data/camvid \\
        --clips 0 2 4 6 8 10 \\
        --config configs/supervoxel/spformer3d-t_1xb2-400it_camvid-clips-2x120x160.py \\
        --checkpoint work_dirs/svx_train/iter_400.pth --out work_dirs/svx_eval/clips6.json

Prints one Markdown row per method (means over the clips) and the seconds each method took.
"""
import argparse
import json
import os.path as osp
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

import mmsp  # noqa: F401  (registers mmsp)
from mmsp.evaluation.supervoxel import SUPERVOXEL_METRICS, clip_scores

ZERO_SHOT_CONFIG = ('configs/supervoxel/'
                    'spformer3d-t_inflated-zero-shot_camvid-val-clips-8x240x320.py')
METRICS = ('num_supervoxels', 'SA', 'UE_levinshtein', 'UE_np', 'BR', 'BP', 'EV', 'duration')
#: SA and UE again with the class volumes of the clip as ground-truth segments
CLASS_METRICS = ('SA', 'UE_levinshtein', 'UE_np')
NUM_CLASSES = 11
IGNORE = 255


# --------------------------------------------------------------------------------------- data
def load_clips(data_root: str, clip_len: int, size: Tuple[int, int],
               indices: Optional[Sequence[int]]) -> List[Dict]:
    """CamVid val clips at ``size``: ``inputs`` (3, T, H, W) uint8 BGR, ``labels`` (T, H, W)
    int64 (255 void), ``rgb`` (T, H, W, 3) uint8 and the frame ``names``."""
    from mmengine.registry import DefaultScope

    from mmsp.datasets import CamVidClipDataset
    h, w = size
    pipeline = [
        dict(
            type='ClipTransform',
            transforms=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations'),
                dict(type='Resize', scale=(w, h), keep_ratio=False),
            ]),
        dict(type='PackClipSegInputs'),
    ]
    if not osp.isdir(osp.join(data_root, 'images', 'val')):
        raise FileNotFoundError(f'--data-root: no images/val under {data_root!r}')
    with DefaultScope.overwrite_default_scope('mmseg'):
        dataset = CamVidClipDataset(
            data_root=data_root,
            data_prefix=dict(img_path='images/val', seg_map_path='labels/val'),
            clip_len=clip_len,
            clip_stride=clip_len,
            max_step=2,
            pipeline=pipeline)
    indices = list(range(len(dataset))) if indices is None else list(indices)
    bad = [i for i in indices if not 0 <= i < len(dataset)]
    if bad:
        raise ValueError(f'--clips: {bad} out of range; CamVid val has {len(dataset)} clips of '
                         f'{clip_len} frames')
    clips = []
    for i in indices:
        packed = dataset[i]
        inputs = packed['inputs']
        sample = packed['data_samples']
        clips.append(
            dict(
                index=i,
                inputs=inputs,
                labels=sample.gt_sem_seg.data.numpy(),
                rgb=np.ascontiguousarray(inputs.numpy()[::-1].transpose(1, 2, 3, 0)),
                names=[osp.splitext(osp.basename(p))[0] for p in sample.img_path]))
    return clips


# ------------------------------------------------------------------------------- baselines
def grid_3d(shape: Tuple[int, int, int], cell: Tuple[int, int, int]) -> np.ndarray:
    """Ids of the regular grid of ``cell`` = (s_t, s, s) cells over a (T, H, W) clip."""
    axes = [np.arange(n) // c for n, c in zip(shape, cell)]
    counts = [int(a[-1]) + 1 for a in axes]
    t, y, x = np.meshgrid(*axes, indexing='ij')
    return (t * counts[1] + y) * counts[2] + x


def slic_frames(rgb: np.ndarray, n_segments: int, compactness: float) -> np.ndarray:
    """SLIC on every frame (T, H, W, 3); ids offset frame by frame (no id shared)."""
    from skimage.segmentation import slic
    out, offset = [], 0
    for frame in rgb:
        ids = slic(frame, n_segments=n_segments, compactness=compactness, start_label=0,
                   channel_axis=-1)
        out.append(ids + offset)
        offset += int(ids.max()) + 1
    return np.stack(out)


def link_by_overlap(ids: np.ndarray, min_fraction: float = 0.5) -> np.ndarray:
    """Link per-frame superpixels (T, H, W) into supervoxels by overlap with the previous frame.

    A superpixel of frame t takes over the (already linked) id of the superpixel of frame t-1
    it overlaps most when the overlap covers at least ``min_fraction`` of it; pairs are taken
    largest overlap first and each previous id is taken over at most once.
    """
    out = ids.copy()
    for t in range(1, ids.shape[0]):
        cur, prev = ids[t].ravel(), out[t - 1].ravel()
        pairs, overlap = np.unique(np.stack([cur, prev]), axis=1, return_counts=True)
        cur_ids, cur_sizes = np.unique(cur, return_counts=True)
        size = dict(zip(cur_ids.tolist(), cur_sizes.tolist()))
        mapping, taken = {}, set()
        for k in np.argsort(-overlap, kind='stable'):
            c, p = int(pairs[0, k]), int(pairs[1, k])
            if c in mapping or p in taken or overlap[k] < min_fraction * size[c]:
                continue
            mapping[c], taken = p, taken | {p}
        lut = np.arange(int(ids[t].max()) + 1, dtype=ids.dtype)
        for c, p in mapping.items():
            lut[c] = p
        out[t] = lut[ids[t]]
    return out


def slic_3d(rgb: np.ndarray, n_segments: int, compactness: float,
            spacing: Tuple[float, float, float]) -> np.ndarray:
    """SLIC on the (T, H, W, 3) volume with per-axis ``spacing``."""
    from skimage.segmentation import slic
    return slic(rgb, n_segments=n_segments, compactness=compactness, spacing=np.array(spacing),
                start_label=0, channel_axis=-1)


def count(ids: np.ndarray) -> int:
    return int(len(np.unique(ids)))


def match_count(fn: Callable[[int], np.ndarray], target: int, start: int, rounds: int = 4,
                tolerance: float = 0.03) -> np.ndarray:
    """``fn(n)`` for the ``n`` whose count comes closest to ``target``: proportional updates
    from ``start``, at most ``rounds`` calls, stopping once within ``tolerance`` of it."""
    best, n, tried = None, max(1, start), set()
    for _ in range(rounds):
        if n in tried:
            break
        tried.add(n)
        ids = fn(n)
        k = count(ids)
        if best is None or abs(k - target) < abs(best[0] - target):
            best = (k, ids)
        if abs(k - target) <= tolerance * target:
            break
        n = max(1, int(round(n * target / max(k, 1))))
    return best[1]


# ---------------------------------------------------------------------------------- models
def build_segmentor(config: str, checkpoint: Optional[str]):
    """An ``SPVideoEncoderDecoder`` from ``config``, loaded from ``checkpoint`` (eval mode)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import load_checkpoint
    from mmseg.registry import MODELS
    if not osp.isfile(config):
        raise FileNotFoundError(f'config {config!r} not found')
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint {checkpoint!r} not found')
        load_checkpoint(model, checkpoint, map_location='cpu', strict=False,
                        logger='silent')
    return model.eval()


def random_image_checkpoint(path: str, arch, size: Tuple[int, int], seed: int) -> str:
    """Save a freshly initialised image SPFormer (superpixel stride 16, ``img_size=size``)
    under ``backbone.`` to ``path``."""
    from mmsp.models.backbones import SPFormer
    torch.manual_seed(seed)
    image = SPFormer(arch, superpixel_stride=16, img_size=size)
    image.init_weights()
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in image.state_dict().items()}},
               path)
    return path


def run_segmentor(model, clip: Dict) -> Tuple[np.ndarray, np.ndarray]:
    """``(pred_supervoxels, pred_sem_seg)`` (T, H, W) of one clip at its own size."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    t, h, w = clip['labels'].shape
    sample = SegDataSample(metainfo=dict(ori_shape=(h, w), img_shape=(h, w), clip_len=t))
    sample.gt_sem_seg = PixelData(data=torch.from_numpy(clip['labels']))
    with torch.no_grad():
        out = model.test_step(dict(inputs=[clip['inputs']], data_samples=[sample]))[0]
    return out.pred_supervoxels.data.numpy(), out.pred_sem_seg.data.numpy()


def confusion(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    valid = labels != IGNORE
    return np.bincount(labels[valid] * NUM_CLASSES + pred[valid],
                       minlength=NUM_CLASSES**2).reshape(NUM_CLASSES, NUM_CLASSES)


def miou(conf: np.ndarray) -> float:
    """Mean IoU over the classes present in the labels or predictions (mmseg's nan-mean)."""
    inter = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        return float(np.nanmean(np.where(union > 0, inter / union, np.nan)))


# ------------------------------------------------------------------------------------ main
def format_table(results: Dict[str, Dict]) -> str:
    """Markdown table of the mean scores: ``*_class`` columns use the class volumes as
    ground-truth segments, the others the 3-D connected components."""
    columns = [('count', 'num_supervoxels', '{:.0f}'), ('SA', 'SA', '{:.3f}'),
               ('UE', 'UE_levinshtein', '{:.1f}'), ('UE_np', 'UE_np', '{:.3f}'),
               ('SA class', 'SA_class', '{:.3f}'), ('UE class', 'UE_levinshtein_class', '{:.2f}'),
               ('UE_np class', 'UE_np_class', '{:.3f}'), ('BR', 'BR', '{:.3f}'),
               ('BP', 'BP', '{:.3f}'), ('EV', 'EV', '{:.3f}'), ('duration', 'duration', '{:.2f}')]
    lines = ['| method | ' + ' | '.join(c[0] for c in columns) + ' | mIoU | s |',
             '|---|' + '---:|' * (len(columns) + 2)]
    for name, res in results.items():
        m = res['mean']
        cells = [fmt.format(m[key]) for _, key, fmt in columns]
        cells.append(f'{100 * m["mIoU"]:.1f}' if 'mIoU' in m else '-')
        cells.append(f'{res["seconds"]:.0f}')
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='../shared/data/camvid')
    parser.add_argument('--clip-len', type=int, default=8)
    parser.add_argument('--size', type=int, nargs=2, default=[240, 320], metavar=('H', 'W'))
    parser.add_argument('--clips', type=int, nargs='+', default=None,
                        help='indices of the val clips (default: all)')
    parser.add_argument('--cell', type=int, nargs=3, default=[2, 16, 16],
                        metavar=('S_T', 'S', 'S'), help='supervoxel cell in input voxels')
    parser.add_argument('--compactness', type=float, default=10.)
    parser.add_argument('--methods', nargs='+', default=None,
                        help='subset of the methods (default: all available)')
    parser.add_argument('--zero-shot-config', default=ZERO_SHOT_CONFIG)
    parser.add_argument('--zero-shot-checkpoint', default=None,
                        help='image SPFormer checkpoint to inflate (default: a fresh init)')
    parser.add_argument('--config', default=None, help='trained SPVideoEncoderDecoder config')
    parser.add_argument('--checkpoint', default=None, help='its checkpoint')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default=None, help='JSON file for per-clip and mean scores')
    return parser.parse_args(argv)


def main(argv=None) -> Dict:
    args = parse_args(argv)
    if (args.config is None) != (args.checkpoint is None):
        raise ValueError('--config and --checkpoint go together')
    cell = tuple(args.cell)
    size = tuple(args.size)
    clips = load_clips(args.data_root, args.clip_len, size, args.clips)
    target = count(grid_3d((args.clip_len, ) + size, cell))
    per_frame = max(1, round(target / args.clip_len))
    spacing = (cell[1] / cell[0], 1., 1.)

    models: Dict[str, object] = {}
    methods: Dict[str, Callable[[Dict], np.ndarray]] = {
        'grid-3d': lambda c: grid_3d(c['labels'].shape, cell),
        'slic-2d': lambda c: match_count(
            lambda n: slic_frames(c['rgb'], n, args.compactness), target, per_frame),
        'slic-2d-linked': lambda c: match_count(
            lambda n: link_by_overlap(slic_frames(c['rgb'], n, args.compactness)), target,
            2 * per_frame),
        'slic-3d': lambda c: match_count(
            lambda n: slic_3d(c['rgb'], n, args.compactness, spacing), target, target),
        'spformer3d-inflated': lambda c: run_segmentor(models['spformer3d-inflated'], c)[0],
    }
    if args.config is not None:
        methods['spformer3d-trained'] = lambda c: run_segmentor(models['spformer3d-trained'],
                                                                c)
    if args.methods is not None:
        unknown = [m for m in args.methods if m not in methods]
        if unknown:
            raise ValueError(f'--methods: unknown {unknown}; choose from {list(methods)}')
        methods = {m: methods[m] for m in args.methods}

    if 'spformer3d-inflated' in methods:
        checkpoint = args.zero_shot_checkpoint
        if checkpoint is None:  # an image SPFormer of the same arch and spatial grid
            import tempfile

            from mmengine.config import Config
            backbone = Config.fromfile(args.zero_shot_config).model.backbone
            checkpoint = random_image_checkpoint(
                osp.join(tempfile.mkdtemp(), 'spformer_init.pth'), backbone.arch,
                tuple(backbone.img_size[1:]), args.seed)
        models['spformer3d-inflated'] = build_segmentor(args.zero_shot_config, checkpoint)
    if 'spformer3d-trained' in methods:
        models['spformer3d-trained'] = build_segmentor(args.config, args.checkpoint)

    print(f'{len(clips)} CamVid val clips {[c["index"] for c in clips]} of {args.clip_len} '
          f'frames at {size[0]}x{size[1]}; cell {cell}; target count {target}; '
          f'torch threads {torch.get_num_threads()}')
    results: Dict[str, Dict] = {}
    for name, fn in methods.items():
        start = time.perf_counter()
        scores, conf = [], np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
        for clip in clips:
            out = fn(clip)
            if isinstance(out, tuple):
                out, sem = out
                conf += confusion(sem, clip['labels'])
            score = clip_scores(out, clip['labels'], clip['rgb'], METRICS)
            by_class = clip_scores(out, clip['labels'], metrics=CLASS_METRICS, segments='labels')
            score.update({f'{m}_class': v for m, v in by_class.items()})
            scores.append(score)
        seconds = time.perf_counter() - start
        mean = {m: float(np.mean([s[m] for s in scores])) for m in scores[0]}
        if conf.any():
            mean['mIoU'] = miou(conf)
        results[name] = dict(mean=mean, clips=scores, seconds=seconds)
        print(f'  {name}: {seconds:.1f} s', flush=True)

    print(format_table(results))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(args=vars(args), target=target,
                           clips=[c['names'] for c in clips], results=results), f, indent=1)
    return results


assert set(METRICS) <= set(SUPERVOXEL_METRICS)

if __name__ == '__main__':
    main()

"""Superpixels and groups of a two-level model against grid / SLIC / SLIC + RAG at equal counts.

The group level of LGFormer-style models (Xie et al., arXiv 2409.01353) is a hard id map like
superpixels, so it is scored with the superpixel metrics against coarse labels.
For every image the model (a :class:`~mmsp.models.HierSPEncoderDecoder` with groups) predicts
``pred_superpixels`` and ``pred_groups``; the baselines run on the same resized input and are
asked for the same number of regions as the model returned on that image:

* ``grid``: a regular grid of about that many rectangular cells;
* ``slic``: scikit-image's SLIC (compactness 10, Lab), ``n_segments`` rescaled until it
  returns about as many segments (5 tries, the closest kept; the table reports the counts);
* ``slic+rag``: SLIC at the model's superpixel count, then greedy merging on the region
  adjacency graph, always the adjacent pair with the closest mean Lab colour (the rule of
  ``skimage.graph.merge_hierarchical`` with ``rag_mean_color``), stopped at the group count.

Scores: :class:`~mmsp.evaluation.SuperpixelMetric` (ASA, UE, BR, BP, count; Stutz boundaries at
0.25 % of the diagonal) of the region maps at the original image size against

* ``--dataset camvid``: the 7 coarse categories (``CAMVID_FINE_TO_COARSE``) and the 11 classes;
* ``--dataset bsds``: per image the coarsest annotation (fewest segments) and the finest (most).

Usage::

    python tools/experiments/hierarchy_region_quality.py CONFIG CHECKPOINT \
        --dataset camvid|bsds [--data-root DIR] [--short-side 120] [--max-images N] \
        [--out results.json]
"""
import argparse
import heapq
import json
import os.path as osp
import sys
import time
from glob import glob
from typing import Dict, List, Optional

import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmseg.structures import SegDataSample
from skimage.color import rgb2lab
from skimage.segmentation import slic

import mmsp  # noqa: F401
from mmsp.datasets import CAMVID_FINE_TO_COARSE
from mmsp.datasets.transforms import load_bsds_segmentations
from mmsp.evaluation import SuperpixelMetric
from mmsp.ops import relabel_contiguous
from mmsp.utils import build_model_from_config

METRICS = ['num_superpixels', 'ASA', 'UE', 'BR', 'BP']


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--dataset', choices=('camvid', 'bsds'), required=True)
    parser.add_argument('--data-root', help='default: ../shared/data/<camvid|bsds500>')
    parser.add_argument('--short-side', type=int, default=120,
                        help='the model input: images resized to this short side (default 120)')
    parser.add_argument('--max-images', type=int)
    parser.add_argument('--out', help='write the scores as JSON')
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------- baselines
def grid_regions(shape, count: int) -> np.ndarray:
    """About ``count`` rectangular cells of equal size on an (H, W) image."""
    h, w = shape
    rows = max(1, int(round(np.sqrt(count * h / w))))
    cols = max(1, int(round(count / rows)))
    r = np.minimum(np.arange(h) * rows // h, rows - 1)
    c = np.minimum(np.arange(w) * cols // w, cols - 1)
    return r[:, None] * cols + c[None, :]


def slic_regions(img: np.ndarray, count: int) -> np.ndarray:
    """SLIC with about ``count`` segments: ``n_segments`` rescaled by the ratio of the wanted
    to the returned count, 5 tries, the closest result kept."""
    n, best = count, None
    for _ in range(5):
        labels = slic(img, n_segments=max(n, 1), compactness=10, start_label=0)
        got = len(np.unique(labels))
        if best is None or abs(got - count) < abs(best[0] - count):
            best = (got, labels)
        if got == count:
            break
        n = max(1, int(round(n * count / got)))
    return best[1]


def rag_merge(img: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Greedy merging of adjacent regions by mean Lab colour distance down to ``count``."""
    labels = np.unique(labels, return_inverse=True)[1].reshape(labels.shape)
    n = labels.max() + 1
    lab = rgb2lab(img).reshape(-1, 3)
    flat = labels.ravel()
    size = np.bincount(flat, minlength=n).astype(np.float64)
    total = np.stack([np.bincount(flat, lab[:, k], minlength=n) for k in range(3)], 1)
    pairs = np.concatenate([
        np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], 1),
        np.stack([labels[:-1].ravel(), labels[1:].ravel()], 1)
    ])
    pairs = np.unique(np.sort(pairs[pairs[:, 0] != pairs[:, 1]], 1), axis=0)
    neighbours = [set() for _ in range(n)]
    for a, b in pairs:
        neighbours[a].add(b)
        neighbours[b].add(a)
    parent = np.arange(n)
    alive = n

    def dist(a, b):
        return float(np.linalg.norm(total[a] / size[a] - total[b] / size[b]))

    version = np.zeros(n, np.int64)  # bumped when a region grows: its older edges are stale
    heap = [(dist(a, b), a, b, 0, 0) for a, b in pairs]
    heapq.heapify(heap)
    while alive > count and heap:
        d, a, b, va, vb = heapq.heappop(heap)
        if parent[a] != a or parent[b] != b or version[a] != va or version[b] != vb:
            continue  # stale edge
        parent[b] = a
        size[a] += size[b]
        total[a] += total[b]
        version[a] += 1
        neighbours[a] |= neighbours[b]
        neighbours[a] -= {a, b}
        for c in neighbours[b]:
            if c != a:
                neighbours[c].discard(b)
                neighbours[c].add(a)
        neighbours[b] = set()
        alive -= 1
        for c in neighbours[a]:
            heapq.heappush(heap, (dist(a, c), a, c, version[a], version[c]))
    root = parent.copy()
    for i in range(n):
        r = i
        while root[r] != r:
            r = root[r]
        root[i] = r
    return root[labels]


# ---------------------------------------------------------------------------- data
def camvid_items(root: str) -> List[Dict]:
    lut = np.array([v for v in CAMVID_FINE_TO_COARSE][:11] + [255] * 245, np.int64)
    items = []
    for img_path in sorted(glob(osp.join(root, 'images', 'val', '*.*'))):
        name = osp.splitext(osp.basename(img_path))[0]
        label = mmcv.imread(osp.join(root, 'labels', 'val', name + '.png'), flag='unchanged')
        label = label.astype(np.int64)
        coarse = np.where(label == 255, 255, lut[np.minimum(label, 255)])
        items.append(dict(img=img_path, coarse=coarse[None], fine=label[None]))
    return items


def bsds_items(root: str) -> List[Dict]:
    items = []
    for img_path in sorted(glob(osp.join(root, 'images', 'val', '*.jpg'))):
        name = osp.splitext(osp.basename(img_path))[0]
        segs = load_bsds_segmentations(osp.join(root, 'groundTruth', 'val', name + '.mat'))
        counts = [len(np.unique(s)) for s in segs]
        items.append(
            dict(img=img_path, coarse=segs[int(np.argmin(counts))][None].astype(np.int64),
                 fine=segs[int(np.argmax(counts))][None].astype(np.int64)))
    return items


# ---------------------------------------------------------------------------- main
def predict(model, img: np.ndarray, short_side: int):
    """pred_superpixels and pred_groups (H, W) of an RGB image at its original size."""
    h, w = img.shape[:2]
    scale = short_side / min(h, w)
    small = mmcv.imresize(img, (int(round(w * scale)), int(round(h * scale))))
    pre = model.data_preprocessor
    x = torch.from_numpy(small).permute(2, 0, 1).float()[None]
    x = (x - pre.mean.view(1, 3, 1, 1)) / pre.std.view(1, 3, 1, 1)
    meta = dict(img_shape=small.shape[:2], pad_shape=small.shape[:2], ori_shape=(h, w))
    with torch.no_grad():
        res = model.predict(x, [SegDataSample(metainfo=meta)])[0]
    return small, res.pred_superpixels.data[0].numpy(), res.pred_groups.data[0].numpy()


def upsample_ids(ids: np.ndarray, shape) -> np.ndarray:
    return mmcv.imresize(ids.astype(np.float32), (shape[1], shape[0]),
                         interpolation='nearest').astype(np.int64)


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    root = args.data_root or osp.join('..', 'shared', 'data',
                                      'camvid' if args.dataset == 'camvid' else 'bsds500')
    items = camvid_items(root) if args.dataset == 'camvid' else bsds_items(root)
    items = items[:args.max_images] if args.max_images else items
    if not items:
        sys.exit(f'no val images under {root}')
    cfg = Config.fromfile(args.config)
    model = build_model_from_config(cfg)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    ignore = 255 if args.dataset == 'camvid' else None
    methods = ('model', 'grid', 'slic', 'slic+rag')
    keys = [(level, method, gt) for level in ('superpixels', 'groups') for method in methods
            for gt in ('coarse', 'fine') if not (method == 'slic+rag' and level == 'superpixels')]
    scorers = {key: SuperpixelMetric(metrics=METRICS, ignore_index=ignore) for key in keys}
    start = time.perf_counter()
    for i, item in enumerate(items):
        img = mmcv.imread(item['img'], channel_order='rgb')
        small, sp, groups = predict(model, img, args.short_side)
        n_sp, n_groups = len(np.unique(sp)), len(np.unique(groups))
        base_sp = slic_regions(small, n_sp)
        maps = {
            ('superpixels', 'model'): sp,
            ('groups', 'model'): groups,
            ('superpixels', 'grid'): upsample_ids(grid_regions(small.shape[:2], n_sp), img.shape),
            ('groups', 'grid'): upsample_ids(grid_regions(small.shape[:2], n_groups), img.shape),
            ('superpixels', 'slic'): upsample_ids(base_sp, img.shape),
            ('groups', 'slic'): upsample_ids(slic_regions(small, n_groups), img.shape),
            ('groups', 'slic+rag'): upsample_ids(rag_merge(small, base_sp, n_groups), img.shape),
        }
        for (level, method, gt), scorer in scorers.items():
            ids = relabel_contiguous(torch.from_numpy(maps[(level, method)])[None])[0][0]
            scorer.process({}, [{
                'pred_superpixels': ids[None],
                'gt_sem_seg': torch.from_numpy(item[gt]),
                'img_path': item['img']
            }])
        if (i + 1) % 20 == 0:
            print(f'{i + 1}/{len(items)} images, {time.perf_counter() - start:.0f} s', flush=True)
    out = {}
    for (level, method, gt), scorer in scorers.items():
        scores = scorer.compute_metrics(scorer.results)
        out[f'{level}/{method}/{gt}'] = {k: round(float(v), 4) for k, v in scores.items()}
    print(f'{"level / method / against":34s}' + ''.join(f'{m:>16s}' for m in METRICS))
    for key, scores in out.items():
        print(f'{key:34s}' + ''.join(f'{scores.get(m, float("nan")):16.4f}' for m in METRICS))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(args=vars(args), images=len(items), scores=out), f, indent=1)
    return out


if __name__ == '__main__':
    main()

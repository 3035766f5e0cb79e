"""Integration (CPU, about a minute): SPFormer3D trained briefly on moving-shape clips with a
per-voxel shape-class loss gives supervoxels that beat the 3-D grid on 3-D segmentation
accuracy, which the untrained model does not."""
import numpy as np
import torch
import torch.nn.functional as F

from mmsp.datasets.synthetic import make_moving_shapes
from mmsp.evaluation.supervoxel import clip_scores
from mmsp.models.backbones import SPFormer3D
from mmsp.ops.fast import fast_path

ARCH = dict(pixel_dims=16, embed_dims=32, depths=(1, 1), num_heads=2, sp_heads=2, sp_iter=1)
CELL = (2, 16, 16)  # 4 x 64 x 64 clips: a 2 x 4 x 4 grid of 32 supervoxels


def _batch(seed, n=2):
    clips = [make_moving_shapes(T=4, H=64, W=64, seed=seed * 10 + i) for i in range(n)]
    x = torch.stack([torch.from_numpy(c.video).permute(3, 0, 1, 2).float() / 127.5 - 1
                     for c in clips])
    return clips, x, torch.stack([torch.from_numpy(c.classes) for c in clips])


def _grid(shape):
    """The 3-D grid of CELL cells, written out with loops."""
    ids = np.zeros(shape, np.int64)
    for t in range(shape[0]):
        for y in range(shape[1]):
            for x in range(shape[2]):
                ids[t, y, x] = ((t // CELL[0]) * 4 + y // CELL[1]) * 4 + x // CELL[2]
    return ids


def _sa(model):
    """Mean 3-D SA (shape instances, background included, as label volumes) of the model's
    supervoxels and of the grid's on 8 held-out clips, and the mean counts."""
    model.eval()
    ours, grid, counts = [], [], []
    with torch.no_grad():
        for seed in range(4):
            clips, x, _ = _batch(seed)
            ids, k = model.forward_supervoxels(x)
            for clip, sv in zip(clips, ids):
                kw = dict(metrics=('SA', ), ignore_index=None, segments='labels')
                ours.append(clip_scores(sv.numpy(), clip.instances, **kw)['SA'])
                grid.append(clip_scores(_grid(clip.instances.shape), clip.instances, **kw)['SA'])
            counts += k.tolist()
    model.train()
    return float(np.mean(ours)), float(np.mean(grid)), float(np.mean(counts))


def test_trained_supervoxels_beat_the_grid_on_sa():
    torch.manual_seed(0)
    with fast_path(False):
        model = SPFormer3D(ARCH, superpixel_stride=CELL, img_size=(4, 64, 64),
                           unfold_outputs=True, drop_path_rate=0.)
    head = torch.nn.Conv3d(32, 4, 1)
    before, grid, _ = _sa(model)
    assert before < grid  # untrained: worse than the grid
    opt = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=2e-3)
    for it in range(100):
        _, x, y = _batch(1000 + it)
        logits = F.interpolate(head(model(x)[0]), size=y.shape[1:], mode='trilinear')
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after, grid_again, count = _sa(model)
    assert grid_again == grid
    assert count <= 32
    assert after > grid + 0.1, (before, after, grid)

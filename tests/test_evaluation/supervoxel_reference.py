"""Slow, obviously-correct supervoxel scores (voxel loops, dicts, sets), for tests only.

Written from the definitions of Xu & Corso's LIBSVX benchmark; void voxels are skipped.
Volumes are nested lists or arrays indexed ``[t][y][x]``.
"""
import math
from collections import defaultdict, deque

NEIGHBOURS = ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1))


def _voxels(vol):
    for t in range(len(vol)):
        for y in range(len(vol[0])):
            for x in range(len(vol[0][0])):
                yield t, y, x


def _neighbours(vol, t, y, x):
    for dt, dy, dx in NEIGHBOURS:
        n = (t + dt, y + dy, x + dx)
        if 0 <= n[0] < len(vol) and 0 <= n[1] < len(vol[0]) and 0 <= n[2] < len(vol[0][0]):
            yield n


def components(labels, ignore_index=255):
    """Segment of every valid voxel: 6-connected flood fill of equal labels; None on void."""
    seg = {}
    count = 0
    for v in _voxels(labels):
        label = labels[v[0]][v[1]][v[2]]
        if label == ignore_index or v in seg:
            continue
        seg[v] = count
        queue = deque([v])
        while queue:
            u = queue.popleft()
            for n in _neighbours(labels, *u):
                if n not in seg and labels[n[0]][n[1]][n[2]] == label:
                    seg[n] = count
                    queue.append(n)
        count += 1
    return seg


def label_segments(labels, ignore_index=255):
    """Segment of every valid voxel when every label is one segment."""
    return {v: labels[v[0]][v[1]][v[2]] for v in _voxels(labels)
            if labels[v[0]][v[1]][v[2]] != ignore_index}


def _tables(sv, seg):
    n, size_s, size_g = defaultdict(int), defaultdict(int), defaultdict(int)
    for v, g in seg.items():
        j = sv[v[0]][v[1]][v[2]]
        n[j, g] += 1
        size_s[j] += 1
        size_g[g] += 1
    return n, size_s, size_g


def ue_levinshtein(sv, seg):
    n, size_s, size_g = _tables(sv, seg)
    scores = []
    for g, gsize in size_g.items():
        touching = {j for (j, gg) in n if gg == g}
        scores.append((sum(size_s[j] for j in touching) - gsize) / gsize)
    return sum(scores) / len(scores)


def ue_np(sv, seg):
    n, size_s, _ = _tables(sv, seg)
    return sum(min(c, size_s[j] - c) for (j, _), c in n.items()) / len(seg)


def sa(sv, seg):
    n, size_s, size_g = _tables(sv, seg)
    scores = []
    for g, gsize in size_g.items():
        inside = sum(c for (j, gg), c in n.items() if gg == g and c >= size_s[j] - c)
        scores.append(inside / gsize)
    return sum(scores) / len(scores)


def boundary(vol, valid):
    """Voxels with a valid 6-neighbour of another id, the voxel itself being valid."""
    out = set()
    for v in _voxels(vol):
        if not valid(v):
            continue
        for n in _neighbours(vol, *v):
            if valid(n) and vol[n[0]][n[1]][n[2]] != vol[v[0]][v[1]][v[2]]:
                out.add(v)
    return out


def br_bp(sv, seg):
    gt = [[[seg.get((t, y, x), -1) for x in range(len(sv[0][0]))] for y in range(len(sv[0]))]
          for t in range(len(sv))]
    b_gt = boundary(gt, lambda v: v in seg)
    b_sv = boundary(sv, lambda v: v in seg)
    hit = len(b_gt & b_sv)
    return (hit / len(b_gt) if b_gt else math.nan, hit / len(b_sv) if b_sv else math.nan)


def ev(video, sv):
    voxels = list(_voxels(sv))
    channels = len(video[0][0][0])
    mu = [sum(video[t][y][x][c] for t, y, x in voxels) / len(voxels) for c in range(channels)]
    members = defaultdict(list)
    for t, y, x in voxels:
        members[sv[t][y][x]].append((t, y, x))
    explained = 0.0
    for vs in members.values():
        for c in range(channels):
            mean = sum(video[t][y][x][c] for t, y, x in vs) / len(vs)
            explained += len(vs) * (mean - mu[c])**2
    total = sum((video[t][y][x][c] - mu[c])**2 for t, y, x in voxels for c in range(channels))
    return explained / total


def duration(sv):
    frames = defaultdict(set)
    for t, y, x in _voxels(sv):
        frames[sv[t][y][x]].add(t)
    return sum(len(f) for f in frames.values()) / len(frames)

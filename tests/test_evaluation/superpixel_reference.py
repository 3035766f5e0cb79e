"""Slow, obviously-correct reference scorers (pixel loops and dicts), for tests only."""
import math
from collections import defaultdict


def _valid(gt, ignore_index):
    h, w = len(gt), len(gt[0])
    return [[ignore_index is None or gt[y][x] != ignore_index for x in range(w)] for y in range(h)]


def overlaps(sp, gt, ignore_index=None):
    """n[(j, i)], |S_j| and |G_i| over the valid pixels."""
    valid = _valid(gt, ignore_index)
    n, size_s, size_g = defaultdict(int), defaultdict(int), defaultdict(int)
    for y in range(len(sp)):
        for x in range(len(sp[0])):
            if valid[y][x]:
                n[(sp[y][x], gt[y][x])] += 1
                size_s[sp[y][x]] += 1
                size_g[gt[y][x]] += 1
    return n, size_s, size_g


def asa(sp, gt, ignore_index=None):
    n, size_s, _ = overlaps(sp, gt, ignore_index)
    total = sum(size_s.values())
    best = {j: max(c for (jj, _), c in n.items() if jj == j) for j in size_s}
    return sum(best.values()) / total


def ue_np(sp, gt, ignore_index=None):
    n, size_s, _ = overlaps(sp, gt, ignore_index)
    total = sum(size_s.values())
    return sum(min(c, size_s[j] - c) for (j, _), c in n.items()) / total


def ue_levinshtein(sp, gt, ignore_index=None):
    n, size_s, size_g = overlaps(sp, gt, ignore_index)
    terms = []
    for i, gi in size_g.items():
        covered = sum(size_s[j] for (j, ii), c in n.items() if ii == i and c > 0)
        terms.append((covered - gi) / gi)
    return sum(terms) / len(terms)


def boundary(ids, convention, valid=None):
    h, w = len(ids), len(ids[0])
    out = [[False] * w for _ in range(h)]

    def ok(a, b):
        return valid is None or (valid[a[0]][a[1]] and valid[b[0]][b[1]])

    for y in range(h):
        for x in range(w):
            nbs = [(y + 1, x), (y, x + 1)]
            if convention == 'stutz':
                nbs += [(y - 1, x), (y, x - 1)]
            for (v, u) in nbs:
                if 0 <= v < h and 0 <= u < w and ids[v][u] != ids[y][x] and ok((y, x), (v, u)):
                    out[y][x] = True
    return out


def boundary_scores(sp, gt, r, convention='stutz', ignore_index=None):
    """(BR, BP) with the window test done pixel by pixel."""
    h, w = len(sp), len(sp[0])
    valid = None if ignore_index is None else _valid(gt, ignore_index)
    bg, bs = boundary(gt, convention, valid), boundary(sp, convention)
    if valid is not None:
        bs = [[bs[y][x] and valid[y][x] for x in range(w)] for y in range(h)]

    def near(b, y, x):
        return any(b[v][u] for v in range(max(0, y - r), min(h, y + r + 1))
                   for u in range(max(0, x - r), min(w, x + r + 1)))

    gt_pts = [(y, x) for y in range(h) for x in range(w) if bg[y][x]]
    sp_pts = [(y, x) for y in range(h) for x in range(w) if bs[y][x]]
    br = sum(near(bs, y, x) for y, x in gt_pts) / len(gt_pts) if gt_pts else math.nan
    bp = sum(near(bg, y, x) for y, x in sp_pts) / len(sp_pts) if sp_pts else math.nan
    return br, bp


def explained_variation(img, sp):
    h, w = len(sp), len(sp[0])
    chans = len(img[0][0])
    mu = [sum(img[y][x][c] for y in range(h) for x in range(w)) / (h * w) for c in range(chans)]
    sums, counts = defaultdict(lambda: [0.0] * chans), defaultdict(int)
    for y in range(h):
        for x in range(w):
            counts[sp[y][x]] += 1
            for c in range(chans):
                sums[sp[y][x]][c] += img[y][x][c]
    num = den = 0.0
    for y in range(h):
        for x in range(w):
            j = sp[y][x]
            for c in range(chans):
                num += (sums[j][c] / counts[j] - mu[c])**2
                den += (img[y][x][c] - mu[c])**2
    return num / den


def compactness(sp):
    h, w = len(sp), len(sp[0])
    area, perim = defaultdict(int), defaultdict(int)
    for y in range(h):
        for x in range(w):
            j = sp[y][x]
            area[j] += 1
            for v, u in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if not (0 <= v < h and 0 <= u < w) or sp[v][u] != j:
                    perim[j] += 1
    return sum(area[j] * 4 * math.pi * area[j] / perim[j]**2 for j in area) / (h * w)


def majority_miou(sp, gt, num_classes, ignore_index=None):
    """Paint each superpixel with its majority label (ties: smallest), mIoU/mAcc in [0, 1]."""
    n, size_s, _ = overlaps(sp, gt, ignore_index)
    major = {}
    for j in size_s:
        cands = sorted((-c, i) for (jj, i), c in n.items() if jj == j)
        major[j] = cands[0][1]
    valid = _valid(gt, ignore_index)
    inter, pred, label = [0] * num_classes, [0] * num_classes, [0] * num_classes
    for y in range(len(sp)):
        for x in range(len(sp[0])):
            if not valid[y][x]:
                continue
            p, g = major[sp[y][x]], gt[y][x]
            pred[p] += 1
            label[g] += 1
            inter[g] += p == g
    ious = [
        inter[c] / (pred[c] + label[c] - inter[c]) for c in range(num_classes)
        if pred[c] + label[c] - inter[c] > 0
    ]
    accs = [inter[c] / label[c] for c in range(num_classes) if label[c] > 0]
    return sum(ious) / len(ious), sum(accs) / len(accs)

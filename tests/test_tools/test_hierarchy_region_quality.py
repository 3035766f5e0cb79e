"""tools/experiments/hierarchy_region_quality.py: the baselines it compares groups against."""
import numpy as np
from tools_helpers import load_tool

tool = load_tool('experiments/hierarchy_region_quality')


def _reference_merge_order(means, adjacency, count):
    """Brute force: merge the closest adjacent pair (size-weighted means) until ``count``."""
    regions = {i: ([i], np.array(m, float), 1.0) for i, m in enumerate(means)}
    adjacency = {i: set(n) for i, n in adjacency.items()}
    while len(regions) > count:
        a, b = min(((a, b) for a in regions for b in adjacency[a] if a < b),
                   key=lambda p: np.linalg.norm(regions[p[0]][1] - regions[p[1]][1]))
        ma, mb = regions[a], regions.pop(b)
        size = ma[2] + mb[2]
        regions[a] = (ma[0] + mb[0], (ma[1] * ma[2] + mb[1] * mb[2]) / size, size)
        adjacency[a] = (adjacency[a] | adjacency.pop(b)) - {a, b}
        for n in adjacency.values():
            if b in n:
                n.discard(b)
                n.add(a)
        adjacency[a] -= {a}
    return sorted(sorted(members) for members, _, _ in regions.values())


def test_rag_merge_joins_the_closest_colours_first():
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 255, (3, 4, 3))
    img = np.kron(colours, np.ones((5, 5, 1))).astype(np.uint8)  # 3x4 blocks of 5x5 px
    labels = np.kron(np.arange(12).reshape(3, 4), np.ones((5, 5), int))
    from skimage.color import rgb2lab
    means = rgb2lab(colours.astype(np.uint8)).reshape(12, 3)
    adjacency = {i: set() for i in range(12)}
    for i in range(12):
        r, c = divmod(i, 4)
        for rr, cc in ((r + 1, c), (r, c + 1)):
            if rr < 3 and cc < 4:
                adjacency[i].add(rr * 4 + cc)
                adjacency[rr * 4 + cc].add(i)
    for count in (12, 7, 3, 1):
        merged = tool.rag_merge(img, labels, count)
        assert len(np.unique(merged)) == count
        got = sorted(sorted(np.unique(labels[merged == v]).tolist()) for v in np.unique(merged))
        # block sizes are equal, so size-weighted means are plain means of the members
        assert got == _reference_merge_order(means, adjacency, count)


def test_grid_and_slic_counts():
    grid = tool.grid_regions((120, 180), 24)
    assert len(np.unique(grid)) == 24  # 4 x 6
    from skimage.data import astronaut
    img = astronaut()[::8, ::8]  # 64 x 64, public domain
    labels = tool.slic_regions(img, 20)
    assert abs(len(np.unique(labels)) - 20) <= 6

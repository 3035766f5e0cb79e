"""Id maps: ``resize_ids`` against its definition (output pixel i reads input pixel
floor((i + 0.5) * in / out)) and ``enforce_connectivity`` against a slow reference of its rule."""
from collections import Counter, deque

import numpy as np
import pytest
import torch
from scipy import ndimage

from mmsp.ops import enforce_connectivity, resize_ids


def _reference(ids: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Per output pixel: the input pixel whose extent holds the output pixel's centre."""
    in_h, in_w = ids.shape
    out = np.empty((out_h, out_w), dtype=ids.dtype)
    for i in range(out_h):
        for j in range(out_w):
            # centre of output pixel (i, j) in input coordinates
            cy, cx = (i + 0.5) * in_h / out_h, (j + 0.5) * in_w / out_w
            out[i, j] = ids[min(int(np.floor(cy)), in_h - 1), min(int(np.floor(cx)), in_w - 1)]
    return out


def test_non_integer_ratio_uses_pixel_centres():
    # the centre offset matters: without it width 5 would read [0, 0, 1, 1, 2]
    assert resize_ids(torch.tensor([[0, 1, 2]]), (1, 5)).tolist() == [[0, 0, 1, 2, 2]]
    assert resize_ids(torch.tensor([[0, 1, 2, 3, 4]]), (1, 3)).tolist() == [[0, 2, 4]]


@pytest.mark.parametrize('in_size,out_size', [((2, 3), (4, 6)), ((3, 5), (7, 4)), ((7, 5), (3, 11)),
                                              ((5, 5), (5, 5)), ((4, 9), (1, 1))])
def test_matches_centre_reference(in_size, out_size):
    ids = torch.randperm(in_size[0] * in_size[1]).view(in_size)
    out = resize_ids(ids, out_size)
    np.testing.assert_array_equal(out.numpy(), _reference(ids.numpy(), *out_size))


def test_round_trip_and_batch_dims():
    ids = torch.arange(24).view(2, 3, 4)
    assert torch.equal(resize_ids(resize_ids(ids, (6, 12)), (3, 4)), ids)
    assert resize_ids(ids, (5, 7)).shape == (2, 5, 7)


# ---------------------------------------------------------------------------- enforce_connectivity
def _flood_pieces(ids: np.ndarray):
    """4-connected pieces of equal ids by breadth-first flood fill, numbered in raster order."""
    h, w = ids.shape
    piece = np.full((h, w), -1)
    count = 0
    for y in range(h):
        for x in range(w):
            if piece[y, x] >= 0:
                continue
            piece[y, x] = count
            queue = deque([(y, x)])
            while queue:
                cy, cx = queue.popleft()
                for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                    if 0 <= ny < h and 0 <= nx < w and piece[ny, nx] < 0 \
                            and ids[ny, nx] == ids[cy, cx]:
                        piece[ny, nx] = count
                        queue.append((ny, nx))
            count += 1
    return piece


def _sizes_and_borders(regions: np.ndarray):
    """Pixel count of every region and border length (pixel edges) of every ordered pair."""
    h, w = regions.shape
    sizes, borders = Counter(regions.ravel().tolist()), Counter()
    for y in range(h):
        for x in range(w):
            for ny, nx in ((y + 1, x), (y, x + 1)):
                if ny < h and nx < w and regions[y, x] != regions[ny, nx]:
                    a, b = int(regions[y, x]), int(regions[ny, nx])
                    borders[a, b] += 1
                    borders[b, a] += 1
    return sizes, borders


def _connectivity_reference(ids: np.ndarray, min_size: int) -> np.ndarray:
    """The documented rule, one explicit merge at a time. Regions keep their large piece's
    number; returns the region number of every pixel."""
    regions = _flood_pieces(ids)
    if min_size <= 1:
        return regions
    while True:  # rounds: every small region with a large neighbour joins its best one
        sizes, borders = _sizes_and_borders(regions)
        best = {}
        for (a, b), length in borders.items():
            if sizes[a] < min_size <= sizes[b]:
                key = (length, sizes[b], -b)
                if a not in best or key > best[a][0]:
                    best[a] = (key, b)
        if not best:
            break
        regions = np.vectorize(lambda r: best[r][1] if r in best else r)(regions)
    while True:  # only without any large piece: smallest first into its best neighbour
        sizes, borders = _sizes_and_borders(regions)
        if len(sizes) == 1 or min(sizes.values()) >= min_size:
            return regions
        small = min(sizes, key=lambda r: (sizes[r], r))
        near = {b: length for (a, b), length in borders.items() if a == small}
        large = max(near, key=lambda r: (near[r], sizes[r], -r))
        regions = np.where(regions == small, large, regions)


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = {(int(x), int(y)) for x, y in zip(a.ravel(), b.ravel())}
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


def _fragmented(rng, shape=(15, 18), block=5, noise=0.2, labels=5):
    """Blocky ids with a fraction of pixels replaced by random ids (many small pieces)."""
    rows, cols = -(-shape[0] // block), -(-shape[1] // block)
    ids = np.kron(rng.integers(0, labels, (rows, cols)), np.ones((block, block), int))
    ids = ids[:shape[0], :shape[1]]
    flip = rng.random(shape) < noise
    ids[flip] = rng.integers(0, labels, int(flip.sum()))
    return ids


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('min_size', [0, 4, 12, 40])
def test_connectivity_matches_the_slow_reference(seed, min_size):
    ids = _fragmented(np.random.default_rng(seed))
    out, k = enforce_connectivity(ids, min_size)
    expected = _connectivity_reference(ids, min_size)
    assert out.dtype == np.int64 and k == len(np.unique(expected))
    assert _same_partition(out, expected)


def test_connectivity_without_any_large_piece_matches_the_reference():
    ids = np.random.default_rng(3).integers(0, 4, (10, 12))  # pieces of a few pixels only
    out, k = enforce_connectivity(ids, 9)
    assert _same_partition(out, _connectivity_reference(ids, 9))
    assert (np.bincount(out.ravel()) >= 9).all() and k > 1


def test_connectivity_tie_breaks():
    # a 1-pixel piece between two large pieces with one border edge each: the larger wins
    out, _ = enforce_connectivity(np.array([[0, 0, 0, 9, 1, 1, 1, 1]]), 2)
    assert out.tolist() == [[0, 0, 0, 1, 1, 1, 1, 1]]
    out, _ = enforce_connectivity(np.array([[0, 0, 0, 0, 9, 1, 1, 1]]), 2)
    assert out.tolist() == [[0, 0, 0, 0, 0, 1, 1, 1]]
    # equal sizes: the lower piece number (raster order of the first pixel)
    out, _ = enforce_connectivity(np.array([[5, 5, 5, 9, 2, 2, 2]]), 2)
    assert out.tolist() == [[0, 0, 0, 0, 1, 1, 1]]


def test_small_pieces_never_merge_with_each_other_while_a_large_one_exists():
    # a 1-pixel centre inside an 8-pixel ring inside a large frame, min_size 9: the ring joins
    # the frame in round one, the centre (touching only the ring) in round two. Merging the
    # centre into the ring first would leave a 9-pixel ring region.
    ids = np.zeros((7, 7), int)
    ids[2:5, 2:5] = 1
    ids[3, 3] = 2
    out, k = enforce_connectivity(ids, 9)
    assert k == 1 and (out == 0).all()


@pytest.mark.parametrize('seed', range(4))
def test_connectivity_properties(seed):
    rng = np.random.default_rng(10 + seed)
    ids = _fragmented(rng, shape=(31, 37), block=6, noise=0.3, labels=7)
    split, k0 = enforce_connectivity(ids, 0)
    assert _same_partition(split, _flood_pieces(ids))  # min_size 0 only splits
    for min_size in (1, 10, 50):
        out, k = enforce_connectivity(ids, min_size)
        assert np.array_equal(np.unique(out), np.arange(k))  # contiguous ids
        assert (np.bincount(out.ravel()) >= min_size).all()
        for label in range(k):
            assert ndimage.label(out == label)[1] == 1  # connected (4-neighbourhood)
        for label in range(k0):
            assert len(np.unique(out[split == label])) == 1  # pieces are never split
    # an image smaller than min_size becomes one region
    out, k = enforce_connectivity(ids[:3, :4], 100)
    assert k == 1 and (out == 0).all()


def test_connectivity_arbitrary_id_values_and_errors():
    ids = np.array([[-7, -7, 3], [2**40, 3, 3]])
    out, k = enforce_connectivity(ids, 0)
    assert k == 3 and _same_partition(out, ids)
    out, k = enforce_connectivity(ids.astype(np.float64), 0)
    assert k == 3
    assert enforce_connectivity(np.zeros((0, 4), int), 3)[1] == 0
    with pytest.raises(ValueError, match='min_size'):
        enforce_connectivity(ids, -1)

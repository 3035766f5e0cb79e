"""resize_ids against its definition: output pixel i reads input floor((i + 0.5) * in / out)."""
import numpy as np
import pytest
import torch

from mmsp.ops import resize_ids


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

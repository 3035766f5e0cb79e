"""The regular patch grid: the "Patch" row of the SPFormer zero-shot table."""
import math
from typing import Optional, Sequence, Tuple

import torch
from mmseg.registry import MODELS
from torch import Tensor

from .base import BaseSuperpixelModel

__all__ = ['PatchGridSuperpixels', 'grid_shape', 'grid_superpixels']


def grid_shape(height: int, width: int, num_superpixels: int) -> Tuple[int, int]:
    """Rows and columns of a grid with about ``num_superpixels`` near-square cells.

    ``rows = round(sqrt(N H / W))`` and ``cols = round(sqrt(N W / H))`` (each at least 1, at most
    the image size). For 481x321 this gives 12x17 = 204 cells for N = 200 and 26x39 = 1014 for
    N = 1000 (the regular-grid rows of the BSDS500 baseline table).
    """
    if num_superpixels < 1:
        raise ValueError(f'num_superpixels must be >= 1, got {num_superpixels}')
    rows = min(height, max(1, int(math.floor(math.sqrt(num_superpixels * height / width) + 0.5))))
    cols = min(width, max(1, int(math.floor(math.sqrt(num_superpixels * width / height) + 0.5))))
    return rows, cols


def grid_superpixels(height: int,
                     width: int,
                     grid_size: Optional[Tuple[int, int]] = None,
                     stride: Optional[int] = None,
                     device=None) -> Tensor:
    """Ids (H, W) of a regular grid, row-major.

    Args:
        height (int): image height.
        width (int): image width.
        grid_size (tuple[int, int], optional): ``(rows, cols)``; pixel ``(y, x)`` goes to cell
            ``(floor(y rows / H), floor(x cols / W))``, so cell sizes differ by at most one pixel.
        stride (int, optional): square cells of ``stride`` pixels from the top-left corner; the
            last row/column of cells is cut by the image border (``ceil(H / s) x ceil(W / s)``).
        device: torch device.

    Exactly one of ``grid_size`` and ``stride`` must be given.
    """
    if (grid_size is None) == (stride is None):
        raise ValueError('grid_superpixels: give exactly one of grid_size and stride')
    ys = torch.arange(height, device=device)
    xs = torch.arange(width, device=device)
    if stride is not None:
        if stride < 1:
            raise ValueError(f'stride must be >= 1, got {stride}')
        cols = math.ceil(width / stride)
        return (ys // stride)[:, None] * cols + (xs // stride)[None, :]
    rows, cols = int(grid_size[0]), int(grid_size[1])
    if not (1 <= rows <= height and 1 <= cols <= width):
        raise ValueError(f'grid_size {(rows, cols)} must lie within 1 .. image size '
                         f'{(height, width)}')
    return (ys * rows // height)[:, None] * cols + (xs * cols // width)[None, :]


@MODELS.register_module()
class PatchGridSuperpixels(BaseSuperpixelModel):
    """Regular grid of patches at the original image size.

    Give exactly one of: ``grid_size=(rows, cols)`` (the paper's 14x14 "Patch" baseline),
    ``num_superpixels`` (a near-square grid of about that many cells, see :func:`grid_shape`) or
    ``stride`` (square cells of that many pixels). The ids are computed at ``ori_shape``
    directly, so no image resizing in the pipeline can shift the cells.

    Args:
        grid_size (Sequence[int], optional): ``(rows, cols)``.
        num_superpixels (int, optional): target number of cells.
        stride (int, optional): cell side in pixels.
        data_preprocessor (dict, optional): see :class:`BaseSuperpixelModel`.
        init_cfg (dict, optional): unused (no weights).
    """
    predicts_at_original_size = True

    def __init__(self,
                 grid_size: Optional[Sequence[int]] = None,
                 num_superpixels: Optional[int] = None,
                 stride: Optional[int] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        given = [
            k for k, v in dict(grid_size=grid_size, num_superpixels=num_superpixels,
                               stride=stride).items() if v is not None
        ]
        if len(given) != 1:
            raise ValueError(f'PatchGridSuperpixels: give exactly one of grid_size, '
                             f'num_superpixels and stride, got {given or "none"}')
        if grid_size is not None and (len(grid_size) != 2 or min(grid_size) < 1):
            raise ValueError(f'PatchGridSuperpixels: grid_size must be (rows, cols) >= 1, got '
                             f'{grid_size}')
        if num_superpixels is not None and num_superpixels < 1:
            raise ValueError(f'num_superpixels must be >= 1, got {num_superpixels}')
        if stride is not None and stride < 1:
            raise ValueError(f'stride must be >= 1, got {stride}')
        self.grid_size = None if grid_size is None else tuple(int(g) for g in grid_size)
        self.num_superpixels = num_superpixels
        self.stride = stride

    def superpixels_one(self, img: Tensor, meta: dict) -> Tensor:
        """Grid ids (H0, W0) at ``meta['ori_shape']``; the pixels are not used."""
        height, width = (int(v) for v in meta['ori_shape'][:2])
        grid = self.grid_size
        if self.num_superpixels is not None:
            grid = grid_shape(height, width, self.num_superpixels)
        if grid is not None:
            grid = (min(grid[0], height), min(grid[1], width))
        return grid_superpixels(height, width, grid, self.stride, device=img.device)

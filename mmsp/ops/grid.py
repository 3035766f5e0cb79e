"""Superpixel grid geometry: cells, the 3x3 candidate neighbourhood and its border mask.

Every superpixel starts as one ``s x s`` cell of the pixel grid. A pixel at ``(y, x)`` lies in the
fixed cell ``(y // s, x // s)``; its 9 *candidates* are the superpixels of the cells
``(y // s + dy, x // s + dx)`` with ``dy, dx in {-1, 0, 1}``, indexed row-major
``n = 3 * (dy + 1) + (dx + 1)`` (``n = 4`` is the own cell). Candidates outside the grid are
invalid and masked, never zero-padded candidates.

Sizes need not divide: the grid has ``ceil(H / s) x ceil(W / s)`` cells and the last row/column of
cells may be partial. In *block layout* the pixel map is padded bottom-right to whole cells and
reshaped so that the pixels of one cell are contiguous: ``(..., h, w, s * s, C)``.
"""
import functools
from dataclasses import dataclass
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

#: ``(dy, dx)`` of the 9 candidates, row-major; index 4 is the pixel's own cell.
NEIGHBOR_OFFSETS: Tuple[Tuple[int, int], ...] = tuple(
    (dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
NUM_NEIGHBORS = 9
CENTER = 4


@dataclass(frozen=True)
class SuperpixelGrid:
    """Geometry of a superpixel grid over an ``height x width`` pixel map.

    Args:
        height (int): Pixel-map height ``H``.
        width (int): Pixel-map width ``W``.
        stride (int): Cell size ``s`` in pixels (``s >= 1``).
    """

    height: int
    width: int
    stride: int

    def __post_init__(self) -> None:
        for name in ('height', 'width', 'stride'):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f'SuperpixelGrid: {name} must be a positive int, got {value!r}')

    @property
    def rows(self) -> int:
        """Number of superpixel rows ``h = ceil(H / s)``."""
        return -(-self.height // self.stride)

    @property
    def cols(self) -> int:
        """Number of superpixel columns ``w = ceil(W / s)``."""
        return -(-self.width // self.stride)

    @property
    def num_superpixels(self) -> int:
        return self.rows * self.cols

    @property
    def padded_shape(self) -> Tuple[int, int]:
        return self.rows * self.stride, self.cols * self.stride

    @classmethod
    def from_tensors(cls, pixels: Tensor, superpixels: Tensor, stride: int,
                     what: str = 'association') -> 'SuperpixelGrid':
        """Build the grid of ``pixels`` (B, C, H, W) and check ``superpixels`` (B, C', h, w).

        Raises:
            ValueError: non-4D tensors, batch mismatch, or a superpixel grid that is not
                ``ceil(H / s) x ceil(W / s)``.
        """
        if pixels.dim() != 4 or superpixels.dim() != 4:
            raise ValueError(f'{what}: expected 4D pixel (B, C, H, W) and superpixel (B, C, h, w) '
                             f'tensors, got shapes {tuple(pixels.shape)} and '
                             f'{tuple(superpixels.shape)}')
        if pixels.shape[0] != superpixels.shape[0]:
            raise ValueError(f'{what}: batch sizes differ: pixels {tuple(pixels.shape)} vs '
                             f'superpixels {tuple(superpixels.shape)}')
        grid = cls(int(pixels.shape[2]), int(pixels.shape[3]), stride)
        if tuple(superpixels.shape[2:]) != (grid.rows, grid.cols):
            raise ValueError(
                f'{what}: superpixel grid {tuple(superpixels.shape[2:])} is inconsistent with '
                f'pixels {tuple(pixels.shape[2:])} at stride {stride}: expected '
                f'(ceil(H/s), ceil(W/s)) = ({grid.rows}, {grid.cols})')
        return grid

    @property
    def is_padded(self) -> bool:
        """Whether the last row/column of cells is partial (block layout has padding slots)."""
        return self.padded_shape != (self.height, self.width)

    def neighbor_mask(self, device=None) -> Tensor:
        """Validity of the 9 candidates of every cell, shape (h, w, 9), bool.

        Cached per ``(rows, cols, device)``: the returned tensor is shared, never modify it.
        """
        return _cached(_build_neighbor_mask, self.rows, self.cols, device)

    def pixel_mask(self, device=None) -> Tensor:
        """Which block-layout pixel slots are real pixels (not padding), shape (h, w, s*s).

        Cached per ``(height, width, stride, device)``: the returned tensor is shared.
        """
        return _cached(_build_pixel_mask, self.height, self.width, self.stride, device)

    def cell_ids(self, device=None) -> Tensor:
        """Id ``row * w + col`` of the cell of every pixel, shape (H, W), int64."""
        ys = torch.arange(self.height, device=device) // self.stride
        xs = torch.arange(self.width, device=device) // self.stride
        return ys.view(-1, 1) * self.cols + xs.view(1, -1)

    def neighbor_id_offsets(self, device=None) -> Tensor:
        """Id offset ``dy * w + dx`` of each candidate, shape (9,), int64."""
        return torch.tensor([dy * self.cols + dx for dy, dx in NEIGHBOR_OFFSETS],
                            dtype=torch.long, device=device)


def _build_neighbor_mask(rows: int, cols: int, device) -> Tensor:
    ys = torch.arange(rows, device=device).view(-1, 1, 1)
    xs = torch.arange(cols, device=device).view(1, -1, 1)
    dy = torch.tensor([o[0] for o in NEIGHBOR_OFFSETS], device=device).view(1, 1, -1)
    dx = torch.tensor([o[1] for o in NEIGHBOR_OFFSETS], device=device).view(1, 1, -1)
    return (ys + dy >= 0) & (ys + dy < rows) & (xs + dx >= 0) & (xs + dx < cols)


def _build_pixel_mask(height: int, width: int, stride: int, device) -> Tensor:
    s, rows, cols = stride, -(-height // stride), -(-width // stride)
    ys = torch.arange(rows * s, device=device) < height
    xs = torch.arange(cols * s, device=device) < width
    valid = ys.view(rows, s, 1, 1) & xs.view(1, 1, cols, s)
    return valid.permute(0, 2, 1, 3).reshape(rows, cols, s * s)


@functools.lru_cache(maxsize=128)
def _cached_build(builder, *args) -> Tensor:
    # normal (non-inference) tensors, so that a mask first built under ``inference_mode``
    # can later be saved for backward
    with torch.inference_mode(False):
        return builder(*args)


def _cached(builder, *args) -> Tensor:
    """Constant geometry masks, built once per arguments (not while tracing/compiling)."""
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return builder(*args)
    device = args[-1]
    device = torch.device(device) if device is not None else torch.empty(0).device
    return _cached_build(builder, *args[:-1], device)


def grid_to_heads(z: Tensor, num_heads: int = 1) -> Tensor:
    """Superpixel map (B, C, h, w) to (B, heads, h, w, C // heads)."""
    b, c, h, w = z.shape
    return z.reshape(b, num_heads, c // num_heads, h, w).permute(0, 1, 3, 4, 2)


def heads_to_grid(zh: Tensor) -> Tensor:
    """Inverse of :func:`grid_to_heads`: (B, heads, h, w, d) to (B, heads*d, h, w)."""
    b, m, h, w, d = zh.shape
    return zh.permute(0, 1, 4, 2, 3).reshape(b, m * d, h, w)


def _padded(z: Tensor, fill: float) -> Tensor:
    """Pad grid dims 2 and 3 of (B, M, h, w, ...) by one cell with ``fill`` (one op)."""
    return F.pad(z, (0, 0) * (z.dim() - 4) + (1, 1, 1, 1), value=fill)


def _windows(zp: Tensor) -> Tensor:
    """View (B, M, h, w, *rest, 3, 3) of a padded (B, M, h + 2, w + 2, *rest):
    ``[..., i, j, ..., a, b] = zp[..., i + a, j + b, ...]``, i.e. candidate ``n = 3a + b``."""
    return zp.unfold(2, 3, 1).unfold(3, 3, 1)


def gather_neighbors(z: Tensor, fill: float = 0.0) -> Tensor:
    """``out[..., c, n, :] = z[..., c + offset(n), :]``: each cell's 9 candidates.

    A padded copy, the 3x3 windows as a strided view and one copy into the result: a few
    tensor operations whatever the grid (not one slice per candidate).

    Args:
        z (Tensor): (B, M, h, w, *rest) values per superpixel.
        fill (float): value for candidates outside the grid (masked by callers).

    Returns:
        Tensor: (B, M, h, w, 9, *rest).
    """
    out = _windows(_padded(z, fill)).movedim((-2, -1), (4, 5))
    return out.reshape(*z.shape[:4], NUM_NEIGHBORS, *z.shape[4:])


def candidate_rows(z: Tensor) -> List[Tensor]:
    """Each cell's candidates as strided views, one per candidate row ``dy``: no copy of them.

    The cells are flattened with ``w + 1`` zero rows at either end, so candidate
    ``(dy, dx)`` of cell ``t`` is row ``t + (1 + dy) w + 1 + dx`` and the three candidates of a
    row ``dy`` are three consecutive rows: an overlapping window view (batched matmuls read it
    in place, where :func:`gather_neighbors` writes 9 copies of every value).

    Args:
        z (Tensor): (B, h, w, K) values per superpixel.

    Returns:
        list[Tensor]: for ``dy = -1, 0, 1`` a (B*h*w, 3, K) view whose ``[t, k]`` is candidate
        ``(dy, k - 1)`` of cell ``t`` (row-major ``t``). Entries of candidates **outside the
        grid are unspecified** (zeros or another cell's values): callers mask what they derive
        from them (the logits of those candidates are ``-inf``).
    """
    b, h, w, k = z.shape
    cells = b * h * w
    flat = F.pad(z.reshape(cells, k), (0, 0, w + 1, w + 1))
    windows = flat.unfold(0, 3, 1)  # (cells + 2w, K, 3): [i, :, j] = flat[i + j]
    return [windows[(1 + dy) * w:(1 + dy) * w + cells].transpose(1, 2) for dy in (-1, 0, 1)]


def _diagonal_windows(up: Tensor) -> Tensor:
    """View (B, M, h, w, *rest, 3, 3) of a padded (B, M, h + 2, w + 2, 9, *rest):
    ``[..., i, j, ..., a, b] = up[..., i + a, j + b, 3a + b, ...]`` (candidate ``n = 3a + b``
    read at ``c + offset(n)``): the diagonals of the windows of :func:`_windows`."""
    v = _windows(up.unflatten(4, (3, 3)))  # (B, M, h, w, 3a, 3b, *rest, 3, 3)
    return v.diagonal(0, 4, -2).diagonal(0, 4, -2)


def _shift(u: Tensor, sign: int, fill: float) -> Tensor:
    """``out[..., c, n, :] = u[..., c + sign * offset(n), n, :]`` on (B, M, h, w, 9, *rest).

    ``sign = -1`` reverses the candidate order before and after the ``+1`` shift: candidate
    ``8 - n`` has offset ``-offset(n)``.
    """
    if sign < 0:
        u = u.flip(4)
    out = _diagonal_windows(_padded(u, fill)).movedim((-2, -1), (4, 5))
    if sign < 0:
        out = out.flip((4, 5))
    return out.reshape(u.shape)


def shift_to_pixels(u: Tensor, fill: float = 0.0) -> Tensor:
    """Inverse of :func:`shift_to_superpixels`: ``out[..., c, n, :] = u[..., c + offset(n), n, :]``.

    Args:
        u (Tensor): (B, M, h, w, 9, *rest) in superpixel-side layout.
        fill (float): value where ``c + offset(n)`` is outside the grid.

    Returns:
        Tensor: (B, M, h, w, 9, *rest) in pixel-side layout.
    """
    return _shift(u, 1, fill)


def shift_to_superpixels(u: Tensor, fill: float = 0.0) -> Tensor:
    """Adjoint re-indexing of :func:`gather_neighbors`.

    ``out[..., j, n, :] = u[..., j - offset(n), n, :]``: entry ``n`` of cell ``c`` concerns
    superpixel ``c + offset(n)``; this moves it to that superpixel's position.

    Args:
        u (Tensor): (B, M, h, w, 9, *rest).
        fill (float): value where ``j - offset(n)`` is outside the grid.

    Returns:
        Tensor: (B, M, h, w, 9, *rest).
    """
    return _shift(u, -1, fill)

"""Superpixel grid geometry: cells, the candidate neighbourhood and its border mask.

Every superpixel starts as one cell of the pixel grid: ``s x s`` pixels of an image (SPFormer,
arXiv 2401.02931, Sec. 3), or ``s_t x s x s`` voxels of a clip for supervoxels. A pixel at ``p``
lies in the fixed cell ``g(p) = p // cell``; its *candidates* are the superpixels of the cells
``g(p) + o`` for the ``3 ** D`` offsets ``o in {-1, 0, 1} ** D`` (9 in 2-D, 27 in 3-D), indexed
row-major: in 2-D ``n = 3 (dy + 1) + (dx + 1)``, so ``n = 4`` is the own cell. Candidates
outside the grid are invalid and masked, never zero-padded candidates. Seen from the other side,
a superpixel receives the pixels of its ``3 ** D``-cell *window*.

A *causal* grid also masks the candidates one cell ahead along the leading dimension (time, for
clips): a voxel of temporal cell ``a`` chooses among supervoxels of cells ``a - 1`` and ``a``
only (18 candidates in 3-D instead of 27), so its assignment never refers to a later cell; a
supervoxel then receives the voxels of its own and of the next temporal cell.

Sizes need not divide: the grid has ``ceil(size / cell)`` cells along each dimension and the
last cells may be partial. In *block layout* the pixel map is padded at the end of every
dimension to whole cells and reshaped so that the pixels of one cell are contiguous:
``(..., *grid_shape, cell_pixels, C)`` (see :mod:`mmsp.ops.cell_layout`).

The functions here work for any number ``D`` of grid dimensions (``ndim``), which sit right
after the two leading (batch, head) dimensions of their tensors.
"""
import functools
import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.fx.experimental.symbolic_shapes import statically_known_true

#: A size: an int, or a symbolic size while ``torch.export`` traces with dynamic dimensions.
Size = Union[int, torch.SymInt]


@functools.lru_cache(maxsize=None)
def neighbor_offsets(ndim: int = 2) -> Tuple[Tuple[int, ...], ...]:
    """The ``3 ** ndim`` candidate offsets in row-major order (the own cell in the middle)."""
    return tuple(itertools.product((-1, 0, 1), repeat=ndim))


#: ``(dy, dx)`` of the 9 candidates of an image pixel, row-major; index 4 is the own cell.
NEIGHBOR_OFFSETS: Tuple[Tuple[int, ...], ...] = neighbor_offsets(2)
NUM_NEIGHBORS = 9
CENTER = 4


def known_equal(a: Sequence[Size], b: Sequence[Size]) -> bool:
    """Whether two sizes are equal; symbolic sizes only where the tracer proves it.

    For ints this is ``tuple(a) == tuple(b)``. Under ``torch.export`` with dynamic dimensions an
    undecided comparison is False instead of a guard that would specialise the dimension, so
    callers use it to skip work (padding, masking) that is correct, just unneeded, when equal.
    """
    return len(a) == len(b) and all(_known_true(x == y) for x, y in zip(a, b))


def _known_true(eq) -> bool:
    # under torch.jit.trace sizes are 0-d tensors: their comparison is a (traced) tensor
    return statically_known_true(eq) if isinstance(eq, (bool, torch.SymBool)) else bool(eq)


@dataclass(frozen=True)
class SuperpixelGrid:
    """Geometry of a grid of cells over a pixel map of ``D`` spatial dimensions.

    Build it with :meth:`of` (``SuperpixelGrid.of((H, W), s)``, ``SuperpixelGrid.of((T, H, W),
    (s_t, s, s))``) or :meth:`from_tensors`.

    Args:
        size (tuple[int]): the pixel map's size, e.g. ``(H, W)`` or ``(T, H, W)``.
        cell (tuple[int]): the cell size in pixels along each dimension.
        causal (bool): mask the candidates at offset ``+1`` along the leading dimension (see
            the module docstring). Defaults to False.
    """

    size: Tuple[Size, ...]
    cell: Tuple[int, ...]
    causal: bool = False

    def __post_init__(self) -> None:
        for name, kinds in (('size', (int, torch.SymInt)), ('cell', int)):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not value or any(
                    not isinstance(v, kinds) or isinstance(v, bool) or v < 1 for v in value):
                raise ValueError(f'SuperpixelGrid: {name} must be a tuple of positive ints, '
                                 f'got {value!r}')
        if len(self.size) != len(self.cell):
            raise ValueError(f'SuperpixelGrid: size {self.size} and cell {self.cell} have '
                             f'different lengths')
        if not isinstance(self.causal, bool):
            raise ValueError(f'SuperpixelGrid: causal must be a bool, got {self.causal!r}')

    @classmethod
    def of(cls,
           size: Sequence[int],
           stride: Union[int, Sequence[int]],
           causal: bool = False) -> 'SuperpixelGrid':
        """The grid of a map of ``size`` with cells of ``stride`` (an int: the same along every
        dimension); ``causal`` as in the class. Symbolic sizes (``torch.export`` with dynamic
        dimensions) stay symbolic."""
        size = tuple(v if isinstance(v, torch.SymInt) else int(v) for v in size)
        cell = (stride, ) * len(size) if isinstance(stride, int) else stride
        if not isinstance(cell, (tuple, list)) or len(cell) != len(size) or any(
                not isinstance(c, int) or isinstance(c, bool) or c < 1 for c in cell):
            raise ValueError(f'SuperpixelGrid: stride must be a positive int or a tuple of '
                             f'{len(size)} positive ints for a map of size {size}, got {stride!r}')
        return cls(size, tuple(cell), causal)

    @classmethod
    def from_tensors(cls,
                     pixels: Tensor,
                     superpixels: Tensor,
                     stride: Union[int, Sequence[int]],
                     what: str = 'association',
                     causal: bool = False) -> 'SuperpixelGrid':
        """Build the grid of ``pixels`` (B, C, *size) and check ``superpixels`` (B, C', *shape).

        Raises:
            ValueError: tensors of other ranks, a batch mismatch, or a superpixel grid that is
                not ``ceil(size / cell)``.
        """
        if pixels.dim() < 3 or pixels.dim() != superpixels.dim():
            raise ValueError(f'{what}: expected pixel (B, C, *size) and superpixel (B, C, *grid) '
                             f'tensors of the same rank, got shapes {tuple(pixels.shape)} and '
                             f'{tuple(superpixels.shape)}')
        if pixels.shape[0] != superpixels.shape[0]:
            raise ValueError(f'{what}: batch sizes differ: pixels {tuple(pixels.shape)} vs '
                             f'superpixels {tuple(superpixels.shape)}')
        grid = cls.of(pixels.shape[2:], stride, causal)
        if tuple(superpixels.shape[2:]) != grid.shape:
            raise ValueError(
                f'{what}: superpixel grid {tuple(superpixels.shape[2:])} is inconsistent with '
                f'pixels {tuple(pixels.shape[2:])} at stride {stride}: expected '
                f'ceil(size / cell) = {grid.shape}')
        return grid

    # ------------------------------------------------------------------ sizes
    @property
    def ndim(self) -> int:
        """Number of grid dimensions ``D``."""
        return len(self.size)

    @property
    def shape(self) -> Tuple[int, ...]:
        """Cells along every dimension, ``ceil(size / cell)``.

        Written with a non-negative numerator: exported to ONNX, whose integer division
        truncates, ``-(-n // c)`` would become ``floor(size / cell)``.
        """
        return tuple((n + c - 1) // c for n, c in zip(self.size, self.cell))

    @property
    def num_superpixels(self) -> int:
        return math.prod(self.shape)

    @property
    def cell_pixels(self) -> int:
        """Pixels (slots) of one cell in block layout, ``prod(cell)``."""
        return math.prod(self.cell)

    @property
    def num_candidates(self) -> int:
        """Candidates of a pixel, ``3 ** D``."""
        return 3**self.ndim

    @property
    def center(self) -> int:
        """Index of the own cell among the candidates."""
        return self.num_candidates // 2

    @property
    def offsets(self) -> Tuple[Tuple[int, ...], ...]:
        """The candidate offsets (:func:`neighbor_offsets`)."""
        return neighbor_offsets(self.ndim)

    @property
    def padded_size(self) -> Tuple[int, ...]:
        """The map size padded to whole cells."""
        return tuple(g * c for g, c in zip(self.shape, self.cell))

    @property
    def is_padded(self) -> bool:
        """Whether the last cells are partial (block layout has padding slots).

        Symbolic sizes count as padded unless the tracer can prove otherwise: masking padding
        slots that do not exist changes nothing, and no dynamic size gets specialised.
        """
        return not known_equal(self.size, self.padded_size)

    # 2-D names (the last two dimensions)
    @property
    def height(self) -> int:
        return self.size[-2]

    @property
    def width(self) -> int:
        return self.size[-1]

    @property
    def rows(self) -> int:
        """Superpixel rows ``ceil(H / s)``."""
        return self.shape[-2]

    @property
    def cols(self) -> int:
        """Superpixel columns ``ceil(W / s)``."""
        return self.shape[-1]

    @property
    def stride(self) -> int:
        """The cell side ``s`` along the last dimension."""
        return self.cell[-1]

    # ------------------------------------------------------------------ constant masks and ids
    def neighbor_mask(self, device=None) -> Tensor:
        """Validity of the candidates of every cell, shape (*shape, K), bool: inside the grid
        (and, if :attr:`causal`, not ahead along the leading dimension).

        Cached per grid shape and device: the returned tensor is shared, never modify it.
        """
        return _cached(_build_neighbor_mask, self.shape, self.causal, device)

    def pixel_mask(self, device=None) -> Tensor:
        """Which block-layout slots are real pixels (not padding), shape (*shape, cell_pixels).

        Cached per grid and device: the returned tensor is shared.
        """
        return _cached(_build_pixel_mask, self.size, self.cell, device)

    def cell_ids(self, device=None) -> Tensor:
        """Id of the cell of every pixel (row-major over the grid), shape (*size), int64."""
        ids = torch.zeros((), dtype=torch.long, device=device)
        for dim, (n, c, g) in enumerate(zip(self.size, self.cell, self.shape)):
            coord = torch.arange(n, device=device) // c
            ids = ids.unsqueeze(-1) * g + coord.view((1, ) * dim + (-1, ))
        return ids

    def neighbor_id_offsets(self, device=None) -> Tensor:
        """Id offset of each candidate (``dy * w + dx`` in 2-D), shape (K,), int64."""
        steps = [math.prod(self.shape[d + 1:]) for d in range(self.ndim)]
        return torch.tensor([sum(o * s for o, s in zip(off, steps)) for off in self.offsets],
                            dtype=torch.long, device=device)

    def pixel_neighbor_mask(self, device=None) -> Tensor:
        """Validity of every pixel's candidates, shape (K, *size), bool."""
        mask = self.neighbor_mask(device).reshape(-1, self.num_candidates)
        return mask[self.cell_ids(device)].movedim(-1, 0)


def _build_neighbor_mask(shape: Tuple[int, ...], causal: bool, device) -> Tensor:
    offsets = torch.tensor(neighbor_offsets(len(shape)), device=device)  # (K, D)
    valid = torch.ones(*shape, offsets.shape[0], dtype=torch.bool, device=device)
    if causal:
        valid &= offsets[:, 0] <= 0
    for dim, n in enumerate(shape):
        coord = torch.arange(n, device=device).view((1, ) * dim + (-1, ) + (1, ) *
                                                    (len(shape) - dim))
        moved = coord + offsets[:, dim]
        valid &= (moved >= 0) & (moved < n)
    return valid


def _build_pixel_mask(size: Tuple[int, ...], cell: Tuple[int, ...], device) -> Tensor:
    ndim = len(size)
    shape = tuple((n + c - 1) // c for n, c in zip(size, cell))
    valid = torch.ones((), dtype=torch.bool, device=device)
    for n, c, g in zip(size, cell, shape):  # (g1, c1, g2, c2, ...) outer product
        inside = (torch.arange(g * c, device=device) < n).view(g, c)
        valid = valid[..., None, None] & inside
    order = tuple(range(0, 2 * ndim, 2)) + tuple(range(1, 2 * ndim, 2))
    return valid.permute(order).reshape(*shape, math.prod(cell))


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


# --------------------------------------------------------------------------- heads
def grid_to_heads(z: Tensor, num_heads: int = 1) -> Tensor:
    """Superpixel map (B, C, *shape) to (B, heads, *shape, C // heads)."""
    b, c = z.shape[:2]
    return z.reshape(b, num_heads, c // num_heads, *z.shape[2:]).movedim(2, -1)


def heads_to_grid(zh: Tensor) -> Tensor:
    """Inverse of :func:`grid_to_heads`: (B, heads, *shape, d) to (B, heads * d, *shape)."""
    b, m, d = zh.shape[0], zh.shape[1], zh.shape[-1]
    return zh.movedim(-1, 2).reshape(b, m * d, *zh.shape[2:-1])


# --------------------------------------------------------------------------- neighbourhoods
def _grid_slices(offset: Sequence[int], shape: Sequence[int], sign: int) -> Tuple[slice, ...]:
    """Per grid dimension, the cells ``c`` for which ``c + sign * offset`` is inside the grid."""
    return tuple(
        slice(max(-sign * o, 0), n - max(sign * o, 0)) for o, n in zip(offset, shape))


def _check_tracer() -> None:
    """Refuse the TorchScript ONNX exporter; warn that ``torch.jit.trace`` fixes the size."""
    if torch.onnx.is_in_onnx_export():
        raise RuntimeError(
            'mmsp models do not export with the TorchScript-based ONNX exporter '
            '(torch.onnx.export(..., dynamo=False)): it cannot export Tensor.unfold and fixes '
            'the input size. Use torch.onnx.export(..., dynamo=True) or '
            'tools/deployment/pytorch2onnx.py (docs/user_guides/deployment.md).')
    warnings.warn(
        'torch.jit.trace of an mmsp model: the grid geometry (cells, padding, neighbourhoods) '
        'is computed from the example input size, so the traced module is only valid at that '
        'size. Use torch.export for other sizes, or check the traced module with '
        'mmsp.deployment.check_traced_sizes.', stacklevel=3)


def gather_neighbors(z: Tensor, ndim: int = 2, fill: float = 0.0) -> Tensor:
    """``out[..., c, n, ...] = z[..., c + offset(n), ...]``: each cell's candidates.

    Args:
        z (Tensor): (B, M, *shape, *rest) values per superpixel, ``ndim`` grid dimensions.
        ndim (int): number of grid dimensions ``D``.
        fill (float): value for candidates outside the grid (masked by callers).

    Returns:
        Tensor: (B, M, *shape, 3 ** D, *rest).
    """
    if torch.jit.is_tracing():
        _check_tracer()
    lead = 2 + ndim
    rest = z.dim() - lead
    zp = torch.nn.functional.pad(z, (0, 0) * rest + (1, 1) * ndim, value=fill)
    for dim in range(2, lead):
        zp = zp.unfold(dim, 3, 1)  # appends the window dimension
    zp = zp.movedim(tuple(range(-ndim, 0)), tuple(range(lead, lead + ndim)))
    return zp.reshape(*z.shape[:lead], 3**ndim, *z.shape[lead:])


def _shift(u: Tensor, ndim: int, fill: float, sign: int) -> Tensor:
    """``out[..., c, n, ...] = u[..., c + sign * offset(n), n, ...]`` (``fill`` outside)."""
    shape = u.shape[2:2 + ndim]
    out = torch.full_like(u, fill)
    for n, offset in enumerate(neighbor_offsets(ndim)):
        dst = (slice(None), slice(None)) + _grid_slices(offset, shape, sign) + (n, )
        src = (slice(None), slice(None)) + _grid_slices(offset, shape, -sign) + (n, )
        out[dst] = u[src]
    return out


def shift_to_superpixels(u: Tensor, ndim: int = 2, fill: float = 0.0) -> Tensor:
    """Move entries to the candidate they concern: ``out[..., j, n] = u[..., j - offset(n), n]``.

    Entry ``n`` of cell ``c`` concerns superpixel ``c + offset(n)``; this moves it to that
    superpixel's position (the adjoint re-indexing of :func:`gather_neighbors`).

    Args:
        u (Tensor): (B, M, *shape, K, *rest).
        ndim (int): number of grid dimensions.
        fill (float): value where ``j - offset(n)`` is outside the grid.

    Returns:
        Tensor: (B, M, *shape, K, *rest).
    """
    return _shift(u, ndim, fill, -1)


def shift_to_pixels(u: Tensor, ndim: int = 2, fill: float = 0.0) -> Tensor:
    """Inverse of :func:`shift_to_superpixels`: ``out[..., c, n] = u[..., c + offset(n), n]``."""
    return _shift(u, ndim, fill, 1)


def _fold(per_cell: Tensor, ndim: int) -> Tensor:
    """The sum of :func:`fold_to_superpixels`, by slices (no autograd graph of its own)."""
    shape = per_cell.shape[2:2 + ndim]
    center = 3**ndim // 2
    out = per_cell.select(2 + ndim, center).clone()  # own cell: offset 0
    for n, offset in enumerate(neighbor_offsets(ndim)):
        if n == center or any(n_ <= abs(o) for o, n_ in zip(offset, shape)):
            continue  # no superpixel has this candidate
        dst = (slice(None), slice(None)) + _grid_slices(offset, shape, -1)
        src = (slice(None), slice(None)) + _grid_slices(offset, shape, 1) + (n, )
        out[dst] += per_cell[src]
    return out


class _Fold(torch.autograd.Function):
    """:func:`fold_to_superpixels` with its adjoint, :func:`gather_neighbors`, as the backward.

    Autograd through the slice additions would build one zero-filled copy of the whole input
    per candidate; the adjoint is one gather.
    """

    @staticmethod
    def forward(ctx, per_cell: Tensor, ndim: int) -> Tensor:
        ctx.ndim = ndim
        return _fold(per_cell, ndim)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return gather_neighbors(grad, ctx.ndim), None


def fold_to_superpixels(per_cell: Tensor, ndim: int = 2) -> Tensor:
    """Sum each superpixel's contributions from its window: (B, M, *shape, K, d) -> (.., d).

    ``out[..., j, :] = sum_n per_cell[..., j - offset(n), n, :]`` (terms outside the grid are
    zero): ``shift_to_superpixels(per_cell).sum(2 + ndim)`` without the ``K``-fold copy. The
    adjoint of :func:`gather_neighbors` (and its gradient is that gather).
    """
    if per_cell.requires_grad and torch.is_grad_enabled():
        return _Fold.apply(per_cell, ndim)
    return _fold(per_cell, ndim)


__all__ = [
    'NEIGHBOR_OFFSETS', 'NUM_NEIGHBORS', 'CENTER', 'neighbor_offsets', 'known_equal',
    'SuperpixelGrid',
    'grid_to_heads', 'heads_to_grid', 'gather_neighbors', 'shift_to_superpixels',
    'shift_to_pixels', 'fold_to_superpixels'
]

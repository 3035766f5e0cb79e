"""Resizing learned absolute position embeddings between superpixel grids."""
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def square_grid(num_tokens: int, what: str = 'pos_embed') -> Tuple[int, int]:
    """``(n, n)`` for ``num_tokens = n * n``; raises ``ValueError`` otherwise."""
    side = math.isqrt(num_tokens)
    if side * side != num_tokens:
        raise ValueError(f'{what}: cannot infer the grid of {num_tokens} tokens (not a square); '
                         f'resize non-square position embeddings before loading')
    return side, side


def resize_pos_embed(pos_embed: Tensor,
                     src_shape: Sequence[int],
                     dst_shape: Sequence[int],
                     mode: str = 'bilinear') -> Tensor:
    """Interpolate a (1, h*w, C) embedding from grid ``src_shape`` to ``dst_shape``.

    Args:
        pos_embed (Tensor): (1, h_src * w_src, C) (any leading batch size is kept).
        src_shape (Sequence[int]): ``(h_src, w_src)``.
        dst_shape (Sequence[int]): ``(h_dst, w_dst)``.
        mode (str): interpolation mode; bilinear, as the SPFormer code. ``align_corners``
            is False.

    Returns:
        Tensor: (1, h_dst * w_dst, C), the input itself when the shapes agree.

    Raises:
        ValueError: if ``pos_embed`` is not 3D or its token count is not ``h_src * w_src``.
    """
    src_shape: Tuple[int, int] = tuple(int(v) for v in src_shape)  # type: ignore[no-redef]
    dst_shape: Tuple[int, int] = tuple(int(v) for v in dst_shape)  # type: ignore[no-redef]
    if pos_embed.dim() != 3 or pos_embed.shape[1] != src_shape[0] * src_shape[1]:
        raise ValueError(f'resize_pos_embed: expected (B, {src_shape[0]}*{src_shape[1]}, C), '
                         f'got {tuple(pos_embed.shape)}')
    if src_shape == dst_shape:
        return pos_embed
    b, _, c = pos_embed.shape
    grid = pos_embed.transpose(1, 2).reshape(b, c, *src_shape)
    align: Optional[bool] = False if mode in ('linear', 'bilinear', 'bicubic') else None
    grid = grid.to(torch.promote_types(grid.dtype, torch.float32))  # half -> float32 only
    grid = F.interpolate(grid, size=dst_shape, mode=mode, align_corners=align)
    return grid.flatten(2).transpose(1, 2).to(pos_embed.dtype)


__all__ = ['resize_pos_embed', 'square_grid']

"""Association logits at a finer pixel stride (bilinear interpolation inside every window)."""
import torch
import torch.nn.functional as F
from torch import Tensor

from .association import association_to_blocks, blocks_to_association, mask_outside
from .grid import NUM_NEIGHBORS, SuperpixelGrid, shift_to_pixels, shift_to_superpixels

__all__ = ['upsample_association']


def upsample_association(logits: Tensor, stride: int, factor: int) -> Tensor:
    """Bilinearly upsample association logits by an integer ``factor``.

    Neighbouring pixels point their candidate ``n`` at *different* superpixels when they lie in
    different cells, so the logits cannot be interpolated in the pixel-side layout. Instead each
    superpixel's logit field over its 3x3-cell window is interpolated on its own (superpixel-side
    layout, as the SPFormer code does), then read back from the pixel side. Interpolation is
    normalised by the valid entries (padding and cells outside the grid carry no weight) rather
    than filling ``-inf`` with a large constant, so values near the border stay meaningful. The
    border mask is re-applied afterwards.

    Args:
        logits (Tensor): (B, M, 9, H, W) association logits (``-inf`` = invalid candidate).
        stride (int): superpixel cell size ``s`` in pixels of ``logits``.
        factor (int): integer upsampling factor ``f >= 1``.

    Returns:
        Tensor: (B, M, 9, H * f, W * f) logits whose cell size is ``s * f``; float32 or wider.
    """
    if logits.dim() != 5 or logits.shape[2] != NUM_NEIGHBORS:
        raise ValueError(f'upsample_association: expected (B, M, 9, H, W), got '
                         f'{tuple(logits.shape)}')
    if not isinstance(factor, int) or factor < 1:
        raise ValueError(f'upsample_association: factor must be an int >= 1, got {factor!r}')
    if factor == 1:
        return logits
    b, m, _, height, width = logits.shape
    grid = SuperpixelGrid.of((int(height), int(width)), stride)
    fine = SuperpixelGrid.of((height * factor, width * factor), stride * factor)
    s, h, w = stride, grid.rows, grid.cols
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    # padding slots and candidates outside the grid are -inf: no weight in the interpolation
    blocks = mask_outside(association_to_blocks(logits, grid, fill=float('-inf')), grid)
    # superpixel side: window cell of candidate n of cell c lies at -offset(n) from c + offset(n)
    # (B, M, h, w, 9, s*s)
    windows = shift_to_superpixels(blocks.transpose(-1, -2), fill=float('-inf'))
    windows = windows.flip(4).reshape(b * m * h * w, 3, 3, s, s)
    windows = windows.permute(0, 1, 3, 2, 4).reshape(-1, 1, 3 * s, 3 * s)
    valid = torch.isfinite(windows)
    values = torch.where(valid, windows, torch.zeros_like(windows))
    size = (3 * s * factor, 3 * s * factor)
    num = F.interpolate(values, size=size, mode='bilinear', align_corners=False)
    den = F.interpolate(valid.to(values.dtype), size=size, mode='bilinear', align_corners=False)
    up = torch.where(den > 0, num / den.clamp_min(1e-12), torch.full_like(num, float('-inf')))
    sf = s * factor
    up = up.reshape(b, m, h, w, 3, sf, 3, sf).permute(0, 1, 2, 3, 4, 6, 5, 7)
    up = up.reshape(b, m, h, w, NUM_NEIGHBORS, sf * sf).flip(4)
    # (B, M, h, w, sf*sf, 9)
    fine_blocks = shift_to_pixels(up, fill=float('-inf')).transpose(-1, -2)
    return blocks_to_association(mask_outside(fine_blocks, fine), fine)

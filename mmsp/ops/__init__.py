"""Superpixel operators shared by every mmsp model, metric and tool (pure PyTorch).

The plain forms live here; :mod:`mmsp.ops.fast` holds the optional faster equivalents.
"""
from .association import (association_logits, association_weights, block_logits,
                          block_superpixel_update, block_unfold, blocks_to_association,
                          merge_heads, superpixel_update, unfold_superpixels, unfold_with_logits)
from .cell_layout import from_blocks, to_blocks
from .global_association import (compose_group_association, global_association_logits,
                                 heads_weighted_sum)
from .grid import (NEIGHBOR_OFFSETS, NUM_NEIGHBORS, SuperpixelGrid, gather_neighbors, grid_to_heads,
                   heads_to_grid, neighbor_offsets, shift_to_pixels, shift_to_superpixels)
from .hard_assignment import association_to_superpixels, hard_assignment, infer_pixel_stride
from .id_maps import enforce_connectivity, ids_present, relabel_contiguous, resize_ids
from .upsample import upsample_association

__all__ = [
    'NEIGHBOR_OFFSETS', 'NUM_NEIGHBORS', 'SuperpixelGrid', 'neighbor_offsets', 'to_blocks',
    'from_blocks', 'grid_to_heads', 'heads_to_grid', 'gather_neighbors', 'shift_to_superpixels',
    'shift_to_pixels', 'block_logits', 'block_superpixel_update', 'block_unfold',
    'blocks_to_association', 'association_logits', 'association_weights', 'merge_heads',
    'superpixel_update', 'unfold_superpixels', 'unfold_with_logits', 'hard_assignment',
    'relabel_contiguous', 'ids_present', 'resize_ids', 'enforce_connectivity',
    'upsample_association',
    'association_to_superpixels', 'infer_pixel_stride', 'global_association_logits',
    'heads_weighted_sum', 'compose_group_association'
]

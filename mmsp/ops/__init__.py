"""Superpixel operators shared by every mmsp model, metric and tool."""
from .association import (association_logits, association_weights, block_logits,
                          block_logits_absorbed, block_superpixel_update, block_unfold,
                          blocks_to_association, merge_heads, superpixel_update,
                          unfold_superpixels, unfold_with_logits)
from .cell_layout import from_blocks, to_blocks
from .grid import (NEIGHBOR_OFFSETS, NUM_NEIGHBORS, SuperpixelGrid, gather_neighbors, grid_to_heads,
                   heads_to_grid, shift_to_pixels, shift_to_superpixels)
from .hard_assignment import (association_to_superpixels, enforce_connectivity, hard_assignment,
                              relabel_contiguous)
from .upsample import upsample_association

__all__ = [
    'NEIGHBOR_OFFSETS', 'NUM_NEIGHBORS', 'SuperpixelGrid', 'to_blocks', 'from_blocks',
    'grid_to_heads', 'heads_to_grid', 'gather_neighbors', 'shift_to_superpixels', 'shift_to_pixels',
    'block_logits', 'block_logits_absorbed',
    'block_superpixel_update', 'block_unfold', 'blocks_to_association', 'association_logits',
    'association_weights', 'merge_heads', 'superpixel_update', 'unfold_superpixels',
    'unfold_with_logits',
    'hard_assignment', 'relabel_contiguous', 'enforce_connectivity', 'upsample_association',
    'association_to_superpixels'
]

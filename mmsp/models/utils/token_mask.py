"""Visible tokens out of a token sequence and back (MAE-style masked modelling).

MAE (He et al., arXiv 2111.06377, Sec. 3) runs its encoder on the visible tokens only and gives
the decoder the full sequence with one shared learned ``[MASK]`` token at the masked slots.
SP-MAE does the same between SPFormer stages and before its decoder.
"""
from torch import Tensor

__all__ = ['gather_tokens', 'scatter_tokens']


def gather_tokens(tokens: Tensor, keep_ids: Tensor) -> Tensor:
    """The visible tokens, in the order of ``keep_ids``.

    Args:
        tokens (Tensor): (B, N, C).
        keep_ids (Tensor): (B, K) int64 ids in ``[0, N)``.

    Returns:
        Tensor: (B, K, C), ``tokens[b, keep_ids[b, k]]``.
    """
    return tokens.gather(1, keep_ids.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def scatter_tokens(visible: Tensor, keep_ids: Tensor, mask_token: Tensor,
                   num_tokens: int) -> Tensor:
    """The full sequence: ``visible`` at ``keep_ids``, ``mask_token`` everywhere else.

    Args:
        visible (Tensor): (B, K, C) tokens of the visible slots.
        keep_ids (Tensor): (B, K) int64 ids in ``[0, num_tokens)``, unique per row.
        mask_token (Tensor): the learned ``[MASK]`` embedding, ``C`` values (e.g. (1, 1, C)).
        num_tokens (int): ``N``.

    Returns:
        Tensor: (B, N, C) in the dtype of ``visible``.
    """
    b, _, c = visible.shape
    if mask_token.numel() != c:
        raise ValueError(f'scatter_tokens: mask token of {mask_token.numel()} values for '
                         f'{c}-channel tokens')
    full = mask_token.reshape(1, 1, c).to(visible.dtype).expand(b, num_tokens, c)
    return full.scatter(1, keep_ids.unsqueeze(-1).expand(-1, -1, c), visible)

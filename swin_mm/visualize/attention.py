"""One window's attention in one Swin block, as the reference path computes it: for a query
token, each head's probabilities over the keys of its window, and the relative-position bias
alone, with the keys' positions in the token map (an SW-MSA window of the bottom or right edge
gathers keys from both ends of the map)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch

from ..ops.window import shift_and_partition, window_attention_mask

__all__ = ['WindowAttentionMap', 'block_attention']


@dataclass
class WindowAttentionMap:
    """Attention of one query token over its window, every head.

    Attributes:
        query: (row, col) of the query token in the (H, W) token map.
        keys: (N, 2) (row, col) of each key in the padded map (rows >= H or columns >= W are
            padding), N = wh * ww.
        probabilities: (heads, N), each row summing to 1.
        bias: (heads, N) the relative-position bias of the query's row, alone.
        window: index of the window among the block's (B=1) windows; position: the query's index
            within it.
    """
    query: Tuple[int, int]
    keys: torch.Tensor
    probabilities: torch.Tensor
    bias: torch.Tensor
    window: int
    position: int


def block_attention(block, x: torch.Tensor, query: Tuple[int, int]) -> WindowAttentionMap:
    """The attention of ``query`` in ``block`` (a :class:`~swin_mm.models.SwinBlock` or SwinV2's)
    for its input ``x`` (1, H, W, C), computed as the reference path does: norm1 (V1; V2
    normalises after), pad, shift, partition, q k^T * scale + bias + mask, softmax (V2's q and k
    arrive cosine-normalised and scaled)."""
    H, W = x.shape[1:3]
    r, c = query
    if not (0 <= r < H and 0 <= c < W):
        raise ValueError(f'query token {query} is outside the {H}x{W} token map')
    (wh, ww), (sh, sw) = block.window_size, block.shift_size
    with torch.no_grad():
        tokens = x if block.res_post_norm else block.norm1(x)
        windows, (Hp, Wp) = shift_and_partition(tokens, (wh, ww), (sh, sw))
        mask = window_attention_mask((H, W), (Hp, Wp), (wh, ww), (sh, sw), block.mask_padding,
                                     x.device)
        rs, cs = (r - sh) % Hp, (c - sw) % Wp  # in the shifted map
        window = (rs // wh) * (Wp // ww) + cs // ww
        position = (rs % wh) * ww + cs % ww
        attn = block.attn
        heads, n = attn.num_heads, wh * ww
        qkv = attn.attention_qkv(windows[window]).view(n, 3, heads, -1).permute(1, 2, 0, 3)
        q, k = qkv[0], qkv[1]
        bias = attn.relative_position_bias()[:, position, :].float()  # h, N
        logits = torch.einsum('hd,hnd->hn', q[:, position], k) * attn.scale
        logits = logits.float() + bias
        if mask is not None:
            logits = logits + mask[window, position]
        probabilities = logits.softmax(-1)
    grid_r, grid_c = divmod(window, Wp // ww)
    local = torch.arange(n)
    keys = torch.stack([(grid_r * wh + local // ww + sh) % Hp,
                        (grid_c * ww + local % ww + sw) % Wp], 1)
    return WindowAttentionMap((r, c), keys, probabilities, bias, window, position)

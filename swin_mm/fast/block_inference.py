"""A Swin block's CPU inference in one pass over ranges of windows: a drop-in for
:meth:`swin_mm.models.swin.SwinBlock.forward_reference` without autograd.

The reference runs each step over the whole map: LayerNorm, pad + roll + partition, qkv,
attention, proj, the way back, the residual addition, LayerNorm, the MLP and the second addition,
each writing a map-sized tensor that the next step reads back from memory. Here each range of
windows goes through the whole block while its tokens stay in the caches: they are gathered from
the input, normalised (padding zeroed after the norm, as padding the normalised map does),
attended, projected and added to the residual, and, padding dropped, go through the MLP (fc1 +
GELU fused) and its residual addition and are written to their places in the output map. Each
token sees the reference's operations in the same order.
"""
from __future__ import annotations

import torch

from ..ops.window import attention_bias, round_up, window_attention_mask
from .gemm import linear
from .mlp import mlp_inference
from .sdpa import split_heads, window_sdpa
from .window_gather import window_chunks

__all__ = ['block_inference']


def block_inference(block, x: torch.Tensor) -> torch.Tensor:
    """``block(x)`` for a :class:`swin_mm.models.swin.SwinBlock` in eval mode, without autograd,
    on fp32 CPU tokens, range of windows by range.

    Args:
        x: (B, H, W, C) tokens.
    Returns:
        (B, H, W, C), the block's output.
    """
    B, H, W, C = x.shape
    attn = block.attn
    tokens = block.window_size[0] * block.window_size[1]
    chunks = window_chunks(B, (H, W), block.window_size, block.shift_size,
                           tokens * 3 * C * x.element_size(), x.device)  # chunks of qkv
    padded_size = round_up(H, block.window_size[0]), round_up(W, block.window_size[1])
    mask = window_attention_mask((H, W), padded_size, block.window_size, block.shift_size,
                                 block.mask_padding, x.device)  # nW, N, N or None
    bias = attn.relative_position_bias()  # h, N, N
    rows = x.reshape(B * H * W, C)
    out = torch.empty_like(rows)
    for chunk in chunks:
        shortcut = rows.index_select(0, chunk.source)  # windows * N, C
        normed = block.norm1(shortcut)
        if chunk.pad is not None:
            normed.index_fill_(0, chunk.pad, 0)
        qkv = linear(normed, attn.qkv.weight, attn.qkv.bias, pack=True)
        q, k, v = split_heads(qkv.view(-1, tokens, 3 * C), 1, attn.num_heads).unbind(0)
        logits_bias = attention_bias(bias, None if mask is None else mask[chunk.in_image])
        if logits_bias.dim() == 4:  # per-window logits: the windows as (images, nW) as they repeat
            q, k, v = (t.view(chunk.images, -1, *t.shape[2:]) for t in (q, k, v))
        heads = window_sdpa(q, k, v, logits_bias, attn.scale)  # B', nW', h, N, d
        heads = heads.transpose(2, 3).reshape(-1, C)  # no copy: window_sdpa's layout
        y = linear(heads, attn.proj.weight, attn.proj.bias, pack=True).add_(shortcut)
        if chunk.keep is not None:
            y = y.index_select(0, chunk.keep)
        out.index_copy_(0, chunk.dest, mlp_inference(block.norm2(y), block.mlp.fc1,
                                                     block.mlp.fc2).add_(y))
    return out.view(B, H, W, C)

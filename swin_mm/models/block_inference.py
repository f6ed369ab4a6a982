"""A Swin block's inference on CPU in one pass over ranges of windows.

The plain forward runs each step over the whole map: LayerNorm, the gather into windows (pad, roll,
partition), qkv, attention, proj, the gather back, the residual addition, LayerNorm, the MLP and the
second addition, each writing a map-sized tensor that the next step reads back from memory (Swin-T
at 800x1216, stage 1: 23 MB a map, 72 MB the qkv). Here each range of windows goes through the
whole block while its tokens stay in the caches: they are gathered from the input, normalised
(padding zeroed after the norm, as padding the normalised map does), attended, projected and
added to the residual, and, padding dropped, go through the MLP (fc1 + GELU fused) and its
residual addition and are written to their places in the output map. Each token sees the plain
forward's operations in the same order, so the outputs are the same to the bit here
(tests/models/test_block_inference.py checks them within 1e-5 on both product libraries).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..ops.fused_attention import split_heads
from ..ops.linear_gelu import CHUNK_BYTES, fusable
from ..ops.window import round_up, window_attention_mask, window_chunks

__all__ = ['block_inference_applies', 'block_inference']


def block_inference_applies(block, x: torch.Tensor) -> bool:
    """Whether :func:`block_inference` serves ``block(x)``: a block in eval mode without
    autograd, fp32 CPU tokens outside autocast and compilation in a build with oneDNN
    (:func:`swin_mm.ops.linear_gelu.fusable`), and the paper's exact-GELU MLP."""
    return not block.training and fusable(x, block.mlp.fc1.weight) and block.mlp.exact_gelu()


def block_inference(block, x: torch.Tensor) -> torch.Tensor:
    """``block(x)`` for a :class:`swin_mm.models.swin.SwinBlock` where
    :func:`block_inference_applies`, range of windows by range.

    Args:
        x: (B, H, W, C) tokens.
    Returns:
        (B, H, W, C), the block's output.
    """
    B, H, W, C = x.shape
    attn = block.attn
    tokens = block.window_size[0] * block.window_size[1]
    windows_per_chunk = max(1, CHUNK_BYTES // (tokens * 3 * C * x.element_size()))  # of qkv
    chunks = window_chunks(B, (H, W), block.window_size, block.shift_size, windows_per_chunk,
                           x.device)
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
        qkv = attn.qkv(normed)
        num_windows = chunk.windows.stop - chunk.windows.start
        q, k, v = split_heads(qkv.view(num_windows, tokens, 3 * C), 1, attn.num_heads)[:, :, 0]
        logits = bias[None] if mask is None else bias + mask[chunk.windows, None]
        heads = F.scaled_dot_product_attention(q, k, v, attn_mask=logits, scale=attn.scale)
        heads = heads.transpose(1, 2).reshape(-1, C)  # no copy: the kernel writes (w, N, h, d)
        y = attn.proj(heads).add_(shortcut)
        if chunk.keep is not None:
            y = y.index_select(0, chunk.keep)
        out.index_copy_(0, chunk.dest, block.mlp(block.norm2(y)).add_(y))
    return out.view(B, H, W, C)

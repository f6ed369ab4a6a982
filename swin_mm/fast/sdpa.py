"""Attention of many windows through ``F.scaled_dot_product_attention``'s fused kernels.

SDPA's fused kernels (flash attention on CPU, the memory-efficient one on CUDA) take 4-D
(batch, heads, N, d) inputs only: given the 5-D (B, nW, h, N, d) layout of the reference it falls
back to its unfused math. So the windows are flattened into the batch; a mask that differs per
window repeats with every image, which no stride can express over B * nW windows, so that case
takes one call per image (B is small in detection and segmentation).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch.utils import flop_counter

from ..ops.window import attention_bias

__all__ = ['split_heads', 'window_sdpa', 'window_attention']

_FLASH_CPU = getattr(torch.ops.aten, '_scaled_dot_product_flash_attention_for_cpu', None)
if _FLASH_CPU is not None and _FLASH_CPU not in flop_counter.flop_registry:
    @flop_counter.register_flop_formula(_FLASH_CPU)
    def _flash_cpu_flops(q_shape, k_shape, v_shape, *args, **kwargs) -> int:
        """So that FlopCounterMode counts the CPU flash kernel as it counts the CUDA ones."""
        return flop_counter.sdpa_flop_count(q_shape, k_shape, v_shape)


def split_heads(qkv: torch.Tensor, num_windows: int, num_heads: int) -> torch.Tensor:
    """The qkv projection's output as q, k and v per head, without a copy.

    Args:
        qkv: (B * nW, N, 3C), channels ordered (q/k/v, head, d).
        num_windows: nW (1 when no per-window mask: any number of windows).
        num_heads: h.
    Returns:
        (3, B, nW, h, N, d), a view of ``qkv``.
    """
    Bw, N, C3 = qkv.shape
    d = C3 // (3 * num_heads)
    return qkv.view(Bw // num_windows, num_windows, N, 3, num_heads, d).permute(3, 0, 1, 4, 2, 5)


def window_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor,
                scale: float, dropout_p: float = 0.0) -> torch.Tensor:
    """softmax(q k^T * scale + attn_mask) v for every window and head.

    Args:
        q, k, v: (B, nW, h, N, d).
        attn_mask: additive logits, (h, N, N) shared by all windows or (nW, h, N, N) per window.
        scale: logit scale.
        dropout_p: dropout on the probabilities.
    Returns:
        (B, nW, h, N, d), a view of a (B, nW, N, h, d)-contiguous tensor (so merging the heads
        back into channels costs no copy).
    """
    B, nW, h, N, d = q.shape
    if attn_mask.dim() == 3:  # one call: every window shares the mask
        out = F.scaled_dot_product_attention(
            q.flatten(0, 1), k.flatten(0, 1), v.flatten(0, 1), attn_mask=attn_mask[None],
            dropout_p=dropout_p, scale=scale).transpose(1, 2)  # B*nW, N, h, d
        out = out.reshape(B, nW, N, h, d)
    else:
        outs = [F.scaled_dot_product_attention(
            q[b], k[b], v[b], attn_mask=attn_mask, dropout_p=dropout_p, scale=scale
        ).transpose(1, 2) for b in range(B)]  # each nW, N, h, d
        out = outs[0][None] if B == 1 else torch.stack(outs)  # B, nW, N, h, d
    return out.transpose(2, 3)


def window_attention(qkv: torch.Tensor, bias: torch.Tensor, mask: Optional[torch.Tensor],
                     num_heads: int, scale: float, dropout_p: float = 0.0) -> torch.Tensor:
    """Drop-in for :func:`swin_mm.models.attention.window_attention` through :func:`window_sdpa`.

    Args:
        qkv: (B * nW, N, 3C), channels ordered (q/k/v, head, d).
        bias: (h, N, N); mask: (nW, N, N) or None (then any number of windows).
    Returns:
        (B * nW, N, C).
    """
    Bw, N, C3 = qkv.shape
    nW = 1 if mask is None else mask.shape[0]
    q, k, v = split_heads(qkv, nW, num_heads).unbind(0)  # each B, nW, h, N, d
    out = window_sdpa(q, k, v, attention_bias(bias, mask), scale, dropout_p)
    return out.transpose(2, 3).reshape(Bw, N, C3 // 3)  # no copy: see window_sdpa

"""Window attention for CUDA training through the memory-efficient fused kernel, saving the
relative bias and the mask apart: a drop-in for :func:`swin_mm.models.attention.window_attention`
without dropout.

Called through ``F.scaled_dot_product_attention``, the kernel takes one additive bias and autograd
keeps it for backward: for a shifted block that is the sum bias + mask, (nW, h, N, N) per block.
Here the kernel is called directly (``aten._scaled_dot_product_efficient_attention`` and its
backward); the sum is built in forward and rebuilt in backward from the (h, N, N) bias and the
cached (nW, N, N) mask, so nothing N x N per window is kept. The sum is written into a buffer
whose rows are padded to a multiple of 8 elements, the stride alignment the kernel needs (SDPA
would otherwise copy it into one), and it covers all B * nW windows in one call.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..ops.window import attention_bias, round_up
from .sdpa import split_heads

__all__ = ['efficient_window_attention', 'aligned_attention_bias']

#: Stride alignment, in elements, of the kernel's bias (16 bytes: 8 bf16/fp16 or 4 fp32 values).
BIAS_ALIGNMENT = 8


def _kernel_forward(q, k, v, attn_bias, scale):
    """(out (Bw, h, N, d), logsumexp, philox seed, philox offset) of the fused CUDA kernel."""
    return torch.ops.aten._scaled_dot_product_efficient_attention(
        q, k, v, attn_bias, True, 0.0, False, scale=scale)


def _kernel_backward(grad_out, q, k, v, attn_bias, out, logsumexp, seed, offset, scale,
                     bias_grad):
    """(dq, dk, dv, dbias) of the fused CUDA kernel; dbias is None unless ``bias_grad``."""
    return torch.ops.aten._scaled_dot_product_efficient_attention_backward(
        grad_out, q, k, v, attn_bias, out, logsumexp, seed, offset, 0.0,
        [True, True, True, bias_grad], False, scale=scale)


def aligned_attention_bias(bias: torch.Tensor, mask: Optional[torch.Tensor], num_windows: int
                           ) -> torch.Tensor:
    """:func:`~swin_mm.ops.window.attention_bias` for every window, in the kernel's layout.

    Args:
        bias: (h, N, N) relative-position bias.
        mask: (nW, N, N) additive mask, or None.
        num_windows: B * nW, windows of all images, image-major.
    Returns:
        (B * nW, h, N, N) in ``bias``'s dtype, rows stored with a stride that is a multiple of
        :data:`BIAS_ALIGNMENT`; without a mask, one (h, N, N) copy broadcast over the windows.
    """
    h, N, _ = bias.shape
    stride = round_up(N, BIAS_ALIGNMENT)
    nW = 1 if mask is None else mask.shape[0]
    out = bias.new_empty(num_windows // nW if mask is not None else 1, nW, h, N, stride)[..., :N]
    attention_bias(bias, mask, out=out)
    if mask is None:
        return out[0, 0].expand(num_windows, h, N, N)
    return out.view(num_windows, h, N, N)


def _split(qkv: torch.Tensor, num_heads: int):
    """(Bw, N, 3C) -> q, k, v, each (Bw, h, N, d), views (split_heads with one window per row)."""
    return split_heads(qkv, 1, num_heads).flatten(1, 2).unbind(0)


class _EfficientWindowAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, qkv, bias, mask, num_heads, scale):
        ctx.num_heads, ctx.scale = num_heads, scale
        q, k, v = _split(qkv, num_heads)
        attn_bias = aligned_attention_bias(bias.detach(), mask, qkv.shape[0])
        out, logsumexp, seed, offset = _kernel_forward(q, k, v, attn_bias, scale)
        ctx.save_for_backward(qkv, bias, mask, out, logsumexp, seed, offset)
        # out is (Bw, h, N, d) over (Bw, N, h, d) storage: the merged heads are a view, which the
        # projection after it saves anyway
        return out.transpose(1, 2).reshape(qkv.shape[0], qkv.shape[1], -1)

    @staticmethod
    def backward(ctx, grad_out):
        qkv, bias, mask, out, logsumexp, seed, offset = ctx.saved_tensors
        Bw, N, C = grad_out.shape
        h = ctx.num_heads
        q, k, v = _split(qkv, h)
        grad_out = grad_out.to(out.dtype).contiguous().view(Bw, N, h, C // h).transpose(1, 2)
        bias_grad = ctx.needs_input_grad[1]
        attn_bias = aligned_attention_bias(bias.detach(), mask, Bw)
        dq, dk, dv, dbias = _kernel_backward(grad_out, q, k, v, attn_bias, out, logsumexp, seed,
                                             offset, ctx.scale, bias_grad)
        # one copy into the qkv layout (Bw, N, 3, h, d)
        grad_qkv = torch.stack([g.transpose(1, 2) for g in (dq, dk, dv)], dim=2)
        grad_bias = dbias.sum(0) if bias_grad else None
        return grad_qkv.view(qkv.shape), grad_bias, None, None, None


def efficient_window_attention(qkv: torch.Tensor, bias: torch.Tensor, mask: Optional[torch.Tensor],
                               num_heads: int, scale: float) -> torch.Tensor:
    """softmax(q k^T * scale + bias + mask) v of every window, through the fused CUDA kernel.

    Saves qkv, the bias, the (cached) mask, the output (which the projection keeps anyway) and the
    kernel's per-row log-sum-exp; the learned bias gets its gradient.

    Args:
        qkv: (B * nW, N, 3C), channels ordered (q/k/v, head, d), on CUDA.
        bias: (h, N, N) relative-position bias, in qkv's dtype.
        mask: (nW, N, N) additive mask (constant), or None.
        num_heads: h.
        scale: logit scale.
    Returns:
        (B * nW, N, C), the heads' outputs concatenated per token.
    """
    return _EfficientWindowAttention.apply(qkv, bias, mask, num_heads, scale)

"""Autograd functions that keep less for backward and recompute the rest.

- :func:`window_attention`: softmax(q k^T * scale + bias + mask) v, saving only q, k, v (views of
  one qkv tensor), the bias and the mask; forward runs SDPA's fused kernel, the attention
  probabilities are recomputed in backward, as flash attention does. The learned
  relative-position bias gets its gradient (which SDPA's fused kernels do not give).
- :func:`gelu_linear`: fc2(GELU(h)), saving only h; GELU(h) is recomputed in backward.

Both are used while autograd records (training); inference takes the plain fused kernels.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .fused_attention import window_sdpa

__all__ = ['window_attention', 'gelu_linear']


def _probabilities(q, k, bias, mask, scale):
    logits = torch.matmul(q, k.transpose(-2, -1)).mul_(scale).add_(bias)
    if mask is not None:
        logits.add_(mask)
    return torch.softmax(logits, dim=-1)


class _WindowAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, bias, mask, scale):
        ctx.save_for_backward(q, k, v, bias, mask)
        ctx.scale = scale
        if torch.compiler.is_compiling():  # dynamo cannot trace SDPA inside a Function's forward
            return torch.matmul(_probabilities(q, k, bias, mask, scale), v)
        attn_mask = bias if mask is None else bias + mask  # (nW,) h, N, N
        return window_sdpa(q, k, v, attn_mask, scale)  # the fused kernel: no probabilities kept

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, bias, mask = ctx.saved_tensors
        scale = ctx.scale
        probs = _probabilities(q, k, bias, mask, scale)  # recomputed
        grad_v = torch.matmul(probs.transpose(-2, -1), grad_out)
        grad_probs = torch.matmul(grad_out, v.transpose(-2, -1))
        # softmax backward, in place: dS = P * (dP - sum(dP * P))
        grad_logits = grad_probs.sub_((grad_probs * probs).sum(-1, keepdim=True)).mul_(probs)
        grad_bias = None
        if ctx.needs_input_grad[3]:
            grad_bias = grad_logits.sum_to_size(bias.shape)
        grad_logits.mul_(scale)
        grad_q = torch.matmul(grad_logits, k)
        grad_k = torch.matmul(grad_logits.transpose(-2, -1), q)
        return grad_q, grad_k, grad_v, grad_bias, None, None


def window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor,
                     mask: Optional[torch.Tensor], scale: float) -> torch.Tensor:
    """Attention of every window with an additive bias and mask, memory-lean in backward.

    Args:
        q, k, v: (B, nW, h, N, d).
        bias: (h, N, N) relative-position bias (may require grad).
        mask: (nW, 1, N, N) additive mask (constant) or None.
        scale: logit scale.
    Returns:
        (B, nW, h, N, d), laid out as :func:`~swin_mm.ops.fused_attention.window_sdpa` returns it.
    """
    return _WindowAttention.apply(q, k, v, bias, mask, scale)


class _GeluLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias):
        ctx.save_for_backward(hidden, weight)
        ctx.has_bias = bias is not None
        return F.linear(F.gelu(hidden), weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        hidden, weight = ctx.saved_tensors
        act = F.gelu(hidden)  # recomputed
        grad_2d = grad_out.reshape(-1, grad_out.shape[-1])
        grad_weight = grad_2d.t().mm(act.reshape(-1, act.shape[-1]))
        grad_bias = grad_2d.sum(0) if ctx.has_bias else None
        grad_act = torch.matmul(grad_out, weight)
        grad_hidden = torch.ops.aten.gelu_backward(grad_act, hidden)
        return grad_hidden, grad_weight, grad_bias


def gelu_linear(hidden: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]
                ) -> torch.Tensor:
    """``F.linear(F.gelu(hidden), weight, bias)`` saving only ``hidden`` for backward.

    Args:
        hidden: (..., K) pre-activation.
        weight: (M, K); bias: (M,) or None.
    Returns:
        (..., M).
    """
    return _GeluLinear.apply(hidden, weight, bias)

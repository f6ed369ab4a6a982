"""Window attention for CPU training: drop-ins for the reference attention that keep less for
backward and recompute the rest.

- :func:`window_attention` (drop-in for :func:`swin_mm.models.attention.window_attention` without
  dropout): forward through SDPA's fused kernel, saving only qkv, the bias, the mask and the
  output (which the projection after it keeps anyway); backward recomputes the probabilities, as
  flash attention does, over ranges of windows (:func:`swin_mm.fast.chunks.window_ranges`). The
  learned relative-position bias gets its gradient (which SDPA's fused CPU kernel does not give).
- :func:`projected_window_attention`: the same with the qkv projection inside, its gradients taken
  range by range with the attention's, so no (B * nW, N, 3C) gradient is ever written (fp32).
"""
from __future__ import annotations

from typing import Optional

import torch

from ..ops.window import add_attention_bias_, attention_bias
from . import autocast_off
from .chunks import items_per_chunk, window_ranges
from .gemm import LinearGrads, linear
from .sdpa import split_heads, window_sdpa

__all__ = ['window_attention', 'projected_window_attention']


class _WindowAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, qkv_weight, qkv_bias, bias, mask, num_windows, num_heads, scale):
        ctx.num_windows, ctx.num_heads, ctx.scale = num_windows, num_heads, scale
        qkv = x if qkv_weight is None else linear(x, qkv_weight, qkv_bias)
        q, k, v = split_heads(qkv, num_windows, num_heads).unbind(0)  # B, nW, h, N, d views
        # detached: SDPA's CPU flash kernel refuses a mask flagged requires_grad (even with grad
        # mode off, as here) and falls back to its unfused math
        attn_mask = attention_bias(bias.detach(), mask)  # (nW,) h, N, N
        out = window_sdpa(q, k, v, attn_mask, scale).transpose(2, 3)  # no probabilities kept
        out = out.reshape(qkv.shape[0], qkv.shape[1], -1)  # B*nW, N, C (no copy: window_sdpa)
        # the output costs no memory: the projection that follows keeps it anyway
        ctx.save_for_backward(qkv, bias, mask, out, x, qkv_weight)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        qkv, bias, mask, out, x, qkv_weight = ctx.saved_tensors
        need_x, need_weight, need_qkv_bias, need_bias = ctx.needs_input_grad[:4]
        projected = qkv_weight is not None
        with autocast_off(qkv):  # all in the forward's dtype, whatever autocast is around
            grad_out = grad_out.to(qkv.dtype)
            grad_bias = torch.zeros_like(bias) if need_bias else None
            Bw, N = qkv.shape[0], qkv.shape[1]
            logits_bytes = ctx.num_heads * N * N * qkv.element_size()  # per window
            chunks = window_ranges(Bw // ctx.num_windows, ctx.num_windows,
                                   items_per_chunk(logits_bytes))
            if projected:  # q, k, v's gradients one range at a time, then the projection's
                grads = LinearGrads(x, qkv_weight, need_x, need_weight, need_qkv_bias)
                buffer = torch.empty_like(qkv[chunks[0][0]])
            else:
                grad_qkv = torch.empty_like(qkv)
            for rows, in_image in chunks:
                target = buffer[:qkv[rows].shape[0]] if projected else grad_qkv[rows]
                _attention_backward(grad_out[rows], qkv[rows], bias,
                                    None if mask is None else mask[in_image], out[rows], target,
                                    grad_bias, ctx.num_heads, ctx.scale)
                if projected:
                    grads.add(rows, target)
        first = grads.result() if projected else (grad_qkv, None, None)
        return (*first, grad_bias, None, None, None, None)


def _attention_backward(grad_out, qkv, bias, mask, out, grad_qkv, grad_bias, h, scale):
    """Gradients of one range of windows, written into ``grad_qkv``; the (h, N, N) bias's added
    to ``grad_bias``.

    ``mask`` is None, or the (n, N, N) mask of windows that repeat every n (whole images, or part
    of one). Every matmul runs on contiguous (windows * h, N, d) batches: one copy of q, k, v in,
    one of their gradients out. Buffers are reused: the probabilities overwrite the logits, dv overwrites v,
    dk overwrites k and dq the copy of the output's gradient.
    """
    nW = 1 if mask is None else mask.shape[0]
    # the copies see the windows as one dimension (with B = 1, a (3, 1, nW, ...) copy ran several
    # times slower than (3, nW, 1, ...)); only the bias needs the images apart (views below)
    Bw, N = qkv.shape[0], qkv.shape[1]
    heads = split_heads(qkv, 1, h).contiguous()  # 3, B*nW, 1, h, N, d
    d = heads.shape[-1]
    q, k, v = heads.view(3, -1, N, d).unbind(0)  # B*nW*h, N, d
    grad_heads = grad_out.reshape(Bw, N, h, d)
    # softmax backward needs sum_j dP_ij P_ij, which is dO_i . O_i (as flash attention has it)
    row_dot = (grad_heads * out.view(Bw, N, h, d)).sum(-1).transpose(1, 2).reshape(-1, N, 1)
    # a copy, always (dq is written into it; a view would overwrite the incoming gradient)
    grad = grad_heads.transpose(1, 2).clone(memory_format=torch.contiguous_format)
    grad = grad.view(-1, N, d)
    probs = torch.bmm(q, k.transpose(1, 2)).mul_(scale)
    add_attention_bias_(probs.view(-1, nW, h, N, N), bias, mask)
    torch.ops.aten._softmax.out(probs, -1, False, out=probs)  # recomputed, in place
    grad_probs = torch.bmm(grad, v.transpose(1, 2))
    torch.bmm(probs.transpose(1, 2), grad, out=v)  # dv
    grad_logits = grad_probs.sub_(row_dot).mul_(probs)  # dS = P (dP - D), in place
    if grad_bias is not None:
        grad_bias += grad_logits.view(-1, h, N, N).sum(0)
    grad_logits.mul_(scale)
    torch.bmm(grad_logits, k, out=grad)  # dq
    torch.bmm(grad_logits.transpose(1, 2), q, out=k)  # dk
    grad_qkv = grad_qkv.view(Bw, N, 3, h, d)
    for i, part in enumerate((grad, k, v)):
        grad_qkv[:, :, i].copy_(part.view(Bw, h, N, d).transpose(1, 2))


def window_attention(qkv: torch.Tensor, bias: torch.Tensor, mask: Optional[torch.Tensor],
                     num_heads: int, scale: float) -> torch.Tensor:
    """Attention of every window with an additive bias and mask, memory-lean in backward.

    Args:
        qkv: (B * nW, N, 3C), the qkv projection's output: channels ordered (q/k/v, head, d).
        bias: (h, N, N) relative-position bias (may require grad).
        mask: (nW, N, N) additive mask (constant), or None (then any number of windows).
        num_heads: h.
        scale: logit scale.
    Returns:
        (B * nW, N, C), the heads' outputs concatenated per token.
    """
    num_windows = 1 if mask is None else mask.shape[0]
    return _WindowAttention.apply(qkv, None, None, bias, mask, num_windows, num_heads, scale)


def projected_window_attention(x: torch.Tensor, qkv_weight: torch.Tensor,
                               qkv_bias: Optional[torch.Tensor], bias: torch.Tensor,
                               mask: Optional[torch.Tensor], num_heads: int, scale: float
                               ) -> torch.Tensor:
    """:func:`window_attention` of ``F.linear(x, qkv_weight, qkv_bias)``, the qkv projection's
    backward run with the attention's, range of windows by range: q, k and v's gradients for a
    range go straight into the projection's gradients, and no (B * nW, N, 3C) gradient is ever
    written.
    Saves what the projection and :func:`window_attention` keep: x, qkv and the output.

    Args:
        x: (B * nW, N, C) tokens of the windows.
        qkv_weight: (3C, C); qkv_bias: (3C,) or None.
        bias, mask, num_heads, scale: as in :func:`window_attention`.
    Returns:
        (B * nW, N, C).
    """
    num_windows = 1 if mask is None else mask.shape[0]
    return _WindowAttention.apply(x, qkv_weight, qkv_bias, bias, mask, num_windows, num_heads,
                                  scale)



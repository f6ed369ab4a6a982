"""Drop-ins for the reference :class:`swin_mm.models.layers.Mlp` (fc1, exact GELU, fc2; no active
dropout).

- :func:`mlp_inference`: fc1 + GELU as one oneDNN kernel (GELU applied as the product writes its
  output: no hidden-sized tensor written and read back); no autograd.
- :func:`chunked_mlp`: CPU training; forward and backward over chunks of tokens, GELU
  recomputed in backward.
- :func:`gelu_linear`: training elsewhere; fc2(GELU(h)) saving only h, GELU recomputed in
  backward.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from . import autocast_off
from .chunks import row_chunks
from .gemm import LinearGrads, add_weight_grad, join_rows, linear, packed_weight

__all__ = ['linear_gelu', 'mlp_inference', 'gelu_linear', 'chunked_mlp']


def linear_gelu(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]
                ) -> torch.Tensor:
    """``F.gelu(F.linear(x, weight, bias))`` (exact GELU) through oneDNN's fused kernel, without
    autograd; ``weight`` read in its packed layout inside
    :func:`swin_mm.fast.gemm.reuse_packed_weights`. Needs oneDNN and fp32 CPU tensors.

    Args:
        x: (..., K).
        weight: (M, K); bias: (M,) or None.
    Returns:
        (..., M).
    """
    out = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, x.shape[-1]), packed_weight(weight),
                                              bias, 'gelu', [], 'none')
    return out.view(*x.shape[:-1], weight.shape[0])


def mlp_inference(x: torch.Tensor, fc1: torch.nn.Linear, fc2: torch.nn.Linear) -> torch.Tensor:
    """``fc2(GELU(fc1(x)))`` (exact GELU) without autograd, fc1 + GELU fused. A block's inference
    runs it on ranges of windows whose hidden rows stay in the caches
    (:mod:`swin_mm.fast.block_inference`).

    Args:
        x: (..., C).
    Returns:
        (..., fc2.out_features).
    """
    return linear(linear_gelu(x, fc1.weight, fc1.bias), fc2.weight, fc2.bias, pack=True)


class _GeluLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias):
        ctx.save_for_backward(hidden, weight)
        ctx.has_bias = bias is not None
        return F.linear(F.gelu(hidden), weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        hidden, weight = ctx.saved_tensors
        with autocast_off(grad_out):
            # under autocast the forward ran in grad_out's dtype, not in the weight's (fp32)
            weight = weight.to(grad_out.dtype)
            grad_2d = grad_out.reshape(-1, grad_out.shape[-1])
            act = F.gelu(hidden).to(grad_out.dtype)  # recomputed
            grad_weight = grad_2d.t().mm(act.view(-1, act.shape[-1]))
            grad_bias = grad_2d.sum(0) if ctx.has_bias else None
            if act.dtype != hidden.dtype:
                grad_act = torch.matmul(grad_out, weight).to(hidden.dtype)
                return torch.ops.aten.gelu_backward(grad_act, hidden), grad_weight, grad_bias
            # act's buffer then holds its gradient, then hidden's: no fresh hidden-sized tensor
            grad = torch.mm(grad_2d, weight, out=act.view(-1, act.shape[-1])).view_as(act)
            grad_hidden = torch.ops.aten.gelu_backward.grad_input(grad, hidden, grad_input=grad)
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


class _ChunkedMlp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, fc1_weight, fc1_bias, fc2_weight, fc2_bias):
        flat = x.reshape(-1, x.shape[-1])
        hidden, outs = [], []  # the pre-activation and the output, chunk by chunk
        act = None  # GELU(h) of one chunk at a time (the first chunk is the largest)
        for rows in row_chunks(flat.shape[0], fc1_weight.shape[0] * flat.element_size()):
            h = linear(flat[rows], fc1_weight, fc1_bias)
            act = torch.empty_like(h) if act is None else act
            outs.append(linear(_gelu_into(act, h), fc2_weight, fc2_bias))
            hidden.append(h)
        ctx.save_for_backward(flat, fc1_weight, fc2_weight, *hidden)
        ctx.x_shape = x.shape
        return join_rows(outs).view(*x.shape[:-1], fc2_weight.shape[0])

    @staticmethod
    def backward(ctx, grad_out):
        flat, fc1_weight, fc2_weight, *hidden = ctx.saved_tensors
        need_x, need_w1, need_b1, need_w2, need_b2 = ctx.needs_input_grad
        grad_2d = grad_out.reshape(-1, grad_out.shape[-1])
        fc1_grads = LinearGrads(flat, fc1_weight, need_x, need_w1, need_b1)
        grad_w2 = torch.zeros_like(fc2_weight) if need_w2 else None
        fc2_weight_t = fc2_weight.t().contiguous()
        buffer = torch.empty_like(hidden[0])  # GELU(h), recomputed chunk by chunk
        chunks = row_chunks(flat.shape[0], fc1_weight.shape[0] * flat.element_size())
        for rows, h in zip(chunks, hidden):
            grad = grad_2d[rows]
            act = _gelu_into(buffer, h)
            if need_w2:
                add_weight_grad(grad_w2, grad, act)
            grad_h = linear(grad, fc2_weight_t, None)  # GELU(h)'s gradient, then h's:
            torch.ops.aten.gelu_backward.grad_input(grad_h, h, grad_input=grad_h)
            fc1_grads.add(rows, grad_h)
        grad_x, grad_w1, grad_b1 = fc1_grads.result()
        grad_x = grad_x.view(ctx.x_shape) if need_x else None
        return grad_x, grad_w1, grad_b1, grad_w2, (grad_2d.sum(0) if need_b2 else None)


def _gelu_into(buffer: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Exact GELU of ``h`` (rows, K) written into the first rows of ``buffer``."""
    return torch.ops.aten.gelu.out(h, out=buffer[:h.shape[0]])


def chunked_mlp(x: torch.Tensor, fc1_weight: torch.Tensor, fc1_bias: Optional[torch.Tensor],
                fc2_weight: torch.Tensor, fc2_bias: Optional[torch.Tensor]) -> torch.Tensor:
    """``F.linear(F.gelu(F.linear(x, fc1_weight, fc1_bias)), fc2_weight, fc2_bias)`` over chunks
    of tokens (:func:`swin_mm.fast.chunks.row_chunks` of the hidden rows), in forward and
    backward, saving ``x`` and the pre-activation (what fc1 and GELU keep anyway), never GELU's
    output. Forward keeps the pre-activation as its chunks (oneDNN writes only fresh outputs:
    no copy into one tensor) and applies GELU and fc2 to each at once; backward recomputes GELU
    and runs both layers' gradients chunk by chunk.

    Args:
        x: (..., C) tokens.
        fc1_weight: (K, C); fc1_bias: (K,) or None; fc2_weight: (M, K); fc2_bias: (M,) or None.
    Returns:
        (..., M).
    """
    return _ChunkedMlp.apply(x, fc1_weight, fc1_bias, fc2_weight, fc2_bias)

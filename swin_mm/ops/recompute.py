"""Autograd functions that keep less for backward and recompute the rest.

- :func:`window_attention`: softmax(q k^T * scale + bias + mask) v, saving only the qkv
  projection's output, the bias, the mask and its own output (which the projection after it
  keeps anyway); forward runs SDPA's fused kernel, the attention probabilities are recomputed in
  backward, as flash attention does. The learned relative-position bias gets its gradient (which
  SDPA's fused CPU kernel does not give).
  Its backward runs over ranges of windows whose logits stay under 8 MB (no fresh N x N
  tensors over 32 MB to page-fault in): Swin-T 800x1216 stage-1 attention backward 115-133 ->
  84-91 ms.
- :func:`projected_window_attention`: the same with the qkv projection inside, whose gradients
  are taken range by range with the attention's (CPU, fp32).
- :func:`gelu_linear`: fc2(GELU(h)), saving only h; GELU(h) is recomputed in backward.
- :func:`chunked_mlp`: the whole MLP, fc2(GELU(fc1(x))), the same way, on CPU: forward and
  backward run over chunks of tokens, so that no hidden-sized tensor but the saved pre-activation
  is ever written (a fresh tensor over 32 MB costs page faults, and a chunk is still in the caches
  when the next operation reads it).

They are used while autograd records (training; gelu_linear also on CUDA); inference takes the
plain fused kernels.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from . import linear_gelu
from .fused_attention import split_heads, window_sdpa
from .gemm import LinearGrads, add_weight_grad, join_rows, linear
from .linear_gelu import row_chunks

__all__ = ['window_attention', 'projected_window_attention', 'gelu_linear', 'chunked_mlp']


def _probabilities(q, k, bias, mask, scale):
    logits = torch.matmul(q, k.transpose(-2, -1)).mul_(scale).add_(bias)
    if mask is not None:
        logits.add_(mask)
    return torch.softmax(logits, dim=-1)


def _autocast_off(like: torch.Tensor) -> torch.autocast:
    """A context without autocast on ``like``'s device: a backward that may run inside the caller's
    autocast region (or outside the forward's) computes in the dtypes it chooses."""
    return torch.autocast(like.device.type, enabled=False)


class _WindowAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, qkv_weight, qkv_bias, bias, mask, num_windows, num_heads, scale):
        ctx.num_windows, ctx.num_heads, ctx.scale = num_windows, num_heads, scale
        qkv = x if qkv_weight is None else linear(x, qkv_weight, qkv_bias)
        q, k, v = split_heads(qkv, num_windows, num_heads).unbind(0)  # B, nW, h, N, d views
        if torch.compiler.is_compiling():  # dynamo cannot trace SDPA inside a Function's forward
            out = torch.matmul(_probabilities(q, k, bias, mask, scale), v).transpose(2, 3)
        else:
            # detached: SDPA's CPU flash kernel refuses a mask flagged requires_grad (even with
            # grad mode off, as here) and falls back to its unfused math
            attn_mask = bias.detach() if mask is None else bias + mask  # (nW,) h, N, N
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
        with _autocast_off(qkv):  # all in the forward's dtype, whatever autocast is around
            grad_out = grad_out.to(qkv.dtype)
            grad_bias = torch.zeros_like(bias) if need_bias else None
            chunks = list(_window_chunks(qkv, mask, ctx.num_windows, ctx.num_heads))
            if projected:  # q, k, v's gradients one range at a time, then the projection's
                grads = LinearGrads(x, qkv_weight, need_x, need_weight, need_qkv_bias)
                buffer = torch.empty_like(qkv[chunks[0][0]])
            else:
                grad_qkv = torch.empty_like(qkv)
            for rows, chunk_mask in chunks:
                target = buffer[:qkv[rows].shape[0]] if projected else grad_qkv[rows]
                _attention_backward(grad_out[rows], qkv[rows], bias, chunk_mask, out[rows],
                                    target, grad_bias, ctx.num_heads, ctx.scale)
                if projected:
                    grads.add(rows, target)
        first = grads.result() if projected else (grad_qkv, None, None)
        return (*first, grad_bias, None, None, None, None)


def _window_chunks(qkv, mask, num_windows, num_heads):
    """Ranges of windows (rows of qkv) whose (windows, h, N, N) logits stay under
    :data:`~swin_mm.ops.linear_gelu.CHUNK_BYTES`, with each range's mask. When the mask differs
    per window a range holds whole images, or, when one image is too large, part of one image."""
    Bw, N = qkv.shape[0], qkv.shape[1]
    size = max(1, linear_gelu.CHUNK_BYTES // (num_heads * N * N * qkv.element_size()))
    if mask is None or size >= num_windows:
        step = size if mask is None else size // num_windows * num_windows
        for start in range(0, Bw, step):
            yield slice(start, start + step), mask
        return
    for image in range(0, Bw, num_windows):
        for start in range(0, num_windows, size):
            stop = min(start + size, num_windows)
            yield slice(image + start, image + stop), mask[start:stop]


def _attention_backward(grad_out, qkv, bias, mask, out, grad_qkv, grad_bias, h, scale):
    """Gradients of one range of windows, written into ``grad_qkv`` and added to ``grad_bias``.

    With a mask the windows are one image's consecutive windows, ``mask`` theirs (n, 1, N, N);
    without, any windows. Every matmul runs on contiguous (windows * h, N, d) batches: one copy of
    q, k, v in, one of their gradients out. Buffers are reused: the probabilities overwrite the
    logits, dv overwrites v, dk overwrites k and dq the copy of the output's gradient.
    """
    nW = 1 if mask is None else mask.shape[0]
    # the copies see the windows as one dimension: the same order as (B, nW), but with B = 1 the
    # (3, 1, nW, h, N, d) copy ran 5x slower than (3, nW, 1, h, N, d) (3.1 against 0.6 ms at
    # Swin-T stage 3); only the mask needs the images apart (views below)
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
    probs.view(-1, nW, h, N, N).add_(bias)
    if mask is not None:
        probs.view(-1, nW, h, N, N).add_(mask)
    torch.ops.aten._softmax.out(probs, -1, False, out=probs)  # recomputed, in place
    grad_probs = torch.bmm(grad, v.transpose(1, 2))
    torch.bmm(probs.transpose(1, 2), grad, out=v)  # dv
    grad_logits = grad_probs.sub_(row_dot).mul_(probs)  # dS = P (dP - D), in place
    if grad_bias is not None:
        grad_bias += grad_logits.view(-1, *bias.shape).sum(0)
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
        mask: (nW, 1, N, N) additive mask (constant), or None (then any number of windows).
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
    written (at Swin-T 800x1216 stage 1 a fresh 72 MB tensor, page-faulted in at each step).
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


class _GeluLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias):
        ctx.save_for_backward(hidden, weight)
        ctx.has_bias = bias is not None
        return F.linear(F.gelu(hidden), weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        hidden, weight = ctx.saved_tensors
        with _autocast_off(grad_out):
            # under autocast the forward ran in grad_out's dtype, not in the weight's (fp32)
            weight = weight.to(grad_out.dtype)
            grad_2d = grad_out.reshape(-1, grad_out.shape[-1])
            act = F.gelu(hidden).to(grad_out.dtype)  # recomputed
            grad_weight = grad_2d.t().mm(act.view(-1, act.shape[-1]))
            grad_bias = grad_2d.sum(0) if ctx.has_bias else None
            if act.dtype != hidden.dtype:
                grad_act = torch.matmul(grad_out, weight).to(hidden.dtype)
                return torch.ops.aten.gelu_backward(grad_act, hidden), grad_weight, grad_bias
            # act's buffer then holds its gradient, then hidden's: a fresh hidden-sized tensor
            # costs its page faults again (93 MB at Swin-T stage 1, 800x1216; ~20 ms each on CPU)
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
        for rows in row_chunks(flat.shape[0], fc1_weight.shape[0], flat.element_size()):
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
        chunks = row_chunks(flat.shape[0], fc1_weight.shape[0], flat.element_size())
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
    of tokens whose hidden rows stay under :data:`~swin_mm.ops.linear_gelu.CHUNK_BYTES`, in
    forward and backward, saving ``x`` and the pre-activation (what fc1 and GELU keep anyway),
    never GELU's output.

    For CPU tensors in the weights' dtype (:func:`~swin_mm.ops.linear_gelu.chunkable`): fresh
    tensors over 32 MB are page-faulted in at every allocation, and a chunk's hidden rows are still
    in the caches when the next operation reads them. Forward computes the pre-activation chunk
    by chunk, keeps it as its chunks (no copy into one tensor: oneDNN writes only fresh outputs,
    :mod:`swin_mm.ops.gemm`) and applies GELU and fc2 to each at once; backward recomputes GELU
    and runs both layers' gradients chunk by chunk, so the only hidden-sized data it touches is
    the saved pre-activation.

    Args:
        x: (..., C) tokens.
        fc1_weight: (K, C); fc1_bias: (K,) or None; fc2_weight: (M, K); fc2_bias: (M,) or None.
    Returns:
        (..., M).
    """
    return _ChunkedMlp.apply(x, fc1_weight, fc1_bias, fc2_weight, fc2_bias)

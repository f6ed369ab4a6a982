"""Which fast path runs: one predicate per path, one entry per reference function.

The reference model (:mod:`swin_mm.models`) calls these entries only when its ``fast`` flag is
on; each entry tries its paths in the order below and falls back to the reference when none
applies. Traced code (``torch.compile``, ``torch.export``) always takes the reference.

============================  ===================================  ===============================
reference                     fast path                            when
============================  ===================================  ===============================
SwinBlock.forward_reference   block_inference.block_inference      V1 (pre-norm), CPU fp32 eval
                                                                   without autograd, oneDNN in the
                                                                   build, exact GELU
shift_and_partition,          window_gather (one row gather        eager
reverse_and_unshift           each way)
WindowAttention: qkv +        attention_cpu.                       V1, CPU training in the weights'
window_attention              projected_window_attention           dtype, no attention dropout
window_attention              attention_cuda.                      CUDA training, no attention
                              efficient_window_attention           dropout
window_attention              attention_cpu.window_attention       CPU training (autocast), no
                                                                   attention dropout
window_attention              sdpa.window_attention                eager (inference, dropout)
  (V1 and V2 alike: V2's q, k, v arrive already cosine-normalised and scaled)
Mlp.forward_reference         mlp.mlp_inference                    CPU fp32 without autograd,
                                                                   oneDNN in the build
Mlp.forward_reference         mlp.chunked_mlp                      CPU training in the weights'
                                                                   dtype
Mlp.forward_reference         mlp.gelu_linear                      training elsewhere
nn.Linear.forward             gemm.linear / gemm.LinearFunction    fp32 CPU where oneDNN is chosen
                                                                   (gemm.ONEDNN)
============================  ===================================  ===============================

The MLP paths need the paper's exact GELU and no active dropout. Inference spans
(:func:`forward_span`) read each weight's packed oneDNN layout, checked against its values once
per forward.
"""
from __future__ import annotations

import contextlib
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..ops import window as reference_window_ops
from . import window_gather
from .attention_cpu import projected_window_attention
from .attention_cpu import window_attention as recomputing_attention
from .attention_cuda import efficient_window_attention
from .block_inference import block_inference
from .gemm import ONEDNN_AVAILABLE, LinearFunction, linear, reuse_packed_weights, uses_onednn
from .mlp import chunked_mlp, gelu_linear, mlp_inference
from .sdpa import window_attention as sdpa_attention

__all__ = ['FastLinear', 'fast_linear', 'forward_span', 'swin_block', 'window_attention', 'mlp']


# --- what every predicate asks -----------------------------------------------------------------
def _eager() -> bool:
    """Not being recorded by torch.compile/export or the ONNX tracer (they get the reference)."""
    return not reference_window_ops.sizes_are_symbolic()


def _plain_cpu(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """CPU tokens in the weights' dtype, outside autocast and tracing."""
    return (x.device.type == 'cpu' and x.dtype == weight.dtype
            and not torch.is_autocast_enabled('cpu') and _eager())


def _onednn_fp32_cpu(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """fp32 CPU tokens outside autocast and tracing, in a build with oneDNN's linear."""
    return ONEDNN_AVAILABLE and x.dtype == torch.float32 and _plain_cpu(x, weight)


def _exact_gelu_mlp(mlp_module) -> bool:
    """fc1, exact (erf) GELU, fc2, with no dropout active."""
    act = mlp_module.act
    return (isinstance(act, nn.GELU) and act.approximate == 'none'
            and not (mlp_module.training and mlp_module.drop.p > 0))


# --- one predicate per path --------------------------------------------------------------------
def block_inference_applies(block, x: torch.Tensor) -> bool:
    return (not block.res_post_norm and not block.training and not torch.is_grad_enabled()
            and _onednn_fp32_cpu(x, block.mlp.fc1.weight) and _exact_gelu_mlp(block.mlp))


def window_gather_applies(x: torch.Tensor) -> bool:
    return _eager()


def projected_attention_applies(module, x: torch.Tensor, dropout: float) -> bool:
    return (module.plain_qkv_projection and torch.is_grad_enabled() and dropout == 0.0
            and _plain_cpu(x, module.qkv.weight))


def efficient_attention_applies(x: torch.Tensor, dropout: float) -> bool:
    return torch.is_grad_enabled() and dropout == 0.0 and x.device.type == 'cuda' and _eager()


def recomputing_attention_applies(x: torch.Tensor, dropout: float) -> bool:
    return torch.is_grad_enabled() and dropout == 0.0 and x.device.type == 'cpu' and _eager()


def sdpa_attention_applies(x: torch.Tensor) -> bool:
    return _eager()


def mlp_inference_applies(mlp_module, x: torch.Tensor) -> bool:
    return (not torch.is_grad_enabled() and _onednn_fp32_cpu(x, mlp_module.fc1.weight)
            and _exact_gelu_mlp(mlp_module))


def chunked_mlp_applies(mlp_module, x: torch.Tensor) -> bool:
    return (torch.is_grad_enabled() and _plain_cpu(x, mlp_module.fc1.weight)
            and _exact_gelu_mlp(mlp_module))


def gelu_linear_applies(mlp_module, x: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and _eager() and _exact_gelu_mlp(mlp_module)


def onednn_linear_applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return uses_onednn(x, weight)


# --- the entries the reference model calls -----------------------------------------------------
def forward_span(fast: bool) -> contextlib.AbstractContextManager:
    """Around one forward of a backbone: weights do not change inside it, so inference reads
    their packed oneDNN layouts (:func:`swin_mm.fast.gemm.reuse_packed_weights`)."""
    return reuse_packed_weights() if fast and _eager() else contextlib.nullcontext()


def swin_block(block, x: torch.Tensor) -> torch.Tensor:
    """A :class:`~swin_mm.models.swin.SwinBlock` forward: (B, H, W, C) -> (B, H, W, C)."""
    if block_inference_applies(block, x):
        return block_inference(block, x)
    if window_gather_applies(x):
        return block.forward_reference(x, window_ops=window_gather)
    return block.forward_reference(x, window_ops=reference_window_ops)


def window_attention(module, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """A :class:`~swin_mm.models.attention.WindowAttentionBase` forward (V1 or V2): (B * nW, N, C)
    tokens and an (nW, N, N) mask or None -> (B * nW, N, C)."""
    dropout = module.attn_drop.p if module.training else 0.0
    args = (module.num_heads, module.scale)
    if projected_attention_applies(module, x, dropout):
        qkv_layer = module.qkv
        heads = projected_window_attention(x, qkv_layer.weight, qkv_layer.bias,
                                           module.relative_position_bias(), mask, *args)
    elif efficient_attention_applies(x, dropout):
        heads = _attend(efficient_window_attention, module, x, mask, *args)
    elif recomputing_attention_applies(x, dropout):
        heads = _attend(recomputing_attention, module, x, mask, *args)
    elif sdpa_attention_applies(x):
        heads = _attend(sdpa_attention, module, x, mask, *args, dropout)
    else:
        return module.forward_reference(x, mask)
    return module.proj_drop(module.proj(heads))


def _attend(kernel, module, x, mask, *args) -> torch.Tensor:
    """``kernel`` (a drop-in for the reference ``window_attention``) on the module's q, k, v."""
    qkv = module.attention_qkv(x)  # B*nW, N, 3C
    return kernel(qkv, module.relative_position_bias().to(qkv.dtype), mask, *args)


def mlp(module, x: torch.Tensor) -> torch.Tensor:
    """An :class:`~swin_mm.models.layers.Mlp` forward: (..., C) -> (..., C)."""
    fc1, fc2 = module.fc1, module.fc2
    if mlp_inference_applies(module, x):
        return mlp_inference(x, fc1, fc2)
    if chunked_mlp_applies(module, x):
        return chunked_mlp(x, fc1.weight, fc1.bias, fc2.weight, fc2.bias)
    if gelu_linear_applies(module, x):
        return gelu_linear(fc1(x), fc2.weight, fc2.bias)
    return module.forward_reference(x)


class FastLinear(nn.Linear):
    """``nn.Linear`` (same parameters, same state-dict keys) whose products go through oneDNN
    where :func:`onednn_linear_applies`: with autograd through
    :class:`~swin_mm.fast.gemm.LinearFunction`, without from the weight's packed layout inside
    :func:`forward_span`. Elsewhere exactly ``nn.Linear``. (..., in) -> (..., out)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fast_linear(x, self.weight, self.bias)


def fast_linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]
                ) -> torch.Tensor:
    """``F.linear`` through oneDNN where :func:`onednn_linear_applies` (see :class:`FastLinear`);
    for a bias that is not a module's own (SwinV2's q/v bias). (..., in) -> (..., out)."""
    if not onednn_linear_applies(x, weight):
        return F.linear(x, weight, bias)
    if torch.is_grad_enabled():
        return LinearFunction.apply(x, weight, bias)
    return linear(x, weight, bias, pack=True)

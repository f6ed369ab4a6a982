"""GELU(x W^T + b) in one pass on CPU: oneDNN's fused linear + GELU.

At Swin's first two stages the hidden activation of the MLP (4C channels per token) is far larger
than the caches, so writing it, reading it for GELU and writing it again costs more than the GELU
itself; oneDNN applies GELU as the matmul writes its output. Measured at Swin-T 800x1216: the
stage-1 MLP 84 -> 53 ms, stage 2 50 -> 40 ms; no gain at stages 3-4 (small maps). Used for
inference only (the op has no autograd formula); elsewhere the plain ops.

:func:`mlp_inference` runs a whole MLP (fc1 + GELU, fc2) that way over chunks of tokens: glibc maps
every block over 32 MB afresh and unmaps it when freed, so a stage-1 hidden activation (93 MB at
Swin-T 800x1216) is page-faulted in again at every call, and fc2 reads a chunk back from the
caches faster. Alone, the stage-1 MLP 63 -> 42 ms and stage 2 48 -> 35 ms (bit-identical); in the
whole Swin-T 800x1216 forward less is left: 1.00-1.09x, median 1.02x, over 8 alternating runs.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import register_flop_formula

__all__ = ['linear_gelu', 'mlp_inference']

#: Inference MLPs run over chunks of tokens whose hidden activation stays under this many bytes.
CHUNK_BYTES = 8 * 2 ** 20

_ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, '_linear_pointwise')

if _ONEDNN and torch.ops.mkldnn._linear_pointwise not in \
        torch.utils.flop_counter.flop_registry:
    @register_flop_formula(torch.ops.mkldnn._linear_pointwise)
    def _linear_pointwise_flops(x_shape, w_shape, *args, **kwargs) -> int:
        """So that FlopCounterMode (tools/get_flops.py, the benchmark) counts the fused op."""
        rows = 1
        for size in x_shape[:-1]:
            rows *= size
        return 2 * rows * w_shape[0] * w_shape[1]


def _fusable(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (_ONEDNN and x.device.type == 'cpu' and x.dtype == weight.dtype == torch.float32
            and not torch.is_grad_enabled() and not torch.is_autocast_enabled('cpu')
            and not torch.compiler.is_compiling())


def linear_gelu(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]
                ) -> torch.Tensor:
    """``F.gelu(F.linear(x, weight, bias))`` (exact, erf GELU).

    Args:
        x: (..., K).
        weight: (M, K); bias: (M,) or None.
    Returns:
        (..., M).
    """
    if not _fusable(x, weight):
        return F.gelu(F.linear(x, weight, bias))
    out = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, x.shape[-1]), weight, bias, 'gelu',
                                              [], 'none')
    return out.view(*x.shape[:-1], weight.shape[0])


def mlp_inference(x: torch.Tensor, fc1: torch.nn.Linear, fc2: torch.nn.Linear) -> torch.Tensor:
    """``fc2(GELU(fc1(x)))`` (exact GELU) without autograd: fused fc1 + GELU over chunks of
    tokens of at most :data:`CHUNK_BYTES` of hidden activation, each chunk's fc2 written into
    one output, on CPU in fp32; the plain ops elsewhere.

    Args:
        x: (..., C).
    Returns:
        (..., fc2.out_features).
    """
    rows = max(1, CHUNK_BYTES // (fc1.out_features * x.element_size()))
    flat = x.reshape(-1, x.shape[-1])
    if flat.shape[0] <= rows or not _fusable(x, fc1.weight):
        return fc2(linear_gelu(x, fc1.weight, fc1.bias))
    out = flat.new_empty(flat.shape[0], fc2.out_features)
    for start in range(0, flat.shape[0], rows):
        hidden = linear_gelu(flat[start:start + rows], fc1.weight, fc1.bias)
        chunk = out[start:start + rows]
        if fc2.bias is None:
            torch.mm(hidden, fc2.weight.t(), out=chunk)
        else:
            torch.addmm(fc2.bias, hidden, fc2.weight.t(), out=chunk)
    return out.view(*x.shape[:-1], fc2.out_features)

"""GELU(x W^T + b) in one pass on CPU: oneDNN's fused linear + GELU.

At Swin's first two stages the hidden activation of the MLP (4C channels per token) is far larger
than the caches, so writing it, reading it for GELU and writing it again costs more than the GELU
itself; oneDNN applies GELU as the matmul writes its output. Measured at Swin-T 800x1216: the
stage-1 MLP 84 -> 53 ms, stage 2 50 -> 40 ms; no gain at stages 3-4 (small maps). Used for
inference only (the op has no autograd formula); elsewhere the plain ops.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import register_flop_formula

__all__ = ['linear_gelu']

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

"""GELU(x W^T + b) in one pass on CPU: oneDNN's fused linear + GELU.

At Swin's first two stages the hidden activation of the MLP (4C channels per token) is far larger
than the caches, so writing it, reading it for GELU and writing it again costs more than the GELU
itself; oneDNN applies GELU as the matmul writes its output. Measured at Swin-T 800x1216: the
stage-1 MLP 84 -> 53 ms, stage 2 50 -> 40 ms; no gain at stages 3-4 (small maps). Used for
inference only (the op has no autograd formula); elsewhere the plain ops.

:func:`mlp_inference` runs a whole MLP that way. Large temporaries cost page faults on CPU (glibc
maps every block over 32 MB afresh: a stage-1 hidden activation is 93 MB at Swin-T 800x1216), so
work is done over chunks under :data:`CHUNK_BYTES` (:func:`row_chunks`): a Swin block's inference
over ranges of windows (:mod:`swin_mm.models.block_inference`), the training MLP over rows
(:func:`swin_mm.ops.recompute.chunked_mlp`).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .gemm import ONEDNN_AVAILABLE, packed_weight

__all__ = ['fusable', 'linear_gelu', 'mlp_inference', 'row_chunks', 'chunkable']

#: CPU work runs over chunks whose largest temporary stays under this many bytes: MLP hidden
#: activations here, attention logits in the recomputing backward (swin_mm.ops.recompute).
CHUNK_BYTES = 8 * 2 ** 20


def fusable(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether :func:`linear_gelu` fuses for ``x`` and ``weight``: fp32 CPU tensors without
    autograd, outside autocast and compilation, in a build with oneDNN."""
    return (ONEDNN_AVAILABLE and x.device.type == 'cpu'
            and x.dtype == weight.dtype == torch.float32 and not torch.is_grad_enabled()
            and not torch.is_autocast_enabled('cpu') and not torch.compiler.is_compiling())


def linear_gelu(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]
                ) -> torch.Tensor:
    """``F.gelu(F.linear(x, weight, bias))`` (exact, erf GELU); ``weight`` read in its packed
    layout inside :func:`swin_mm.ops.gemm.reuse_packed_weights`.

    Args:
        x: (..., K).
        weight: (M, K); bias: (M,) or None.
    Returns:
        (..., M).
    """
    if not fusable(x, weight):
        return F.gelu(F.linear(x, weight, bias))
    out = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, x.shape[-1]), packed_weight(weight),
                                              bias, 'gelu', [], 'none')
    return out.view(*x.shape[:-1], weight.shape[0])


def row_chunks(num_rows: int, width: int, element_size: int) -> list[slice]:
    """Consecutive slices of ``num_rows`` rows such that ``width`` values per row of
    ``element_size`` bytes stay under :data:`CHUNK_BYTES` per slice (at least one row each)."""
    step = max(1, CHUNK_BYTES // (width * element_size))
    return [slice(start, min(start + step, num_rows)) for start in range(0, num_rows, step)]


def chunkable(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether working over chunks of rows pays (and applies) for ``x``: a CPU tensor (whose
    large fresh tensors cost page faults; CUDA's caching allocator has none) in the weight's
    dtype, outside autocast and compilation."""
    return (x.device.type == 'cpu' and x.dtype == weight.dtype
            and not torch.is_autocast_enabled('cpu') and not torch.compiler.is_compiling())


def mlp_inference(x: torch.Tensor, fc1: torch.nn.Linear, fc2: torch.nn.Linear) -> torch.Tensor:
    """``fc2(GELU(fc1(x)))`` (exact GELU) without autograd, fc1 + GELU fused where
    :func:`fusable`. A Swin block runs it on ranges of windows whose hidden rows stay in the
    caches (:mod:`swin_mm.models.block_inference`).

    Args:
        x: (..., C).
    Returns:
        (..., fc2.out_features).
    """
    return fc2(linear_gelu(x, fc1.weight, fc1.bias))

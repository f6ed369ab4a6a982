"""Matrix products of the linear layers on CPU: MKL, or oneDNN where MKL runs slow code.

PyTorch's CPU build sends fp32 ``mm``/``addmm``/``F.linear`` to MKL, which takes its AVX2 code
on CPUs that are not Intel's, while oneDNN (in the same build) compiles its kernels for the ISA it
finds (docs/performance.md has the rates). So on non-Intel x86 CPUs with AVX-512 the linear
layers' products go through oneDNN (``torch.ops.mkldnn._linear_pointwise``): forward, input
gradients, and weight gradients but for square weights (:func:`add_weight_grad`).

``SWIN_MM_CPU_GEMM=onednn`` or ``=mkl`` forces a choice; :data:`ONEDNN` holds it (tests set it
to run both whatever the CPU). Only fp32 CPU tensors outside autocast and ``torch.compile`` are
concerned; everything else runs ``F.linear``. The two libraries round differently (relative
differences ~1e-7 in fp32).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Iterator, Optional

import torch
import torch.nn.functional as F
from torch.utils import flop_counter
from torch.utils.weak import WeakIdKeyDictionary

from ..ops.window import sizes_are_symbolic

__all__ = ['ONEDNN_AVAILABLE', 'ONEDNN', 'choose_onednn', 'uses_onednn', 'onednn_layout',
           'reuse_packed_weights', 'packed_weight', 'linear', 'linear_into', 'add_weight_grad',
           'LinearGrads', 'LinearFunction', 'join_rows']


#: Whether this torch build has oneDNN's linear (``torch.ops.mkldnn._linear_pointwise``).
ONEDNN_AVAILABLE = (torch.backends.mkldnn.is_available()
                    and hasattr(torch.ops.mkldnn, '_linear_pointwise'))


def choose_onednn(setting: Optional[str] = None, vendor: Optional[str] = None,
                  flags: Optional[str] = None) -> bool:
    """Whether the CPU products go through oneDNN.

    Args:
        setting: ``'onednn'``, ``'mkl'``, or None/``''`` for automatic (the default: the
            ``SWIN_MM_CPU_GEMM`` environment variable).
        vendor: the CPU's ``vendor_id``; flags: its ``flags`` line (default: both read from
            ``/proc/cpuinfo``).
    Returns:
        True for oneDNN: when asked, or automatically when this build has both libraries and the
        CPU is an x86 with AVX-512 that is not Intel's (there MKL runs its AVX2 code and oneDNN
        its AVX-512 kernels; on AVX2-only CPUs MKL is as fast or faster).
    """
    setting = (os.environ.get('SWIN_MM_CPU_GEMM', '') if setting is None else setting).lower()
    if setting not in ('', 'onednn', 'mkl'):
        raise ValueError(f"SWIN_MM_CPU_GEMM={setting!r}: expected 'onednn', 'mkl' or unset")
    if setting:
        return setting == 'onednn' and ONEDNN_AVAILABLE
    info = _cpu_info()
    vendor = info.get('vendor_id', '') if vendor is None else vendor
    flags = info.get('flags', '') if flags is None else flags
    return (ONEDNN_AVAILABLE and torch.backends.mkl.is_available()
            and vendor not in ('', 'GenuineIntel') and 'avx512f' in flags.split())


def _cpu_info() -> dict:
    """The first processor's fields of ``/proc/cpuinfo`` (empty where there is none)."""
    info = {}
    try:
        with open('/proc/cpuinfo') as lines:
            for line in lines:
                if not line.strip():
                    break
                key, _, value = line.partition(':')
                info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


#: Whether fp32 CPU products go through oneDNN (:func:`choose_onednn` at import).
ONEDNN = choose_onednn()


if ONEDNN_AVAILABLE and torch.ops.mkldnn._linear_pointwise not in flop_counter.flop_registry:
    @flop_counter.register_flop_formula(torch.ops.mkldnn._linear_pointwise)
    def _linear_pointwise_flops(x_shape, w_shape, *args, **kwargs) -> int:
        """So that FlopCounterMode (tools/get_flops.py, the benchmark) counts oneDNN's linear
        as it counts ``addmm``: 2 * rows * M * K (a fused GELU not counted)."""
        rows = 1
        for size in x_shape[:-1]:
            rows *= size
        return 2 * rows * w_shape[0] * w_shape[1]


def uses_onednn(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether a product of ``x`` with ``weight`` goes through oneDNN."""
    return (ONEDNN and x.device.type == 'cpu' and x.dtype == weight.dtype == torch.float32
            and not torch.is_autocast_enabled('cpu') and not sizes_are_symbolic())


def _onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]
                   ) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, 'none', [], '')  # any strides


def onednn_layout(weight: torch.Tensor) -> torch.Tensor:
    """A new copy of a linear layer's (M, K) fp32 weight in oneDNN's own (blocked) layout, which
    its linear reads without reordering. Needs :data:`ONEDNN_AVAILABLE`."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach())


_PACKED = WeakIdKeyDictionary()  # weight -> (its bits when packed, its oneDNN layout)
_SCOPE = threading.local()  # .checked: {id: weight} checked in the open reuse_packed_weights


@contextmanager
def reuse_packed_weights() -> Iterator[None]:
    """A span in which weights do not change (one inference forward pass): inside it,
    :func:`packed_weight` gives each weight's oneDNN layout, made once and kept while the weight
    lives, after checking once per span that the weight still holds, bit for bit, the values it
    was packed from. Nested spans are one span.

    Given the plain weight, oneDNN reorders it at every call, and chunked inference calls each
    layer many times. The check costs a read of the weights and of their copy, and memory for
    the copy; version counters would be free but miss changes: fused optimizers
    (``AdamW(fused=True)``) and ``param.data.copy_`` (MMEngine's EMAHook swaps weights that way)
    leave them unchanged."""
    if getattr(_SCOPE, 'checked', None) is not None:
        yield
        return
    _SCOPE.checked = {}
    try:
        yield
    finally:
        _SCOPE.checked = None


def packed_weight(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` (M, K) in oneDNN's layout inside :func:`reuse_packed_weights`, ``weight``
    itself outside it. For products that need no gradient; needs :data:`ONEDNN_AVAILABLE`."""
    checked = getattr(_SCOPE, 'checked', None)
    if checked is None:
        return weight
    entry = _PACKED.get(weight)
    if id(weight) not in checked:
        bits = weight.detach().view(torch.int32)
        if entry is None or not torch.equal(entry[0], bits):
            entry = bits.clone(), onednn_layout(weight)
            _PACKED[weight] = entry
        checked[id(weight)] = weight  # held, so its id means it until the span ends
    return entry[1]


def linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
           pack: bool = False) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` without autograd: x (..., K), weight (M, K), bias (M,) or
    None; returns (..., M). ``pack``: ``weight`` is a parameter, read by oneDNN in its packed
    layout inside :func:`reuse_packed_weights` (:func:`packed_weight`)."""
    if not uses_onednn(x, weight):
        return F.linear(x, weight, bias)
    out = _onednn_linear(x.reshape(-1, x.shape[-1]), packed_weight(weight) if pack else weight,
                         bias)
    return out.view(*x.shape[:-1], weight.shape[0])


def linear_into(out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor]) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` written into ``out``: x (rows, K), weight (M, K), bias (M,)
    or None, out (rows, M)."""
    if uses_onednn(x, weight):
        return out.copy_(_onednn_linear(x, weight, bias))
    if bias is None:
        return torch.mm(x, weight.t(), out=out)
    return torch.addmm(bias, x, weight.t(), out=out)


def add_weight_grad(grad_weight: torch.Tensor, grad: torch.Tensor, x: torch.Tensor
                    ) -> torch.Tensor:
    """``grad_weight += grad^T @ x`` (a linear layer's weight gradient, accumulated over chunks
    of rows): grad_weight (M, K), grad (rows, M), x (rows, K).

    oneDNN is fastest with the wider of M, K as its output's columns; for square weights (C x C:
    the attention's output projection) MKL is faster, so it stays."""
    M, K = grad_weight.shape
    if not uses_onednn(x, grad_weight) or M == K:
        return grad_weight.addmm_(grad.t(), x)
    if M > K:
        return grad_weight.add_(_onednn_linear(x.t(), grad.t(), None).t())
    return grad_weight.add_(_onednn_linear(grad.t(), x.t(), None))


class LinearGrads:
    """Gradients of ``F.linear(x, weight, bias)`` taken chunk by chunk of rows of ``x`` (its first
    dimension, in order), weights' gradients accumulated: x (rows, ..., K), weight (M, K).
    ``need_*`` say which gradients are wanted; the others are None. The input's gradient is
    kept as the chunks' products and joined at the end (oneDNN cannot write into a given
    tensor, and copying each chunk costs more than one join)."""

    def __init__(self, x: torch.Tensor, weight: torch.Tensor, need_x: bool, need_weight: bool,
                 need_bias: bool) -> None:
        self.x = x
        self.weight_t = weight.t().contiguous() if need_x else None  # grad @ W = linear(grad, W^T)
        self.grad_x_chunks = [] if need_x else None
        self.grad_weight = torch.zeros_like(weight) if need_weight else None
        self.grad_bias = weight.new_zeros(weight.shape[0]) if need_bias else None

    def add(self, rows: slice, grad: torch.Tensor) -> None:
        """Take the gradient (rows, ..., M) of the output's ``rows``."""
        grad = grad.reshape(-1, grad.shape[-1])
        if self.grad_weight is not None:
            add_weight_grad(self.grad_weight, grad, self.x[rows].reshape(-1, self.x.shape[-1]))
        if self.grad_bias is not None:
            self.grad_bias += grad.sum(0)
        if self.grad_x_chunks is not None:
            self.grad_x_chunks.append(linear(grad, self.weight_t, None))

    def result(self) -> tuple:
        """(grad_x, grad_weight, grad_bias), grad_x shaped as x."""
        if self.grad_x_chunks is None:
            return None, self.grad_weight, self.grad_bias
        return join_rows(self.grad_x_chunks).view(self.x.shape), self.grad_weight, self.grad_bias


def join_rows(chunks: list) -> torch.Tensor:
    """Tensors joined along dim 0 (the one itself, not a copy, when there is one)."""
    return chunks[0] if len(chunks) == 1 else torch.cat(chunks)


class LinearFunction(torch.autograd.Function):
    """``F.linear`` through :func:`linear` in forward and :class:`LinearGrads` in backward."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        grads = LinearGrads(x, weight, *ctx.needs_input_grad)
        grads.add(slice(None), grad_out)  # all rows as one chunk
        return grads.result()

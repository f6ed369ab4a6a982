"""Measurement helpers for the benchmarks: activation memory, timing, FLOPs, matmul rate, the
machine's description."""
from __future__ import annotations

import os
import platform
import statistics
import time
from collections import Counter
from contextlib import ExitStack
from typing import Callable, Dict, Iterable, List, Sequence, Tuple
from unittest import mock

import torch
import torch.nn.functional as F

__all__ = ['cpu_description', 'saved_activation_bytes', 'median_time', 'counted_flops',
           'forward_flops', 'matmul_rates',
           'matmul_shapes', 'linear_floor_seconds', 'forward_seconds_without', 'ABLATABLE',
           'fit_exponent', 'cuda_kernel_times']


def saved_activation_bytes(step: Callable[[], torch.Tensor],
                           exclude: Iterable[torch.Tensor] = ()) -> int:
    """Bytes of the unique tensor storages autograd saves for backward while ``step()`` runs the
    forward pass, not counting the storages of ``exclude`` (the parameters). Exact and
    repeatable on any machine.

    Args:
        step: runs a forward pass (backward is not run).
        exclude: tensors whose storage is not activation memory (``model.parameters()``).
    """
    storages: Dict[int, int] = {}
    skip = {t.untyped_storage().data_ptr() for t in exclude}

    def pack(t: torch.Tensor):
        if t.untyped_storage().data_ptr() in skip:
            return t
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(storages.values())


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1, calls: int = 1) -> float:
    """Median over ``repeats`` samples of the wall time of ``fn()`` in seconds, each sample the
    mean of ``calls`` back-to-back calls (CUDA synchronised at the sample's ends only, so that
    a GPU's queue stays full)."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times: List[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def counted_flops(fn: Callable[[], object]) -> int:
    """FLOPs that ``fn()`` runs without autograd, counted by
    ``torch.utils.flop_counter.FlopCounterMode`` (matmuls, convolutions and attention;
    element-wise work and compiled extension ops are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        fn()
    return counter.get_total_flops()


def forward_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    """:func:`counted_flops` of one forward pass of ``model`` on ``x``."""
    return counted_flops(lambda: model(x))


def matmul_rates(n: int = 2048, repeats: int = 5, device: str = 'cpu',
                 dtype: torch.dtype = torch.float32) -> Dict[str, float]:
    """Measured FLOP/s of an (n x n) @ (n x n) matmul on this machine, by library: ``'mm'``
    (``torch.mm``: MKL on CPU, cuBLAS on CUDA) and, for fp32 on a CPU build with oneDNN,
    ``'onednn'`` (its linear; on non-Intel CPUs MKL runs its AVX2 code: see
    :mod:`swin_mm.fast.gemm`) and ``'onednn_packed'`` (the same with the second operand in
    oneDNN's layout, as inference gives its weights). The machine's rate is the largest."""
    from .fast import gemm
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    products = {'mm': lambda: a @ b}
    if device == 'cpu' and dtype == torch.float32 and gemm.choose_onednn('onednn'):
        b_t = b.t().contiguous()
        products['onednn'] = lambda: torch.ops.mkldnn._linear_pointwise(a, b_t, None, 'none',
                                                                        [], '')
        b_packed = gemm.onednn_layout(b_t)
        products['onednn_packed'] = lambda: torch.ops.mkldnn._linear_pointwise(
            a, b_packed, None, 'none', [], '')
    return {name: 2 * n ** 3 / median_time(fn, repeats, warmup=2)
            for name, fn in products.items()}


def matmul_shapes(model: torch.nn.Module, x: torch.Tensor) -> Dict[Tuple[int, int, int], int]:
    """The (M, K, N) matrix products of one inference forward pass of ``model`` on ``x``
    (``mm``, ``addmm``, oneDNN's fused linear: M rows, K inputs, N outputs; batched products and
    attention kernels are not included), with how often each occurs."""
    from torch.utils._python_dispatch import TorchDispatchMode
    aten = torch.ops.aten
    fused = getattr(torch.ops.mkldnn, '_linear_pointwise', None)
    shapes: Counter = Counter()

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            packet = func.overloadpacket
            if packet in (aten.mm, aten.addmm):
                a, b = args[:2] if packet == aten.mm else args[1:3]  # addmm(bias, a, b)
                shapes[(a.shape[0], a.shape[1], b.shape[1])] += 1
            elif fused is not None and packet == fused:
                a, w = args[0], args[1]
                shapes[(a.numel() // a.shape[-1], a.shape[-1], w.shape[0])] += 1
            return func(*args, **(kwargs or {}))

    with torch.no_grad(), Record():
        model(x)
    return dict(shapes)


def linear_floor_seconds(model: torch.nn.Module, x: torch.Tensor, repeats: int = 3
                         ) -> Tuple[float, int]:
    """Seconds and FLOPs of a forward pass's linear layers alone: each (M, K) @ (K, N) product
    of :func:`matmul_shapes` timed bare (no bias), times its count, through the library the model
    uses: MKL's into an output allocated once (no page faults), oneDNN's from the packed weight
    into the fresh output it allocates (:mod:`swin_mm.fast.gemm`). What a forward pass would take
    if only its matmuls ran, at the speed this machine reaches for their shapes."""
    from .fast.gemm import linear, linear_into, reuse_packed_weights, uses_onednn
    device = next(model.parameters()).device
    seconds, flops = 0.0, 0
    for (m, k, n), count in matmul_shapes(model, x).items():
        a = torch.randn(m, k, device=device)
        w = torch.randn(n, k, device=device)
        out = torch.empty(m, n, device=device)
        product = ((lambda: linear(a, w, None, pack=True)) if uses_onednn(a, w)
                   else (lambda: linear_into(out, a, w, None)))
        with reuse_packed_weights():
            seconds += count * median_time(product, repeats, warmup=1)
        flops += count * 2 * m * k * n
    return seconds, flops


class _FreeAttention:
    """Stands in for ``F.scaled_dot_product_attention``: q, k, v (..., h, N, d) -> zeros
    (..., h, N, d), one tensor per shape made once, in the (..., N, h, d) storage the CPU flash
    kernel writes (so that merging the heads stays a view, as with the kernel)."""

    def __init__(self) -> None:
        self.outputs: Dict[tuple, torch.Tensor] = {}

    def __call__(self, q, k, v, *args, **kwargs) -> torch.Tensor:
        key = (tuple(v.shape), v.dtype, v.device)
        if key not in self.outputs:
            self.outputs[key] = v.new_zeros(*v.shape[:-3], v.shape[-2], v.shape[-3],
                                            v.shape[-1]).transpose(-3, -2)
        return self.outputs[key]


#: What :func:`forward_seconds_without` can take out of a forward pass: name -> (the
#: ``torch.nn.functional`` function, a factory of its free stand-in).
ABLATABLE = {
    'attention': ('scaled_dot_product_attention', _FreeAttention),
    'layernorm': ('layer_norm', lambda: (lambda x, *args, **kwargs: x)),
}


def forward_seconds_without(model: torch.nn.Module, x: torch.Tensor, ops: Sequence[str],
                            repeats: int = 3) -> float:
    """Median seconds of an inference forward pass (no grad) with ``ops`` (keys of
    :data:`ABLATABLE`) costing nothing: window attention replaced by a fixed zero output of its
    shape and layout, LayerNorm by its input. The same shapes flow on; the outputs are
    meaningless. What the forward would take if those ops were infinitely fast: a bound on what
    any kernel for them can give. Covers the ops that run through ``torch.nn.functional``, as
    swin_mm's (and ``nn.LayerNorm``) look them up at each call."""
    unknown = set(ops) - set(ABLATABLE)
    if unknown:
        raise ValueError(f'cannot take out {sorted(unknown)}; expected some of {sorted(ABLATABLE)}')
    with ExitStack() as stack, torch.no_grad():
        for op in ops:
            name, stand_in = ABLATABLE[op]
            stack.enter_context(mock.patch.object(F, name, stand_in()))
        return median_time(lambda: model(x), repeats, warmup=1)


def fit_exponent(pixels: Sequence[float], seconds: Sequence[float]) -> float:
    """Least-squares slope of log(time) against log(pixels): 1.0 means linear cost."""
    import math
    xs = [math.log(p) for p in pixels]
    ys = [math.log(s) for s in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def cuda_kernel_times(fn: Callable[[], object]) -> Dict[str, float]:
    """GPU seconds spent in each CUDA kernel while ``fn()`` runs once, by kernel name (from
    ``torch.profiler``): shows which attention kernel SDPA dispatched to, and how much of the
    wall time the GPU was busy."""
    from torch.profiler import ProfilerActivity, profile
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    totals: Dict[str, float] = {}
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            totals[event.name] = totals.get(event.name, 0.0) + event.time_range.elapsed_us() / 1e6
    return totals


def cpu_description() -> str:
    """'model name (ISA)' from /proc/cpuinfo, e.g. 'AMD EPYC (AVX-512)'; the machine type
    where that is not readable."""
    model, flags = '', ''
    try:
        with open('/proc/cpuinfo') as info:
            for line in info:
                key, _, value = line.partition(':')
                model = model or (value.strip() if key.strip() == 'model name' else '')
                flags = flags or (value if key.strip() == 'flags' else '')
    except OSError:
        pass
    isa = ', '.join(name for flag, name in (('avx512f', 'AVX-512'), ('amx_bf16', 'AMX-BF16'))
                    if flag in flags.split()) or ('AVX2' if 'avx2' in flags.split() else '')
    model = model or platform.processor() or platform.machine()
    return f'{model} ({isa})' if isa else model


def check_benchmark_args(parser, args) -> None:
    """The benchmark tools' common argument errors, reported through ``parser.error``:
    ``--repeats`` below 1, a config file that does not exist."""
    if args.repeats < 1:
        parser.error(f'--repeats must be >= 1, got {args.repeats}')
    for path in args.configs:
        if not os.path.isfile(path):
            parser.error(f'config not found: {path}')

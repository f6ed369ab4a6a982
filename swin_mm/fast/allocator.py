"""glibc's allocator kept from handing freed tensor memory back to the kernel (Linux, glibc).

By default glibc serves blocks over an adaptive threshold (128 KiB, rising to 32 MiB) with fresh
``mmap`` calls and gives the top of its heap back once more than twice that lies free. A forward
pass allocates and frees hundreds of such blocks (maps, qkv chunks, attention outputs), so the
memory goes back to the kernel and every pass touches fresh pages again, one page fault per 4 KiB
(docs/performance.md has the gain). The peak memory is unchanged; what a process frees stays in
it (up to :data:`KEEP_BYTES`) for its next step.

Called by ``tools/train.py``, ``tools/test.py`` (through
:func:`swin_mm.engine.prepare_runtime`) and ``tools/benchmark.py`` (both implementations alike);
a library import never changes a process's allocator. Setting ``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_`` or ``GLIBC_TUNABLES`` leaves glibc as configured there.
"""
from __future__ import annotations

import ctypes
import os
import sys

__all__ = ['keep_freed_memory', 'MMAP_THRESHOLD_BYTES', 'KEEP_BYTES']

#: Blocks up to this size come from the heap (glibc's largest adaptive threshold, 32 MiB).
MMAP_THRESHOLD_BYTES = 32 << 20
#: Free memory at the top of the heap kept by the process (the largest value mallopt takes).
KEEP_BYTES = 2**31 - 1

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_USER_SETTINGS = ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'GLIBC_TUNABLES')


def keep_freed_memory() -> bool:
    """Serve blocks up to :data:`MMAP_THRESHOLD_BYTES` from the heap and keep up to
    :data:`KEEP_BYTES` of freed heap memory in the process, for the rest of its life.

    Returns:
        True when glibc took both settings; False (nothing changed) off glibc, or when the
        environment already configures glibc's allocator.
    """
    if not sys.platform.startswith('linux') or any(name in os.environ for name in _USER_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL(None)  # the allocator this process runs with
        libc.gnu_get_libc_version  # glibc, whose mallopt parameters these are  # noqa: B018
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                and mallopt(_M_TRIM_THRESHOLD, KEEP_BYTES))

"""swin_mm.fast.allocator: freed tensor memory stays in the process (glibc)."""
import ctypes
import os
import subprocess
import sys
import textwrap

import pytest

from swin_mm.fast.allocator import keep_freed_memory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
glibc = pytest.mark.skipif(not hasattr(ctypes.CDLL(None), 'mallinfo2'), reason='needs glibc 2.33+')

# Allocates three 30 MiB tensors (each under the 32 MiB heap threshold, above glibc's default
# starting one), frees them, and prints what glibc then holds free inside the process.
_PROBE = textwrap.dedent('''
    import ctypes, sys
    import torch
    setting = sys.argv[1]
    if setting == 'allocator':
        from swin_mm.fast.allocator import keep_freed_memory
        print(keep_freed_memory())
    elif setting == 'tools':
        from swin_mm.engine import prepare_runtime
        prepare_runtime()

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks',
            'fordblks', 'keepcost')]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    blocks = [torch.ones(30 << 18) for _ in range(3)]
    del blocks
    print(libc.mallinfo2().fordblks >> 20)
''')


def _free_mib_after_freeing(setting: str, **env) -> list:
    out = subprocess.run([sys.executable, '-c', _PROBE, setting], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, **env}, check=True).stdout
    return out.split()


@glibc
def test_freed_blocks_stay_in_the_process():
    applied, free = _free_mib_after_freeing('allocator')
    assert applied == 'True' and int(free) >= 90
    assert int(_free_mib_after_freeing('tools')[-1]) >= 90  # tools/train.py and test.py
    assert int(_free_mib_after_freeing('none')[0]) < 30  # glibc's default: returned to the kernel


@glibc
def test_an_allocator_configured_in_the_environment_is_left_alone(monkeypatch):
    monkeypatch.setenv('MALLOC_TRIM_THRESHOLD_', '131072')
    assert keep_freed_memory() is False
    free = _free_mib_after_freeing('allocator', MALLOC_TRIM_THRESHOLD_='131072')
    assert free[0] == 'False' and int(free[1]) < 30

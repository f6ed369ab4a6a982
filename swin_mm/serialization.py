"""Reading and writing checkpoints safely.

- :func:`safe_load` reads with ``torch.load(weights_only=True)``; the few MMEngine and NumPy
  classes that MMEngine's own checkpoints hold (its log buffers) are allow-listed, nothing more.
  A file that needs anything else is refused with a message naming the classes and the way out.
- :func:`atomic_save` writes to a temporary file in the same folder, fsyncs it and renames it over
  the target, so a crash mid-write never replaces a good checkpoint with a truncated one.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, List

import torch

__all__ = ['CheckpointError', 'safe_load', 'atomic_save', 'allow_mmengine_globals']


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the model; the message says why."""


def _mmengine_safe_globals() -> List[Any]:
    """Classes MMEngine 0.10 pickles into its checkpoints (``message_hub``) that hold only data."""
    import numpy as np
    core = getattr(np, '_core', None) or np.core  # renamed in NumPy 2; pickles name either
    found: List[Any] = [np.ndarray, np.dtype]
    for name in ('_reconstruct', 'scalar'):
        fn = getattr(core.multiarray, name)
        found += [fn, (fn, f'numpy.core.multiarray.{name}'), (fn, f'numpy._core.multiarray.{name}')]
    found += [type(np.dtype(t)) for t in ('float64', 'float32', 'float16', 'int64', 'int32',
                                          'int8', 'uint8', 'bool')]
    try:
        from mmengine.logging.history_buffer import HistoryBuffer
        found.append(HistoryBuffer)
    except ImportError:
        pass
    return found


def allow_mmengine_globals() -> None:
    """Allow-list MMEngine's data-only classes for every ``torch.load(weights_only=True)`` in this
    process (MMEngine 0.10.7 itself calls ``torch.load`` without ``weights_only``)."""
    torch.serialization.add_safe_globals(_mmengine_safe_globals())


def safe_load(path: str | os.PathLike, map_location: Any = 'cpu', trust_pickle: bool = False
              ) -> Any:
    """Load a checkpoint file without executing arbitrary pickled code.

    Args:
        path: a local file.
        map_location: as for ``torch.load``.
        trust_pickle: load with full pickle (only for files you trust).
    Raises:
        CheckpointError: missing, truncated or corrupt file, or one that needs unsafe pickle.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint file not found: {path!r}')
    if os.path.getsize(path) == 0:
        raise CheckpointError(f'checkpoint file {path!r} is empty (0 bytes)')
    if trust_pickle:
        return torch.load(path, map_location=map_location, weights_only=False)
    allow_mmengine_globals()  # process-wide (torch's safe_globals context drops earlier entries)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        if isinstance(err, __import__('pickle').UnpicklingError) and 'weights_only' in str(err):
            try:
                unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
            except Exception:
                unsafe = []
            raise CheckpointError(
                f'checkpoint {path!r} holds pickled Python objects that are not plain tensors or '
                f'data ({", ".join(unsafe) or "unknown classes"}), so it was not loaded with '
                f'torch.load(weights_only=True). If you trust the file, load it with '
                f'trust_pickle=True (init_cfg=dict(type="Pretrained", checkpoint=..., '
                f'trust_pickle=True), or --trust-pickle on the command line).') from err
        raise CheckpointError(f'checkpoint {path!r} could not be read ({type(err).__name__}: '
                              f'{err}); the file may be truncated or not a PyTorch checkpoint'
                              ) from err


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` atomically: temporary file, fsync, rename, fsync the folder."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

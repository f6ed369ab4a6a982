"""Every change swin_mm's tools make to MMEngine itself, in one place, for the versions they were
written against (MMEngine 0.10.x; :data:`PATCHED_VERSIONS`). MMEngine offers no registry entry
for these four, so they replace module attributes:

- checkpoints are written atomically (temporary file, fsync, rename): a process killed while
  saving never leaves a truncated file as the newest checkpoint;
- MMEngine's log buffers (``HistoryBuffer``) pickle as plain data, so the checkpoints MMEngine
  writes load under ``torch.load(weights_only=True)``;
- without CUDA, ``--launcher pytorch`` runs CPU processes over gloo (MMEngine calls
  ``torch.cuda.set_device`` unconditionally and configs default to NCCL);
- the epoch-based training loop resumes inside an epoch where the checkpoint left it
  (:mod:`.resume`), instead of replaying the epoch from its start.
"""
from __future__ import annotations

import warnings

__all__ = ['PATCHED_VERSIONS', 'patch_mmengine']

#: MMEngine versions (prefixes) whose internals the patches below were written against.
PATCHED_VERSIONS = ('0.10.',)


def patch_mmengine() -> bool:
    """Apply the four patches once per process; returns whether they were applied (not on an
    MMEngine version outside :data:`PATCHED_VERSIONS`, which then runs as it is, with a
    warning)."""
    import mmengine
    if not mmengine.__version__.startswith(PATCHED_VERSIONS):
        warnings.warn(f'swin_mm: MMEngine {mmengine.__version__} is not one of '
                      f'{PATCHED_VERSIONS}; atomic checkpoint saving, weights_only-safe log '
                      f'buffers, CPU distributed runs and resuming inside an epoch are left to '
                      f'MMEngine as it is')
        return False
    _save_checkpoints_atomically()
    _pickle_history_buffers_as_data()
    _allow_cpu_distributed()
    _resume_inside_epochs()
    return True


def _save_checkpoints_atomically() -> None:
    import mmengine.runner.runner as mm_runner

    from ..serialization import atomic_save

    def save_checkpoint_atomically(checkpoint, filename, backend_args=None, **_):
        atomic_save(checkpoint, filename)

    mm_runner.save_checkpoint = save_checkpoint_atomically


def _pickle_history_buffers_as_data() -> None:
    """HistoryBuffer pickles its class-level statistics functions (via ``getattr``), which
    ``torch.load(weights_only=True)`` rightly refuses; its ``__setstate__`` restores the defaults
    when they are absent, so leave them out."""
    from mmengine.logging.history_buffer import HistoryBuffer

    def getstate(self) -> dict:
        state = dict(self.__dict__)
        state.pop('statistics_methods', None)
        return state

    HistoryBuffer.__getstate__ = getstate


def _allow_cpu_distributed() -> None:
    import torch
    if torch.cuda.is_available():
        return
    import torch.distributed as dist
    from mmengine.dist import utils as dist_utils

    def init_dist_pytorch_on_cpu(backend: str = 'gloo', init_backend: str = 'torch',
                                 **kwargs) -> None:
        if init_backend != 'torch':
            raise ValueError(f'init_backend {init_backend!r} needs CUDA; on CPU only '
                             f"'torch' (gloo) is supported")
        dist.init_process_group(backend='gloo' if backend == 'nccl' else backend, **kwargs)

    dist_utils._init_dist_pytorch = init_dist_pytorch_on_cpu


def _resume_inside_epochs() -> None:
    from mmengine.runner.loops import EpochBasedTrainLoop

    from .resume import run_epoch
    EpochBasedTrainLoop.run_epoch = run_epoch

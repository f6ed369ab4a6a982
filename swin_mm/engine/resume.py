"""Resume from an iteration checkpoint in the middle of an epoch, to the same losses as an
uninterrupted run.

MMEngine's epoch-based loop, resumed from ``iter_N.pth`` saved inside an epoch, replays that
epoch from its first batch (iterations counted twice, batches trained twice), and no checkpoint
holds the random states, so stochastic depth and augmentation draw differently after any resume.
Here:

- :class:`RandomStateHook` stores in every checkpoint's ``meta`` the random states (Python,
  NumPy, torch, CUDA) now and at the start of the current epoch, as plain data that loads under
  ``weights_only=True``;
- :func:`run_epoch` (installed on ``EpochBasedTrainLoop`` by :mod:`.mmengine_patches`) records
  the epoch-start states and, when resumed mid-epoch, restores them before the data loader
  starts, draws and drops the batches already trained (the sampler's order depends only on the
  seed and epoch), and restores the checkpoint's states before the next batch.
"""
from __future__ import annotations

import random
import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

__all__ = ['random_state', 'set_random_state', 'RandomStateHook', 'run_epoch']


def random_state() -> dict:
    """Python's, NumPy's, torch's (and CUDA's) global random states as tensors, ints and lists."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = dict(python=dict(version=version, internal=list(internal), gauss_next=gauss_next),
                 numpy=dict(keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos),
                            has_gauss=int(has_gauss), gauss=float(gauss)),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: dict) -> None:
    """Restore what :func:`random_state` returned."""
    py = state['python']
    random.setstate((py['version'], tuple(py['internal']), py['gauss_next']))
    np_state = state['numpy']
    np.random.set_state(('MT19937', np_state['keys'].numpy().astype(np.uint32), np_state['pos'],
                         np_state['has_gauss'], np_state['gauss']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module(force=True)
class RandomStateHook(Hook):
    """Save the random states with every checkpoint; hand them to the loop on resume. Added by
    :func:`swin_mm.engine.build_runner` to every run."""

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.setdefault('meta', {})
        meta['random_state'] = random_state()
        loop = getattr(runner, '_train_loop', None)  # (a dict until training builds it)
        epoch_start = getattr(loop, 'epoch_start_random_state', None)
        if epoch_start is not None:
            meta['epoch_start_random_state'] = epoch_start

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        runner.resumed_random_states = (checkpoint.get('meta', {}).get('epoch_start_random_state'),
                                        checkpoint.get('meta', {}).get('random_state'))


def run_epoch(loop) -> None:
    """``EpochBasedTrainLoop.run_epoch`` (MMEngine 0.10), resumable inside an epoch."""
    runner = loop.runner
    runner.call_hook('before_train_epoch')
    runner.model.train()
    done = loop._iter - loop._epoch * len(loop.dataloader)  # batches of this epoch trained
    epoch_start, at_checkpoint = getattr(runner, 'resumed_random_states', (None, None))
    runner.resumed_random_states = (None, None)  # once
    if done > 0 and epoch_start is not None:
        set_random_state(epoch_start)  # the loader's workers seed from it
    loop.epoch_start_random_state = random_state()
    for idx, data_batch in enumerate(loop.dataloader):
        if idx < done:
            if idx + 1 == done:
                runner.logger.info(f'resumed inside epoch {loop._epoch + 1}: its first {done} '
                                   f'batches, trained before the checkpoint, drawn and skipped')
                if at_checkpoint is not None:
                    set_random_state(at_checkpoint)
            continue
        loop.run_iter(idx, data_batch)
    runner.call_hook('after_train_epoch')
    loop._epoch += 1

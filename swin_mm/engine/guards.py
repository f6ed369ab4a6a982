"""Training guards against a non-finite loss.

- :class:`NonFiniteLossHook` (default ``action='stop'``) stops at the first NaN/inf loss, naming
  the iteration and the loss terms, before the checkpoint hook runs: nothing poisoned is saved and
  the last good checkpoint stays the newest.
- To skip such steps and go on instead, use ``optim_wrapper.type='SkipNonFiniteOptimWrapper'``
  (no backward, no optimizer step for a non-finite loss) with the hook's ``action='warn'``.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper
from mmengine.registry import HOOKS, OPTIM_WRAPPERS

__all__ = ['NonFiniteLossError', 'NonFiniteLossHook', 'SkipNonFiniteOptimWrapper']


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


@HOOKS.register_module(force=True)
class NonFiniteLossHook(Hook):
    """Stop (or warn) at a non-finite loss; runs before the checkpoint hook.

    Args:
        action: 'stop' raises :class:`NonFiniteLossError`; 'warn' logs and goes on (pair it
            with ``SkipNonFiniteOptimWrapper`` so that the bad step is not applied).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, action: str = 'stop') -> None:
        if action not in ('stop', 'warn'):
            raise ValueError(f"action must be 'stop' or 'warn', got {action!r}")
        self.action = action

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        values = {k: float(v.detach() if isinstance(v, torch.Tensor) else v)
                  for k, v in (outputs or {}).items() if k.startswith('loss')}
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if not bad:
            return
        terms = ', '.join(f'{k}={v}' for k, v in bad.items())
        where = f'iteration {runner.iter + 1} (epoch {runner.epoch + 1})'
        if self.action == 'warn':
            runner.logger.warning(f'{where}: non-finite loss ({terms}); step skipped')
            return
        raise NonFiniteLossError(
            f'{where}: non-finite loss ({terms}). Training stopped; no checkpoint was written for '
            f'this iteration and the last good one in {runner.work_dir} is intact (resume with '
            f'--resume, or skip such steps with optim_wrapper.type=SkipNonFiniteOptimWrapper).')


@OPTIM_WRAPPERS.register_module(force=True)
class SkipNonFiniteOptimWrapper(OptimWrapper):
    """An OptimWrapper that neither back-propagates nor steps for a non-finite loss.

    The gradients are left alone: with ``accumulative_counts`` > 1 those of the window's finite
    losses are kept, and the window closes one finite loss later.
    """

    skipped = 0

    def update_params(self, loss: torch.Tensor, step_kwargs=None, zero_kwargs=None) -> None:
        if not torch.isfinite(loss).all():
            self.skipped += 1
            return
        super().update_params(loss, step_kwargs, zero_kwargs)


@HOOKS.register_module(force=True)
class EpochSeedHook(Hook):
    """Reseed Python, NumPy and torch at the start of every epoch from (seed, epoch).

    MMEngine does not restore random states on resume; with this hook an epoch's augmentation and
    stochastic depth draws depend only on its number, so a run resumed from an epoch checkpoint
    continues exactly as an uninterrupted one would.
    """

    priority = 'VERY_HIGH'

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def before_train_epoch(self, runner) -> None:
        from mmengine.runner import set_random_seed
        set_random_seed(self.seed + runner.epoch)

"""MMEngine hooks of swin_mm (registered in MMEngine's root HOOKS, so any scope finds them)."""
from __future__ import annotations

import json
import os
from typing import Dict, List, Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

__all__ = ['TrainingCurvesHook']


@HOOKS.register_module(force=True)
class TrainingCurvesHook(Hook):
    """Plot the training loss and the validation metrics to ``work_dir/curves.png`` (and the
    numbers to ``curves.json``) after every validation and at the end of training.

    Args:
        metrics: validation metric names to plot; default: every metric ending in one of
            ``('bbox_mAP', 'segm_mAP', 'mIoU', 'mAcc', 'aAcc')``.
    """

    priority = 'LOW'

    def __init__(self, metrics: Optional[List[str]] = None) -> None:
        self.metrics = metrics
        self.losses: List[List[float]] = []  # [iteration, loss]
        self.evals: List[Dict[str, float]] = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if outputs and 'loss' in outputs:
            loss = outputs['loss']
            self.losses.append([runner.iter + 1, float(getattr(loss, 'detach', lambda: loss)())])

    def after_val_epoch(self, runner, metrics=None) -> None:
        if not metrics:
            return
        keep = {k: float(v) for k, v in metrics.items() if self._wanted(k)
                and isinstance(v, (int, float))}
        self.evals.append(dict(iteration=runner.iter, epoch=runner.epoch, **keep))
        self._write(runner.work_dir)

    def after_train(self, runner) -> None:
        self._write(runner.work_dir)

    def _wanted(self, name: str) -> bool:
        if self.metrics is not None:
            return name in self.metrics
        return name.endswith(('bbox_mAP', 'segm_mAP', 'mIoU', 'mAcc', 'aAcc'))

    def _write(self, work_dir: str) -> None:
        with open(os.path.join(work_dir, 'curves.json'), 'w') as f:
            json.dump(dict(loss=self.losses, eval=self.evals), f)
        plot_curves(self.losses, self.evals, os.path.join(work_dir, 'curves.png'))


def plot_curves(losses: List[List[float]], evals: List[Dict[str, float]], path: str) -> None:
    """Loss against iteration (left) and each validation metric against iteration (right)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax_loss, ax_eval) = plt.subplots(1, 2, figsize=(11, 4))
    if losses:
        its, values = zip(*losses)
        ax_loss.plot(its, values, lw=0.8, alpha=0.5, label='loss')
        window = max(1, len(values) // 20)
        smooth = [sum(values[max(0, i - window + 1):i + 1]) / len(values[max(0, i - window + 1):i + 1])
                  for i in range(len(values))]
        ax_loss.plot(its, smooth, lw=1.5, label=f'loss (mean of {window})')
    ax_loss.set(xlabel='iteration', ylabel='training loss', title='Training loss')
    ax_loss.legend()
    names = sorted({k for e in evals for k in e} - {'iteration', 'epoch'})
    for name in names:
        pts = [(e['iteration'], e[name]) for e in evals if name in e]
        ax_eval.plot(*zip(*pts), marker='o', label=name)
    ax_eval.set(xlabel='iteration', ylabel='metric', title='Validation')
    if names:
        ax_eval.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

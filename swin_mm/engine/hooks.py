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

    A resumed run continues the curves of the run it resumes (``curves.json`` is read back and
    cut at the resumed iteration); both files are replaced atomically, by the main process only.

    Args:
        metrics: validation metric names to plot; default: every metric ending in one of
            ``('bbox_mAP', 'segm_mAP', 'mIoU', 'mAcc', 'aAcc')``.
        interval: also write every this many iterations (so that a killed run keeps its curves).
    """

    priority = 'LOW'

    def __init__(self, metrics: Optional[List[str]] = None, interval: int = 50) -> None:
        self.metrics = metrics
        self.interval = interval
        self.losses: List[List[float]] = []  # [iteration, loss]
        self.evals: List[Dict[str, float]] = []

    def before_train(self, runner) -> None:
        path = os.path.join(runner.work_dir, 'curves.json')
        if not (runner.iter and os.path.isfile(path)):
            return
        try:
            with open(path) as f:
                saved = json.load(f)
        except ValueError:
            runner.logger.warning(f'{path} is not valid JSON; the curves start afresh')
            return
        self.losses = [p for p in saved.get('loss', []) if p[0] <= runner.iter]
        self.evals = [e for e in saved.get('eval', []) if e['iteration'] <= runner.iter]

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if outputs and 'loss' in outputs:
            loss = outputs['loss']
            self.losses.append([runner.iter + 1, float(getattr(loss, 'detach', lambda: loss)())])
        if (runner.iter + 1) % self.interval == 0:
            self._write(runner.work_dir)

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
        from mmengine.dist import is_main_process
        if not is_main_process():  # one writer in distributed runs
            return
        path = os.path.join(work_dir, 'curves')
        with open(path + '.json.tmp', 'w') as f:
            json.dump(dict(loss=self.losses, eval=self.evals), f)
        os.replace(path + '.json.tmp', path + '.json')
        plot_curves(self.losses, self.evals, path + '.tmp.png')
        os.replace(path + '.tmp.png', path + '.png')


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
        recent = [values[max(0, i - window + 1):i + 1] for i in range(len(values))]
        smooth = [sum(r) / len(r) for r in recent]
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

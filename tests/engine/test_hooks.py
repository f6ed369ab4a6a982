"""TrainingCurvesHook: curves written during training, continued (not wiped) by a resumed run."""
import json
import logging
from types import SimpleNamespace

from swin_mm.engine.hooks import TrainingCurvesHook


def _run(hook, runner, start, stop, val_at=()):
    hook.before_train(runner)
    for it in range(start, stop):
        runner.iter = it
        hook.after_train_iter(runner, it, outputs={'loss': float(it)})
        if it + 1 in val_at:
            runner.iter = it + 1
            hook.after_val_epoch(runner, {'coco/bbox_mAP': it / 10, 'acc': 3})
    runner.iter = stop
    hook.after_train(runner)


def _saved(work_dir):
    with open(work_dir / 'curves.json') as f:
        return json.load(f)


def test_resumed_run_continues_the_curves(tmp_path):
    runner = SimpleNamespace(work_dir=str(tmp_path), iter=0, epoch=0,
                             logger=logging.getLogger('test'))
    _run(TrainingCurvesHook(interval=2), runner, 0, 6, val_at=(3,))
    assert [p[0] for p in _saved(tmp_path)['loss']] == [1, 2, 3, 4, 5, 6]
    runner.iter = 4  # resumed from a checkpoint at iteration 4: later points are dropped, redone
    _run(TrainingCurvesHook(interval=2), runner, 4, 8)
    saved = _saved(tmp_path)
    assert [p[0] for p in saved['loss']] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert saved['eval'] == [dict(iteration=3, epoch=0, **{'coco/bbox_mAP': 0.2})]
    assert (tmp_path / 'curves.png').stat().st_size > 0


def test_written_every_interval_so_a_killed_run_keeps_them(tmp_path):
    runner = SimpleNamespace(work_dir=str(tmp_path), iter=0, epoch=0,
                             logger=logging.getLogger('test'))
    hook = TrainingCurvesHook(interval=3)
    hook.before_train(runner)
    for it in range(4):  # killed after iteration 4: no after_train
        runner.iter = it
        hook.after_train_iter(runner, it, outputs={'loss': 1.0})
    assert [p[0] for p in _saved(tmp_path)['loss']] == [1, 2, 3]
    assert not list(tmp_path.glob('*.tmp*'))


def test_a_finished_run_resumed_again_keeps_everything(tmp_path):
    runner = SimpleNamespace(work_dir=str(tmp_path), iter=0, epoch=0,
                             logger=logging.getLogger('test'))
    _run(TrainingCurvesHook(), runner, 0, 5, val_at=(5,))
    before = _saved(tmp_path)
    runner.iter = 5
    _run(TrainingCurvesHook(), runner, 5, 5)  # `make demo` a second time: nothing to train
    assert _saved(tmp_path) == before

"""swin_mm.engine.runtime pieces that need no dataset."""
import gc
import weakref

import torch
import torch.distributed as dist

from swin_mm.engine import close_distributed


def test_close_distributed_destroys_the_group_and_is_a_no_op_without_one(tmp_path):
    close_distributed()  # nothing joined: nothing to do
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store', rank=0, world_size=1)
    assert dist.is_initialized()
    close_distributed()
    assert not dist.is_initialized()
    close_distributed()


class _Runner:
    """A DistributedDataParallel in a reference cycle, as in MMEngine's Runner and its hooks."""

    def __init__(self):
        self.me = self
        self.model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 4))


def test_close_distributed_frees_an_unreferenced_runner_before_destroying(tmp_path):
    """Left to interpreter shutdown, the DistributedDataParallel's reducer (which holds the
    group) can abort the exit; the group must go while Python is whole."""
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store', rank=0, world_size=1)
    enabled = gc.isenabled()
    gc.disable()  # only close_distributed may collect the cycle
    try:
        model = weakref.ref(_Runner().model)
        assert model() is not None
        close_distributed()
        assert model() is None and not dist.is_initialized()
    finally:
        if enabled:
            gc.enable()


def test_mmengine_patches_apply_to_their_versions_only(monkeypatch):
    """On MMEngine 0.10 the four patches are in place; another version is left alone, with a
    warning saying what is not patched."""
    import mmengine
    import mmengine.runner.runner as mm_runner
    import pytest
    from mmengine.logging.history_buffer import HistoryBuffer

    from mmengine.runner.checkpoint import save_checkpoint
    from mmengine.runner.loops import EpochBasedTrainLoop

    from swin_mm.engine import mmengine_patches, resume
    monkeypatch.setattr(mm_runner, 'save_checkpoint', save_checkpoint)  # MMEngine's own
    monkeypatch.setattr(EpochBasedTrainLoop, 'run_epoch', lambda loop: None)
    monkeypatch.setattr(HistoryBuffer, '__getstate__', object.__getstate__, raising=False)
    monkeypatch.setattr(mmengine, '__version__', '0.11.0')
    with pytest.warns(UserWarning, match='MMEngine 0.11.0 is not one of'):
        assert not mmengine_patches.patch_mmengine()
    assert mm_runner.save_checkpoint.__name__ == 'save_checkpoint'
    assert EpochBasedTrainLoop.run_epoch is not resume.run_epoch
    monkeypatch.setattr(mmengine, '__version__', '0.10.7')
    assert mmengine_patches.patch_mmengine()
    assert mm_runner.save_checkpoint.__name__ == 'save_checkpoint_atomically'
    assert EpochBasedTrainLoop.run_epoch is resume.run_epoch
    buffer = HistoryBuffer([1.0, 2.0], [1, 1])
    assert 'statistics_methods' not in buffer.__getstate__()

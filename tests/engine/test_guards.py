"""Non-finite losses: NaN and inf stop a run (or are skipped when asked), and training goes on
after a skipped step exactly as if the bad batch had not been there."""
import logging
import math
from types import SimpleNamespace

import pytest
import torch

from swin_mm.engine.guards import NonFiniteLossError, NonFiniteLossHook, SkipNonFiniteOptimWrapper


@pytest.mark.parametrize('bad', [math.nan, math.inf, -math.inf])
def test_hook_stops_at_nan_and_inf_alike(tmp_path, bad):
    runner = SimpleNamespace(iter=4, epoch=1, work_dir=str(tmp_path),
                             logger=logging.getLogger('test'))
    outputs = {'loss': torch.tensor(bad), 'loss_cls': torch.tensor(bad), 'acc': torch.tensor(1.0)}
    with pytest.raises(NonFiniteLossError, match=rf'iteration 5 \(epoch 2\): non-finite loss '
                                                 rf'\(loss={bad}, loss_cls={bad}\)'):
        NonFiniteLossHook().after_train_iter(runner, 0, outputs=outputs)
    NonFiniteLossHook(action='warn').after_train_iter(runner, 0, outputs=outputs)
    NonFiniteLossHook().after_train_iter(runner, 0, outputs={'loss': torch.tensor(2.0)})


def _train(scales, wrapper, accumulative_counts):
    """SGD with momentum on a linear model, one row of a fixed batch per step, each step's loss
    scaled by ``scales[row]`` (None: the row is not trained on; inf/nan: a bad step)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optim = wrapper(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                    accumulative_counts=accumulative_counts)
    x = torch.randn(len(scales), 3)
    for row, scale in enumerate(scales):
        if scale is not None:
            with optim.optim_context(model):
                optim.update_params(model(x[row:row + 1]).square().sum() * scale)
    return optim, model


@pytest.mark.parametrize('accumulative_counts', [1, 2])
def test_skipped_steps_leave_no_trace(accumulative_counts):
    """finite, inf, finite, nan, finite, finite trains exactly like the four finite steps alone,
    with or without gradient accumulation."""
    from mmengine.optim import OptimWrapper
    skipping, model = _train([1, math.inf, 1, math.nan, 1, 1], SkipNonFiniteOptimWrapper,
                             accumulative_counts)
    _, reference = _train([1, None, 1, None, 1, 1], OptimWrapper, accumulative_counts)
    assert skipping.skipped == 2
    for p, q in zip(model.parameters(), reference.parameters()):
        assert torch.equal(p, q)

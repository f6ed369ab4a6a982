"""UperNet: a few iterations through tools/train.py on a tiny generated ADE20K-format dataset,
then tools/test.py on the checkpoint it wrote, single-scale and --tta."""
import math
import os

import pytest

from swin_mm.data import generate_toy_ade
from tests.helpers.tools import config_path, load_tool

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def tiny_ade(tmp_path_factory):
    return generate_toy_ade(str(tmp_path_factory.mktemp('toy_ade')), num_train=4, num_val=2,
                            size=(96, 96), seed=5)


def data_options(root):
    return ['--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}', f'test_dataloader.dataset.data_root={root}',
            'train_dataloader.batch_size=2', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
            'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
            'model.backbone.depths=[2,2,2,2]', 'param_scheduler.0.end=1',
            'param_scheduler.1.begin=1', 'param_scheduler.1.end=2']


def test_train_then_test_single_scale_and_tta(tmp_path, tiny_ade):
    train, test = load_tool('train'), load_tool('test')
    config = config_path('toy/upernet_swin_t_toy.py')
    work = str(tmp_path / 'work')
    runner = train.main([config, '--work-dir', work, *data_options(tiny_ade)])
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    ckpt = os.path.join(work, 'iter_2.pth')
    for extra in (['--show-dir', str(tmp_path / 'vis')], ['--tta']):
        metrics = test.main([config, ckpt, '--work-dir', str(tmp_path / f'test{len(extra)}'),
                             *extra, *data_options(tiny_ade)])
        for key in ('aAcc', 'mIoU', 'mAcc'):
            assert 0.0 <= metrics[key] <= 100.0, (key, metrics[key])
    drawn = list((tmp_path / 'vis').rglob('*.png'))
    assert len(drawn) == 2, drawn  # one blended prediction per val image


def test_swin_l_toy_learns(tmp_path, tiny_ade):
    """UperNet with Swin-L's widths and window 12 (depths 2-2-2-2 here) trains: 10 steps at a
    learning rate of 3e-4 bring the loss down."""
    runner = load_tool('train').main([
        config_path('toy/upernet_swin_l_toy.py'), '--work-dir', str(tmp_path / 'work'),
        *data_options(tiny_ade), 'train_cfg.max_iters=10', 'train_cfg.val_interval=10',
        'default_hooks.checkpoint.interval=10', 'param_scheduler.1.end=10',
        'optim_wrapper.optimizer.lr=3e-4', 'param_scheduler.0.start_factor=1.0'])
    assert runner.model.backbone.embed_dims == 192 and runner.model.backbone.window_size == (12, 12)
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 10 and all(math.isfinite(v) for v in losses)
    assert sum(losses[-3:]) < 0.9 * sum(losses[:3]), losses

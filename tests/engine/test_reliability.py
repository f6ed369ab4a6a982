"""Nothing a user saved is lost: atomic checkpoints, resume after a kill, non-finite losses,
damaged checkpoints, missing datasets."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from swin_mm.data import generate_toy_coco
from swin_mm.engine import DatasetNotFoundError, latest_good_checkpoint
from swin_mm.engine.guards import NonFiniteLossError
from swin_mm.serialization import CheckpointError, atomic_save, safe_load
from tests.helpers.tools import ROOT, config_path, load_tool
from tests.tools.test_detection_e2e import data_options

pytestmark = pytest.mark.slow
CONFIG = config_path('toy/mask_rcnn_swin_t_toy.py')


@pytest.fixture(scope='module')
def tiny_coco(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('toy_coco'))
    return generate_toy_coco(root, num_train=4, num_val=2, size=(96, 96), seed=3) + '/'


def _losses(runner):
    return list(runner.message_hub.get_scalar('train/loss').data[0])


def test_run_killed_mid_epoch_resumes_and_matches_uninterrupted_run(tmp_path, tiny_coco):
    """N iterations straight versus: SIGKILL during the second epoch, then --resume."""
    train = load_tool('train')
    opts = data_options(tiny_coco, 'train_cfg.max_epochs=2', 'train_cfg.val_interval=10',
                        'randomness.seed=0', 'randomness.deterministic=True',
                        'default_hooks.checkpoint.save_optimizer=True')  # resumed: AdamW's state
    straight = _losses(train.main([CONFIG, '--work-dir', str(tmp_path / 'a'), *opts]))
    work = tmp_path / 'b'
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, 'tools', 'train.py'), CONFIG,
                             '--work-dir', str(work), *opts], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline and not (work / 'epoch_1.pth').exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # somewhere in epoch 2
    proc.wait()
    assert (work / 'epoch_1.pth').exists(), 'the run died before its first checkpoint'
    for late in work.glob('epoch_2.pth'):  # the kill came late: as if it had come earlier
        late.unlink()
    resumed = train.main([CONFIG, '--work-dir', str(work), '--resume', *opts])
    assert len(straight) == 4 and resumed.iter == 4
    torch.testing.assert_close(_losses(resumed)[-2:], straight[2:], rtol=1e-5, atol=1e-6)


def test_iteration_checkpoints_inside_epochs_resume_to_the_same_losses(tmp_path, tiny_coco):
    """4 batches an epoch, 2 epochs, a checkpoint every 3 iterations: resuming from iter_3.pth
    (inside epoch 1, across the epoch boundary) and from iter_6.pth (inside epoch 2) gives the
    uninterrupted run's losses, stochastic depth drawing as it did."""
    train = load_tool('train')
    opts = data_options(tiny_coco, 'train_dataloader.batch_size=1', 'train_cfg.max_epochs=2',
                        'train_cfg.val_interval=10', 'randomness.seed=0',
                        'randomness.deterministic=True', 'default_hooks.checkpoint.by_epoch=False',
                        'default_hooks.checkpoint.interval=3',
                        'default_hooks.checkpoint.max_keep_ckpts=-1',
                        'default_hooks.checkpoint.save_optimizer=True',
                        'model.backbone.drop_path_rate=0.3')
    straight_run = train.main([CONFIG, '--work-dir', str(tmp_path / 'straight'), *opts])
    straight = _losses(straight_run)
    assert len(straight) == 8 and straight_run.iter == 8
    for iteration in (3, 6):
        resumed = train.main([CONFIG, '--work-dir', str(tmp_path / f'from_{iteration}'),
                              '--resume', str(tmp_path / 'straight' / f'iter_{iteration}.pth'),
                              *opts])
        assert resumed.iter == 8 and resumed.epoch == 2
        torch.testing.assert_close(_losses(resumed)[iteration - 8:], straight[iteration:],
                                   rtol=1e-6, atol=1e-7)


def test_resume_path_that_is_corrupt_names_it(tmp_path, tiny_coco):
    bad = tmp_path / 'iter_3.pth'
    bad.write_bytes(b'PK\x03\x04 not a whole checkpoint')
    with pytest.raises(CheckpointError, match=r'iter_3\.pth'):
        load_tool('train').main([CONFIG, '--work-dir', str(tmp_path / 'work'), '--resume',
                                 str(bad), *data_options(tiny_coco)])


def test_sigkill_during_checkpoint_write_keeps_the_old_checkpoint(tmp_path):
    """A writer killed mid-save leaves the previous checkpoint whole and readable."""
    path = tmp_path / 'epoch_1.pth'
    atomic_save({'state_dict': {'w': torch.ones(3)}}, path)
    code = ('import sys, torch; sys.path.insert(0, %r); from swin_mm.serialization import '
            'atomic_save\nclass Slow:\n    def __reduce__(self):\n        import time; '
            'time.sleep(60); return (int, ())\n'
            'atomic_save({"state_dict": {"w": torch.zeros(10**7)}, "x": Slow()}, %r)'
            % (ROOT, str(path)))
    proc = subprocess.Popen([sys.executable, '-c', code])
    deadline = time.time() + 60
    while time.time() < deadline and not list(tmp_path.glob('.epoch_1.pth.*.tmp')):
        time.sleep(0.2)
    assert list(tmp_path.glob('.epoch_1.pth.*.tmp')), 'the writer never started'
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert torch.equal(safe_load(path)['state_dict']['w'], torch.ones(3))
    assert latest_good_checkpoint(str(tmp_path)) == str(path)


def test_runner_killed_while_saving_keeps_the_previous_checkpoint_and_resumes(tmp_path,
                                                                             tiny_coco):
    """Through MMEngine's Runner and CheckpointHook: SIGKILL while epoch_2.pth is written."""
    work = tmp_path / 'work'
    opts = data_options(tiny_coco, 'train_cfg.max_epochs=2', 'train_cfg.val_interval=10',
                        'default_hooks.checkpoint.max_keep_ckpts=-1')
    slow = [*opts, 'custom_hooks.2.type=SlowSecondSaveHook']  # in place of the curves hook
    code = ('import sys; sys.path.insert(0, %r); import tests.helpers.slow_save; '
            'from tests.helpers.tools import load_tool; load_tool("train").main(sys.argv[1:])'
            % ROOT)
    proc = subprocess.Popen([sys.executable, '-c', code, CONFIG, '--work-dir', str(work), *slow],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline and not list(work.glob('.epoch_2*tmp')):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(work.glob('.epoch_2.pth.*.tmp')), 'the kill did not come during the write'
    assert not (work / 'epoch_2.pth').exists()
    assert safe_load(work / 'epoch_1.pth')['meta']['epoch'] == 1
    assert (work / 'last_checkpoint').read_text().strip().endswith('epoch_1.pth')
    resumed = load_tool('train').main([CONFIG, '--work-dir', str(work), '--resume', *opts])
    assert resumed.epoch == 2 and safe_load(work / 'epoch_2.pth')['meta']['epoch'] == 2


def test_resume_skips_a_truncated_newest_checkpoint(tmp_path):
    good, bad = tmp_path / 'epoch_1.pth', tmp_path / 'epoch_2.pth'
    atomic_save({'w': torch.ones(3)}, good)
    atomic_save({'w': torch.ones(1000)}, bad)
    bad.write_bytes(bad.read_bytes()[:500])
    os.utime(bad, (os.path.getmtime(good) + 10,) * 2)
    with pytest.warns(UserWarning, match=r'skipping damaged checkpoint .*epoch_2\.pth'):
        assert latest_good_checkpoint(str(tmp_path)) == str(good)
    with pytest.raises(CheckpointError, match=r'epoch_2\.pth.*truncated'):
        safe_load(bad)


@pytest.mark.parametrize('bad', ['nan', 'inf'])
def test_non_finite_loss_stops_without_writing_a_checkpoint(tmp_path, tiny_coco, bad):
    train = load_tool('train')
    work = tmp_path / bad
    with pytest.raises(NonFiniteLossError, match=rf'iteration 1 .*loss_cls={bad}'):
        train.main([CONFIG, '--work-dir', str(work), *data_options(
            tiny_coco, f'model.roi_head.bbox_head.loss_cls.loss_weight={bad}')])
    assert not list(work.glob('*.pth'))


def test_skip_non_finite_steps_when_asked(tmp_path, tiny_coco):
    train = load_tool('train')
    runner = train.main([CONFIG, '--work-dir', str(tmp_path / 'skip'), *data_options(
        tiny_coco, 'model.roi_head.bbox_head.loss_cls.loss_weight=nan',
        'optim_wrapper.type=SkipNonFiniteOptimWrapper', 'custom_hooks.0.action=warn')])
    assert runner.optim_wrapper.skipped == 2
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())


def test_missing_dataset_names_path_and_layout(tmp_path):
    train = load_tool('train')
    with pytest.raises(DatasetNotFoundError, match=r"nowhere/annotations/instances_train2017\.json"
                                                   r".*annotations/instances_\{train,val\}2017"):
        train.main([CONFIG, '--work-dir', str(tmp_path),
                    *data_options(str(tmp_path / 'nowhere') + '/')])


def test_test_tool_names_a_corrupt_checkpoint(tmp_path, tiny_coco):
    bad = tmp_path / 'broken.pth'
    bad.write_bytes(b'not a checkpoint')
    with pytest.raises(CheckpointError, match=r'broken\.pth'):
        load_tool('test').main([CONFIG, str(bad), '--work-dir', str(tmp_path),
                                *data_options(tiny_coco)])


@pytest.mark.parametrize('option, match', [
    ('model.neck.in_channels=[96,192,384,512]',
     r'neck\.in_channels \[96, 192, 384, 512\] do not '
     r'match the backbone, which emits \[96, 192, 384, 768\]'),
    ('model.backbone.out_indices=[0,1,2,4]', r'out_indices \[0, 1, 2, 4\]: \[4\] out of range'),
    ('model.backbone.embed_dim=64', r"'embed_dim' \(did you mean 'embed_dims'\?\)"),
])
def test_config_mistakes_fail_before_any_data(tmp_path, option, match):
    train = load_tool('train')
    with pytest.raises((ValueError, TypeError), match=match):
        train.main([CONFIG, '--work-dir', str(tmp_path),
                    *data_options(str(tmp_path / 'no_data') + '/', option)])

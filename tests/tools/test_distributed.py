"""Distributed for real: torchrun with 2 CPU processes (gloo) through tools/train.py and
tools/test.py; gradients averaged, not only exchanged; the unused-output trap caught first."""
import os
import subprocess
import sys

import pytest
import torch

from swin_mm.data import generate_toy_coco
from tests.helpers.tools import ROOT
from tests.tools.test_detection_e2e import data_options

pytestmark = pytest.mark.slow
CONFIG = os.path.join(ROOT, 'configs', 'toy', 'mask_rcnn_swin_t_toy.py')
ATSS = os.path.join(ROOT, 'configs', 'toy', 'atss_swin_t_toy.py')


def torchrun(tool, *args, config=CONFIG, ok=True):
    """Run tools/<tool>.py in 2 processes; its whole log, after asserting a clean exit (or, with
    ok=False, a failed one)."""
    done = _torchrun(os.path.join(ROOT, 'tools', f'{tool}.py'), config, *args,
                     '--launcher', 'pytorch')
    assert (done.returncode == 0) == ok, done.stdout[-3000:] + done.stderr[-3000:]
    log = done.stdout + done.stderr
    if not ok:
        return log
    assert 'terminate called' not in log  # each process left its gloo group before exiting
    return log


def _torchrun(script, *args):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
           script, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)


def test_two_processes_average_gradients_like_one_process_on_the_whole_batch(tmp_path):
    """Each process trains on half of a batch; DDP must average their gradients, so the weights
    after a few SGD steps equal one process's on the whole batch (float64: to rounding)."""
    from tests.helpers import ddp_probe
    done = _torchrun(ddp_probe.__file__, str(tmp_path / 'ddp.pth'))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    distributed = torch.load(tmp_path / 'ddp.pth')
    single, first_half = ddp_probe.train(), ddp_probe.train(0, 2)  # half, alone
    assert distributed.keys() == single.keys()
    for name, value in single.items():
        torch.testing.assert_close(distributed[name], value, rtol=1e-10, atol=1e-12, msg=name)
    moved = max((first_half[k] - single[k]).abs().max().item() for k in single)
    assert moved > 1e-4  # half a batch alone trains elsewhere: the comparison can tell


START_LEVEL_1 = ('model.backbone.out_indices=[0,1,2,3]', 'model.neck.in_channels=[96,192,384,768]',
                 'model.neck.start_level=1')


def test_unused_backbone_output_stops_before_any_data_with_the_fix(tmp_path):
    """MMDetection pull request 6621's trap: an FPN from the second output leaves norm0 without
    gradient, and DDP dies in its second iteration. Here it stops before reading data (the data
    root does not exist) and names the overrides."""
    log = torchrun('train', '--work-dir', str(tmp_path / 'work'),
                   *data_options(str(tmp_path / 'no_data') + '/', *START_LEVEL_1),
                   config=ATSS, ok=False)
    assert 'ConfigError' in log and 'never read' in log and 'DatasetNotFoundError' not in log
    assert ('model.backbone.out_indices=[1,2,3] model.neck.in_channels=[192,384,768] '
            'model.neck.start_level=0') in log


def test_outputs_short_of_the_last_stage_train_under_ddp(tmp_path):
    """out_indices without the last stage: it is not built, so DDP finds no unused parameter."""
    root = generate_toy_coco(str(tmp_path / 'coco'), num_train=4, num_val=2, size=(96, 96)) + '/'
    torchrun('train', '--work-dir', str(tmp_path / 'work'), *data_options(
        root, 'train_dataloader.batch_size=1', 'model.backbone.out_indices=[1,2]',
        'model.neck.in_channels=[192,384]', 'train_cfg.val_interval=10'), config=ATSS)
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()


def test_torchrun_two_processes_train_checkpoint_and_test(tmp_path):
    root = generate_toy_coco(str(tmp_path / 'coco'), num_train=4, num_val=2, size=(96, 96)) + '/'
    work = tmp_path / 'work'
    log = torchrun('train', '--work-dir', str(work),
                   *data_options(root, 'train_dataloader.batch_size=1'))
    assert 'Distributed training: True' in log and 'GPU number: 2' in log  # (2 CPU processes)
    assert sorted(p.name for p in work.glob('*.pth')) == ['epoch_1.pth']
    assert (work / 'curves.json').is_file() and not list(work.glob('*.tmp*'))  # one writer
    log = torchrun('test', str(work / 'epoch_1.pth'), '--work-dir', str(tmp_path / 'test'),
                   *data_options(root))
    assert 'Epoch(test) [1/1]' in log and 'coco/segm_mAP:' in log  # 2 images, 1 per process

"""Distributed for real: torchrun with 2 CPU processes (gloo) through tools/train.py and
tools/test.py."""
import os
import subprocess
import sys

import pytest

from swin_mm.data import generate_toy_coco
from tests.helpers.tools import ROOT
from tests.tools.test_detection_e2e import data_options

pytestmark = pytest.mark.slow
CONFIG = os.path.join(ROOT, 'configs', 'toy', 'mask_rcnn_swin_t_toy.py')


def torchrun(tool, *args):
    """Run tools/<tool>.py in 2 processes; its whole log, after asserting a clean exit."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
           os.path.join(ROOT, 'tools', f'{tool}.py'), CONFIG, *args, '--launcher', 'pytorch']
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = done.stdout + done.stderr
    assert 'terminate called' not in log  # each process left its gloo group before exiting
    return log


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

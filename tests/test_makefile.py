"""The Makefile's demo targets: a finished demo run on toy data that was rewritten since is moved
aside (never deleted), so that the demo trains anew instead of resuming a run on other data."""
import os
import subprocess

import pytest

from tests.helpers.tools import ROOT


def _set_aside_if_stale(work, data):
    rule = f't: ; $(call set_aside_if_stale,{work},{data})'
    return subprocess.run(['make', '-s', '-C', ROOT, f'--eval={rule}', 't'], check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def demo(tmp_path):
    work, data = tmp_path / 'work', tmp_path / 'data'
    work.mkdir(), data.mkdir()
    (work / 'last_checkpoint').write_text('iter_400.pth')
    (data / '.swin_mm_toy.json').write_text('{}')
    return work, data


@pytest.mark.parametrize('data_newer', [True, False])
def test_a_run_older_than_its_data_is_moved_aside(demo, data_newer):
    work, data = demo
    os.utime(work / 'last_checkpoint', (1000, 1000) if data_newer else (3000, 3000))
    os.utime(data / '.swin_mm_toy.json', (2000, 2000))
    out = _set_aside_if_stale(work, data)
    moved = [p for p in work.parent.iterdir() if p.name.startswith('work.before-')]
    if data_newer:
        assert not work.exists() and len(moved) == 1 and 'training anew' in out
        assert (moved[0] / 'last_checkpoint').read_text() == 'iter_400.pth'  # kept whole
    else:
        assert work.exists() and not moved and out == ''


def test_a_fresh_work_dir_is_left_alone(demo):
    work, data = demo
    (work / 'last_checkpoint').unlink()  # never trained: nothing to resume, nothing to move
    assert _set_aside_if_stale(work, data) == ''
    assert work.exists()

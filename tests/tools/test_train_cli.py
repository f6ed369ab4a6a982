"""tools/train.py's command line: what each flag does to the config, and clear refusals."""
import pytest
from mmengine.device import get_device

from tests.helpers.tools import config_path, load_tool

TOY = config_path('toy/mask_rcnn_swin_t_toy.py')
ACCELERATED = get_device() in load_tool('train').AMP_DEVICES


@pytest.mark.skipif(ACCELERATED, reason='this machine can train with --amp')
def test_amp_without_an_accelerator_is_refused_up_front(tmp_path):
    train = load_tool('train')
    with pytest.raises(SystemExit, match=r"--amp: .*AmpOptimWrapper.*'cpu'"):
        train.configure(train.parse_args([TOY, '--amp', '--work-dir', str(tmp_path)]))


@pytest.mark.skipif(not ACCELERATED, reason='needs an accelerator')
def test_amp_selects_the_amp_optimizer_wrapper(tmp_path):
    train = load_tool('train')
    cfg = train.configure(train.parse_args([TOY, '--amp', '--work-dir', str(tmp_path)]))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'

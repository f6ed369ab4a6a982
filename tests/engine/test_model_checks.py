"""Config checks before any data is read: backbone outputs that nothing reads (the DDP trap of
MMDetection pull request 6621), with the fix they name shown to build the same network."""
import glob
import os
import warnings

import pytest
from mmengine.config import Config

from swin_mm import ConfigError
from swin_mm.engine import check_outputs_used
from swin_mm.engine.model_checks import unused_outputs
from tests.helpers.tools import ROOT, config_path

START_LEVEL_1 = {'model.backbone.out_indices': [0, 1, 2, 3],
                 'model.neck.in_channels': [96, 192, 384, 768], 'model.neck.start_level': 1}


def _config(name, options, launcher='pytorch'):
    cfg = Config.fromfile(config_path(f'toy/{name}'))
    cfg.merge_from_dict(options)
    cfg.launcher = launcher
    return cfg


def _fix_options(message):
    """The ``--cfg-options`` of the error's first fix, as a dict."""
    from mmengine.config import DictAction
    words = message.split('--cfg-options ')[1].split('; ')[0].split()
    return {k: DictAction._parse_iterable(v) for k, v in (w.split('=', 1) for w in words)}


def _parameters(cfg):
    from tests.configs.test_configs import _build
    return {n: tuple(p.shape) for n, p in _build(cfg).named_parameters()}


def test_fpn_start_level_skipping_an_output_stops_a_distributed_run_with_the_fix():
    cfg = _config('atss_swin_t_toy.py', START_LEVEL_1)
    with pytest.raises(ConfigError, match=r'outputs \[0\] .* never read.*norm0.*Expected to have '
                                          r'finished reduction.*model\.backbone\.out_indices='
                                          r'\[1,2,3\] model\.neck\.in_channels=\[192,384,768\] '
                                          r'model\.neck\.start_level=0') as err:
        check_outputs_used(cfg)
    fixed = _config('atss_swin_t_toy.py', {**START_LEVEL_1, **_fix_options(str(err.value))})
    assert unused_outputs(fixed) == []
    check_outputs_used(fixed)
    before, after = _parameters(cfg), _parameters(fixed)
    assert {n: s for n, s in before.items() if not n.startswith('backbone.norm0.')} == after


def test_swinv2_backbone_is_checked_alike():
    from swin_mm.engine import check_model_channels
    cfg = _config('mask_rcnn_swinv2_t_toy.py', {'model.neck.start_level': 1})
    with pytest.raises(ConfigError, match=r'SwinV2Backbone outputs \[0\]'):
        check_outputs_used(cfg)
    cfg = _config('mask_rcnn_swinv2_t_toy.py', {'model.backbone.arch': 'base'})
    with pytest.raises(ConfigError, match=r'neck.in_channels \[96, 192, 384, 768\] do not match '
                                          r'the backbone, which emits \[128, 256, 512, 1024\]'):
        check_model_channels(cfg)


def test_a_single_process_is_warned_only():
    with pytest.warns(UserWarning, match=r'outputs \[0\] .* computed for nothing'):
        check_outputs_used(_config('atss_swin_t_toy.py', START_LEVEL_1, launcher='none'))


@pytest.mark.parametrize('extra', [{'find_unused_parameters': True},
                                   {'model.backbone.frozen_stages': 1}])  # norm0 frozen
def test_tolerated_when_ddp_searches_or_the_output_is_frozen(extra):
    with warnings.catch_warnings(record=True):
        check_outputs_used(_config('atss_swin_t_toy.py', {**START_LEVEL_1, **extra}))


def test_neck_end_level():
    cfg = _config('atss_swin_t_toy.py', {
        'model.backbone.out_indices': [0, 1, 2, 3], 'model.neck.in_channels': [96, 192, 384, 768],
        'model.neck.start_level': 0, 'model.neck.end_level': 2,
        'model.neck.add_extra_convs': 'on_input'})
    assert unused_outputs(cfg) == [3]
    with pytest.raises(ConfigError, match=r'out_indices=\[0,1,2\] .*start_level=0 '
                                          r'model\.neck\.end_level=2'):
        check_outputs_used(cfg)


def test_segmentation_heads_that_skip_an_output():
    options = {'model.decode_head.in_index': [1, 2, 3],
               'model.decode_head.in_channels': [192, 384, 768]}
    cfg = _config('upernet_swin_t_toy.py', options)
    assert unused_outputs(cfg) == [0]
    with pytest.raises(ConfigError) as err:
        check_outputs_used(cfg)
    fix = _fix_options(str(err.value))
    assert fix == {'model.backbone.out_indices': [1, 2, 3], 'model.decode_head.in_index': [0, 1, 2],
                   'model.auxiliary_head.in_index': 1}
    fixed = _config('upernet_swin_t_toy.py', {**options, **fix})
    assert unused_outputs(fixed) == []
    before, after = _parameters(cfg), _parameters(fixed)
    assert {n: s for n, s in before.items() if not n.startswith('backbone.norm0.')} == after


@pytest.mark.parametrize('path', sorted(glob.glob(os.path.join(ROOT, 'configs', '*.py')) +
                                         glob.glob(os.path.join(ROOT, 'configs', 'toy', '*.py'))),
                         ids=os.path.basename)
def test_every_shipped_config_reads_every_output(path):
    cfg = Config.fromfile(path)
    cfg.launcher = 'pytorch'
    assert unused_outputs(cfg) == []

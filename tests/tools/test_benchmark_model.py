"""tools/benchmark_model.py: whole detectors and segmentors with swin_mm's Swin, the peer's Swin
(the same weights) and a ResNet-50, end to end on a small image. Numbers are not asserted (speed
lives in the benchmark); what is compared and how is."""
import json

import pytest
import torch

from swin_mm import ConfigError
from tests.helpers.tools import config_path, load_tool


def test_three_models_per_config_with_the_same_swin_weights(tmp_path):
    tool = load_tool('benchmark_model')
    result = tool.main([config_path('toy/atss_swin_t_toy.py'),
                        config_path('toy/upernet_swin_t_toy.py'),
                        '--shape', '61', '90', '--repeats', '1', '--out', str(tmp_path)])
    saved = json.loads((tmp_path / 'benchmark_models_cpu.json').read_text())
    assert saved == json.loads(json.dumps(result))
    for entry in saved['configs']:
        assert entry['shape'] == [61, 90]
        rows = {r['model']: r for r in entry['rows']}
        assert list(rows) == ['swin_mm', 'peer Swin', 'ResNet-50']
        assert rows['swin_mm']['params'] == rows['peer Swin']['params']
        assert rows['swin_mm']['backbone_params'] != rows['ResNet-50']['backbone_params']
        assert all(r['seconds'] > 0 and r['gflops'] > 0 for r in rows.values())
    assert saved['configs'][0]['padded'] == [64, 96]  # MMDetection pads to 32


def test_the_swin_models_are_built_alike_and_checked():
    tool = load_tool('benchmark_model')
    cfg, scope = tool.load(config_path('toy/atss_swin_t_toy.py'))
    assert cfg.model.test_cfg.score_thr == 0.0  # every detector returns max_per_img boxes
    assert 'init_cfg' not in cfg.model.backbone
    named = tool.models(cfg, scope)
    ours, peer, resnet = named['swin_mm'], named['peer Swin'], named['ResNet-50']
    assert type(peer.backbone).__module__.startswith('mmdet')
    assert type(resnet.backbone).__name__ == 'ResNet' and resnet.backbone.out_indices == (1, 2, 3)
    peer_rest = {k: v for k, v in peer.state_dict().items() if not k.startswith('backbone.')}
    for key, value in peer_rest.items():
        assert torch.equal(ours.state_dict()[key], value), key
    data = tool.one_image(scope, (64, 64))
    tool.check_same_backbone(ours, peer, data)
    with torch.no_grad():
        peer.backbone.stages[0].blocks[0].ffn.layers[1].weight.add_(1.0)
    with pytest.raises(RuntimeError, match='disagree'):
        tool.check_same_backbone(ours, peer, data)


def test_swinv2_config_against_resnet50(tmp_path, capsys):
    result = load_tool('benchmark_model').main([config_path('toy/mask_rcnn_swinv2_t_toy.py'),
                                                '--shape', '64', '64', '--repeats', '1',
                                                '--out', str(tmp_path)])
    rows = {r['model']: r for r in result['configs'][0]['rows']}
    assert list(rows) == ['swin_mm', 'ResNet-50']  # no peer has a SwinV2
    from swin_mm import SwinV2Backbone
    assert rows['swin_mm']['backbone_params'] == sum(
        p.numel() for p in SwinV2Backbone('tiny', window_size=8).parameters())
    assert all(r['seconds'] > 0 and r['gflops'] > 0 for r in rows.values())
    assert 'swin_mm' in capsys.readouterr().out


def test_a_config_without_swin_is_refused(tmp_path):
    path = tmp_path / 'r50.py'
    path.write_text("_base_ = 'mmdet::atss/atss_r50_fpn_1x_coco.py'\n")
    with pytest.raises(ConfigError, match=r"backbone.type is 'ResNet'"):
        load_tool('benchmark_model').main([str(path), '--out', str(tmp_path)])

"""Checkpoint loading: every format, resizing, the report, and every error path.

Checkpoints of MMDetection and MMSegmentation are made from their own SwinTransformer with random
weights (tests/checkpoint/test_openmmlab_formats.py); here the formats derived from swin_mm's own
(official) key names, and the error paths.
"""
import logging

import pytest
import torch

from swin_mm import SwinBackbone
from swin_mm.checkpoint import (CheckpointError, convert_state_dict, detect_format, infer_arch,
                                load_pretrained, resize_relative_position_table)
from swin_mm.serialization import atomic_save

SMALL = dict(embed_dims=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), drop_path_rate=0.0)


def _model(seed=0, **kwargs):
    torch.manual_seed(seed)
    return SwinBackbone(**{**SMALL, **kwargs}).eval()


def _outputs(model, x):
    with torch.no_grad():
        return model(x)


def _assert_same_outputs(a, b, x):
    for p, q in zip(_outputs(a, x), _outputs(b, x)):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def official_classification(model):
    """The layout of Microsoft's ImageNet checkpoints: {'model': ...} with head, final norm and
    the stored buffers."""
    sd = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith('norm')}
    for i, layer in enumerate(model.layers):
        for j, block in enumerate(layer.blocks):
            sd[f'layers.{i}.blocks.{j}.attn.relative_position_index'] = \
                block.attn.relative_position_index.view(49, 49)
            if j % 2:
                sd[f'layers.{i}.blocks.{j}.attn_mask'] = torch.zeros(4, 49, 49)
    sd['norm.weight'] = torch.ones(256)
    sd['norm.bias'] = torch.zeros(256)
    sd['head.weight'] = torch.randn(1000, 256)
    sd['head.bias'] = torch.zeros(1000)
    return {'model': sd}


def timm_layout(model):
    """timm: patch merging at the start of the next stage, head.fc."""
    sd = {}
    for k, v in model.state_dict().items():
        if '.downsample.' in k:
            i = int(k.split('.')[1])
            k = k.replace(f'layers.{i}.', f'layers.{i + 1}.', 1)
        if not k.startswith('norm'):
            sd[k] = v.clone()
    sd['head.fc.weight'] = torch.randn(10, 256)
    return sd


@pytest.fixture
def x():
    torch.manual_seed(1)
    return torch.randn(1, 3, 75, 101)


def test_official_classification_checkpoint(tmp_path, x, caplog):
    src = _model(0)
    path = tmp_path / 'swin_official.pth'
    atomic_save(official_classification(src), path)
    dst = _model(1)
    with caplog.at_level(logging.INFO, logger='swin_mm'):
        report = load_pretrained(dst, str(path), log=logging.getLogger('swin_mm'))
    assert report.format == 'official'
    assert report.missing == [f'norm{i}.{p}' for i in range(4) for p in ('weight', 'bias')]
    assert report.unexpected == []
    assert set(report.expected_unused) == {'classification head',
                                           'buffers (rebuilt by the model)'}
    assert 'head.weight' in report.expected_unused['classification head']
    assert f'Loaded {len(report.loaded)} tensors' in caplog.text
    for k in report.loaded:
        torch.testing.assert_close(dst.state_dict()[k], src.state_dict()[k], rtol=0, atol=0)


def test_official_detection_and_timm_checkpoints_reproduce_outputs(tmp_path, x):
    src = _model(0)
    det = {'state_dict': {f'backbone.{k}': v for k, v in src.state_dict().items()} |
           {'neck.lateral_convs.0.conv.weight': torch.randn(8, 32, 1, 1)},
           'meta': {'epoch': 12}}
    atomic_save(det, tmp_path / 'det.pth')
    atomic_save(timm_layout(src), tmp_path / 'timm.pth')
    dst = _model(1)
    report = load_pretrained(dst, str(tmp_path / 'det.pth'))
    assert report.format == 'official' and report.missing == [] and report.unexpected == []
    assert report.expected_unused['other parts of the model (neck, heads)'] == \
        ['neck.lateral_convs.0.conv.weight']
    _assert_same_outputs(src, dst, x)
    dst = _model(2)
    report = load_pretrained(dst, str(tmp_path / 'timm.pth'))
    assert report.format == 'timm'
    assert report.missing == [f'norm{i}.{p}' for i in range(4) for p in ('weight', 'bias')]
    for k in report.loaded:
        torch.testing.assert_close(dst.state_dict()[k], src.state_dict()[k], rtol=0, atol=0)


def test_window_resize_7_to_12_keeps_centre(tmp_path):
    src = _model(0)
    atomic_save(official_classification(src), tmp_path / 'w7.pth')
    dst = _model(1, window_size=12)
    report = load_pretrained(dst, str(tmp_path / 'w7.pth'))
    tables = [k for k in report.loaded if k.endswith('relative_position_bias_table')]
    assert len(report.resized) == len(tables) == 8
    assert all(old == (169, h) and new == (529, h) for _, old, new in report.resized
               for h in [old[1]])
    for k in tables:
        old = src.state_dict()[k].view(13, 13, -1)
        new = dst.state_dict()[k].view(23, 23, -1)
        torch.testing.assert_close(new[11, 11], old[6, 6], rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        assert dst(torch.randn(1, 3, 100, 70))[3].shape == (1, 256, 4, 3)


def test_non_square_window_resize():
    table = torch.randn(13 * 13, 3)
    out = resize_relative_position_table(table, (5, 9))
    assert out.shape == (9 * 17, 3)
    torch.testing.assert_close(out.view(9, 17, 3)[4, 8], table.view(13, 13, 3)[6, 6])
    back = resize_relative_position_table(torch.randn(9 * 17, 2), (7, 7), src_window_size=(5, 9))
    assert back.shape == (169, 2)


def test_abs_pos_embed_resized(tmp_path):
    src = _model(0, use_abs_pos_embed=True, pretrain_img_size=224)
    sd = src.state_dict()
    sd['absolute_pos_embed'] = sd['absolute_pos_embed'].flatten(2).transpose(1, 2)  # 1, L, C
    atomic_save({'model': sd}, tmp_path / 'ape.pth')
    dst = _model(1, use_abs_pos_embed=True, pretrain_img_size=384)
    report = load_pretrained(dst, str(tmp_path / 'ape.pth'))
    assert ('absolute_pos_embed', (1, 3136, 32), (1, 32, 96, 96)) in report.resized


def test_infer_arch_from_checkpoint():
    sd, _, _ = convert_state_dict(official_classification(_model(0))['model'])
    assert infer_arch(sd) == dict(type='SwinBackbone', embed_dims=32, depths=(2, 2, 2, 2),
                                  num_heads=(1, 2, 4, 8),
                                  window_size=7, patch_size=4, in_channels=3,
                                  use_abs_pos_embed=False)


# --- errors --------------------------------------------------------------------------------------
def test_missing_file():
    with pytest.raises(CheckpointError, match='not found.*nowhere.pth'):
        load_pretrained(_model(), '/nowhere.pth')


def test_truncated_file_names_file_and_loads_nothing(tmp_path):
    path = tmp_path / 'cut.pth'
    atomic_save(official_classification(_model(0)), path)
    path.write_bytes(path.read_bytes()[:2000])
    model = _model(1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r'cut\.pth.*truncated'):
        load_pretrained(model, str(path))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_wrong_architecture_names_key_and_shapes(tmp_path):
    atomic_save(official_classification(_model(0)), tmp_path / 'small.pth')
    model = SwinBackbone('tiny')
    before = model.patch_embed.proj.weight.clone()
    with pytest.raises(CheckpointError, match=r'patch_embed\.proj\.weight has shape \(32, 3, 4, 4\)'
                       r'.*\(96, 3, 4, 4\).*Nothing was loaded'):
        load_pretrained(model, str(tmp_path / 'small.pth'))
    assert torch.equal(before, model.patch_embed.proj.weight)


def test_fewer_blocks_is_an_error_unless_not_strict(tmp_path):
    atomic_save(official_classification(_model(0)), tmp_path / 'short.pth')
    deeper = _model(1, depths=(2, 2, 4, 2))
    with pytest.raises(CheckpointError,
                       match=r'lacks 26 backbone parameters.*layers\.2\.blocks\.2'):
        load_pretrained(deeper, str(tmp_path / 'short.pth'))
    report = load_pretrained(deeper, str(tmp_path / 'short.pth'), strict=False)
    assert any(k.startswith('layers.2.blocks.3.') for k in report.missing)


def test_resnet_checkpoint_says_which_formats_were_tried(tmp_path):
    resnet = {'conv1.weight': torch.randn(64, 3, 7, 7), 'bn1.weight': torch.ones(64),
              'layer1.0.conv1.weight': torch.randn(64, 64, 1, 1), 'fc.weight': torch.randn(10, 512)}
    atomic_save({'state_dict': resnet}, tmp_path / 'resnet.pth')
    with pytest.raises(CheckpointError, match=r"resnet\.pth.*no Swin backbone.*'official', 'timm', "
                                              r"'openmmlab'"):
        load_pretrained(_model(), str(tmp_path / 'resnet.pth'))


def test_not_a_state_dict(tmp_path):
    atomic_save({'epoch': 3, 'config': 'x'}, tmp_path / 'meta_only.pth')
    with pytest.raises(CheckpointError, match='no state dict of tensors'):
        load_pretrained(_model(), str(tmp_path / 'meta_only.pth'))


class Opaque:
    pass


def test_pickle_is_refused_with_the_way_out(tmp_path):
    torch.save({'model': official_classification(_model(0))['model'], 'obj': Opaque()},
               tmp_path / 'pickled.pth')
    with pytest.raises(CheckpointError, match=r'Opaque.*trust_pickle=True'):
        load_pretrained(_model(1), str(tmp_path / 'pickled.pth'))
    report = load_pretrained(_model(1), str(tmp_path / 'pickled.pth'), trust_pickle=True)
    assert report.format == 'official'


def test_detect_format_on_converted_keys_is_idempotent():
    sd = timm_layout(_model(0))
    converted, fmt, _ = convert_state_dict(sd)
    assert fmt == 'timm' and detect_format(converted) == 'official'
    again, fmt2, _ = convert_state_dict(converted)
    assert fmt2 == 'official' and again.keys() == converted.keys()


@pytest.mark.parametrize('how', ['init_cfg', 'pretrained'])
def test_init_weights_loads_from_init_cfg_or_deprecated_pretrained(tmp_path, x, how):
    src = _model(0)
    atomic_save({'state_dict': src.state_dict()}, tmp_path / 'w.pth')
    kwargs = ({'init_cfg': dict(type='Pretrained', checkpoint=str(tmp_path / 'w.pth'))}
              if how == 'init_cfg' else {'pretrained': str(tmp_path / 'w.pth')})
    dst = _model(1, **kwargs)
    dst.init_weights()
    _assert_same_outputs(src, dst, x)


def test_list_init_cfg_applies_mmengine_initialisers_then_the_checkpoint(tmp_path):
    src = _model(0)
    atomic_save({'state_dict': src.state_dict()}, tmp_path / 'src.pth')
    model = _model(1, init_cfg=[dict(type='Constant', layer='Conv2d', val=0.5, bias=0.0),
                                dict(type='Constant', layer='LayerNorm', val=2.0, bias=0.0)])
    model.init_weights()
    assert (model.patch_embed.proj.weight == 0.5).all() and (model.norm0.weight == 2.0).all()
    model = _model(1, init_cfg=[dict(type='Constant', layer='Conv2d', val=0.5),
                                dict(type='Pretrained', checkpoint=str(tmp_path / 'src.pth'))])
    model.init_weights()  # the checkpoint last, whatever the order
    assert torch.equal(model.patch_embed.proj.weight, src.patch_embed.proj.weight)


@pytest.mark.parametrize('init_cfg, error, match', [
    ([dict(checkpoint='x.pth')], ValueError, r'entry .* must be a dict with a type'),
    (dict(type='Pretrained'), ValueError, r'has no checkpoint'),
    ('x.pth', TypeError, r"init_cfg must be a dict, a list of dicts or None, got 'x.pth'"),
])
def test_malformed_init_cfg_refused_when_built(init_cfg, error, match):
    with pytest.raises(error, match=match):
        _model(init_cfg=init_cfg)


def test_convert_weights_tool_round_trip(tmp_path, x):
    from tests.helpers.tools import load_tool
    src = _model(0)
    atomic_save(timm_layout(src), tmp_path / 'timm.pth')
    report = load_tool('convert_weights').main([str(tmp_path / 'timm.pth'),
                                                str(tmp_path / 'out.pth')])
    assert report.format == 'timm'
    dst = _model(1)
    again = load_pretrained(dst, str(tmp_path / 'out.pth'))
    assert again.format == 'official' and again.unexpected == []
    for k in again.loaded:
        torch.testing.assert_close(dst.state_dict()[k], src.state_dict()[k], rtol=0, atol=0)

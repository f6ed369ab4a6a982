"""SwinV2 checkpoints in every layout they are published in, written here key by key as the real
files have them, load into SwinV2Backbone and reproduce SwinV2 written from the paper
(tests/helpers/naive_swin_v2.py) on the source weights; a window change loads without resizing.
"""
import copy
import math

import pytest
import torch

from swin_mm import SwinBackbone, SwinV2Backbone
from swin_mm.checkpoint import CheckpointError, load_pretrained
from swin_mm.serialization import atomic_save
from tests.helpers.naive_swin_v2 import naive_backbone_v2
from tests.helpers.reference import assert_all_close
from tests.models.test_swin_v2 import widen_v2

ARCH = dict(embed_dims=16, depths=(2, 2, 4, 2), num_heads=(1, 2, 4, 8), drop_path_rate=0.0)


def _source(window=8, pretrained=0, seed=0):
    torch.manual_seed(seed)
    model = SwinV2Backbone(**ARCH, window_size=window, pretrained_window_sizes=pretrained)
    return widen_v2(model.eval(), seed).float()


def _buffers(model, prefix_of):
    """The buffers the official release and MMPretrain store: relative_coords_table
    (1, 2wh-1, 2ww-1, 2), relative_position_index (N, N), and attn_mask of shifted blocks
    (nW, N, N) at the 256-pixel pre-training resolution (official only)."""
    out = {}
    for i, layer in enumerate(model.layers):
        for j, block in enumerate(layer.blocks):
            wh, ww = block.window_size
            p = prefix_of(i, j)
            out[p + 'relative_coords_table'] = block.attn.relative_coords_table.view(
                1, 2 * wh - 1, 2 * ww - 1, 2).clone()
            out[p + 'relative_position_index'] = block.attn.relative_position_index.view(
                wh * ww, wh * ww).clone()
    return out


def official(model, num_classes=1000):
    """Microsoft's SwinV2 release: {'model': ...}, patch merging at the end of a stage, the final
    ``norm`` and ``head``, and the stored buffers."""
    sd = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith('norm')}
    sd.update(_buffers(model, lambda i, j: f'layers.{i}.blocks.{j}.attn.'))
    for i, layer in enumerate(model.layers):
        side = 64 // 2 ** i  # 256 / 4 / 2**i tokens
        n = layer.blocks[0].window_size[0] ** 2
        for j in range(1, len(layer.blocks), 2):
            sd[f'layers.{i}.blocks.{j}.attn_mask'] = torch.zeros(
                max(1, (side // layer.blocks[j].window_size[0]) ** 2), n, n)
    C = model.num_features[-1]
    sd.update({'norm.weight': torch.ones(C), 'norm.bias': torch.zeros(C),
               'head.weight': torch.randn(num_classes, C), 'head.bias': torch.zeros(num_classes)})
    return {'model': sd}


def timm_new(model):
    """timm >= 0.9 ``swinv2_*``: a flat state dict, patch merging at the start of the next stage
    (``layers.{i+1}.downsample``), ``head.fc``, no buffers (timm's are not persistent)."""
    sd = {}
    for k, v in model.state_dict().items():
        if '.downsample.' in k:
            i = int(k.split('.')[1])
            k = k.replace(f'layers.{i}.', f'layers.{i + 1}.', 1)
        if not k.startswith('norm'):
            sd[k] = v.clone()
    C = model.num_features[-1]
    sd.update({'norm.weight': torch.ones(C), 'norm.bias': torch.zeros(C),
               'head.fc.weight': torch.randn(1000, C), 'head.fc.bias': torch.zeros(1000)})
    return sd


def timm_old(model):
    """timm 0.5-0.6 ``swinv2_*``: the official names with merging at the end of a stage, a flat
    dict with the persistent buffers and ``head.weight``."""
    return official(model)['model']


def _to_unfold_order(weight, C):
    """Reduction weight (2C, 4C) from the release's (col, row, c) concatenation to nn.Unfold's
    (c, row, col) channel order, as MMPretrain's converter writes it."""
    out = torch.empty_like(weight)
    for row in range(2):
        for col in range(2):
            for c in range(C):
                out[:, c * 4 + row * 2 + col] = weight[:, (col * 2 + row) * C + c]
    return out


def mmpretrain(model):
    """MMPretrain's ``SwinTransformerV2`` in an ImageClassifier: ``backbone.stages.*``,
    ``attn.w_msa.*``, ``ffn.layers.*``, ``patch_embed.projection``, patch merging at the start of
    stage i+1 with its reduction in nn.Unfold order, ``norm3`` only, ``head.fc``."""
    renames = [('patch_embed.proj.', 'patch_embed.projection.'), ('.attn.', '.attn.w_msa.'),
               ('.mlp.fc1.', '.ffn.layers.0.0.'), ('.mlp.fc2.', '.ffn.layers.1.')]
    sd = {}
    for k, v in model.state_dict().items():
        if k.startswith('norm') and not k.startswith('norm3'):
            continue
        if '.downsample.' in k:
            i = int(k.split('.')[1])
            k = k.replace(f'layers.{i}.', f'layers.{i + 1}.', 1)
            if k.endswith('reduction.weight'):
                v = _to_unfold_order(v, model.num_features[i])
        for old, new in renames:
            k = k.replace(old, new)
        sd['backbone.' + k.replace('layers.', 'stages.', 1)] = v.clone()
    sd.update({'backbone.' + k: v for k, v in _buffers(
        model, lambda i, j: f'stages.{i}.blocks.{j}.attn.w_msa.').items()})
    sd['head.fc.weight'] = torch.randn(1000, model.num_features[-1])
    return {'meta': {'mmpretrain_version': '1.2.0'}, 'state_dict': sd}


def detector(model):
    """An MMDetection detector holding the backbone in the official names."""
    sd = {'backbone.' + k: v.clone() for k, v in model.state_dict().items()}
    sd['neck.lateral_convs.0.conv.weight'] = torch.randn(8, 16, 1, 1)
    return {'meta': {'epoch': 36}, 'state_dict': sd}


@pytest.fixture(scope='module')
def x():
    torch.manual_seed(1)
    return torch.randn(1, 3, 75, 101)


def _expected(model, x):
    """The paper's SwinV2 on the model's weights, in float64 (the loaded model runs in float64
    too, so any difference is a weight in the wrong place, not rounding)."""
    with torch.no_grad():
        return naive_backbone_v2(copy.deepcopy(model).double(), x.double())


LAYOUTS = [(official, 'official', 4), (timm_new, 'timm', 4), (timm_old, 'official', 4),
           (mmpretrain, 'openmmlab', 3), (detector, 'official', 0)]


@pytest.mark.parametrize('layout, fmt, norms_missing, window, pretrained', [
    *[(*layout, 8, 0) for layout in LAYOUTS],  # the 1K window-8 checkpoints, every layout
    (official, 'official', 4, 16, 12),  # the release's 22K-to-1K window12to16 fine-tunes
    (mmpretrain, 'openmmlab', 3, 16, 12)])  # and MMPretrain's conversion of them
def test_layout_loads_and_reproduces_reference(tmp_path, x, layout, fmt, norms_missing, window,
                                               pretrained):
    src = _source(window, pretrained)
    path = tmp_path / f'{layout.__name__}.pth'
    atomic_save(layout(src), path)
    dst = SwinV2Backbone(**ARCH, window_size=window, pretrained_window_sizes=pretrained).eval()
    report = load_pretrained(dst, str(path))
    assert report.format == fmt and report.unexpected == [] and report.resized == []
    assert len(report.missing) == 2 * norms_missing  # output norms a classifier does not have
    if norms_missing:  # give them the source's values, then every output is comparable
        dst.load_state_dict({k: v for k, v in src.state_dict().items() if k.startswith('norm')},
                            strict=False)
    with torch.no_grad():
        assert_all_close(dst.double()(x.double()), _expected(src, x), 1e-5)


@pytest.mark.parametrize('src_window, dst_window', [(8, 16), (12, 7)])
def test_window_change_loads_without_resizing(tmp_path, x, src_window, dst_window):
    """The checkpoint's parameters are used as they are; the position bias at the offsets both
    windows have is the checkpoint's, since the coordinates are normalised by the pretrained
    window; only the coordinates (more or fewer offsets) change."""
    src = _source(src_window)
    atomic_save(official(src), tmp_path / 'ckpt.pth')
    dst = SwinV2Backbone(**ARCH, window_size=dst_window,
                         pretrained_window_sizes=src_window).eval()
    report = load_pretrained(dst, str(tmp_path / 'ckpt.pth'))
    assert report.resized == []
    own = src.state_dict()
    for key, value in dst.state_dict().items():
        if key in report.loaded:
            assert torch.equal(value, own[key]), key
    shared = min(src_window, dst_window)
    for s_layer, d_layer in zip(src.layers, dst.layers):
        s_attn, d_attn = s_layer.blocks[1].attn, d_layer.blocks[1].attn
        s_bias = _bias_by_offset(s_attn, src_window)
        d_bias = _bias_by_offset(d_attn, dst_window)
        for dy in range(-(shared - 1), shared):
            for dx in range(-(shared - 1), shared):
                torch.testing.assert_close(d_bias[(dy, dx)], s_bias[(dy, dx)])
        # the coordinates: offsets up to dst_window - 1, normalised by the checkpoint's window
        top = math.log2(8 * (dst_window - 1) / (src_window - 1) + 1) / 3
        assert d_attn.relative_coords_table.abs().max().item() == pytest.approx(top)
    with torch.no_grad():
        dst.load_state_dict({k: v for k, v in own.items() if k.startswith('norm')},
                            strict=False)
        assert_all_close(dst.double()(x.double()), _expected(dst, x), 1e-5)


def _bias_by_offset(attn, window):
    """{(dy, dx): (h,) bias} read off the (h, N, N) bias between token pairs of a window."""
    bias = attn.relative_position_bias().detach()
    tokens = [(r, c) for r in range(window) for c in range(window)]
    return {(ri - rj, ci - cj): bias[:, i, j]
            for i, (ri, ci) in enumerate(tokens) for j, (rj, cj) in enumerate(tokens)}


def test_v1_checkpoint_into_v2_model_is_named(tmp_path):
    torch.manual_seed(0)
    v1 = SwinBackbone(embed_dims=16, depths=(2, 2, 4, 2), num_heads=(1, 2, 4, 8))
    atomic_save({'model': v1.state_dict()}, tmp_path / 'v1.pth')
    atomic_save(official(_source()), tmp_path / 'v2.pth')
    with pytest.raises(CheckpointError, match=r"v1.pth holds a Swin V1 \(type='SwinBackbone'\)"
                                              r".*model is SwinV2"):
        load_pretrained(SwinV2Backbone(**ARCH), str(tmp_path / 'v1.pth'))
    with pytest.raises(CheckpointError, match="v2.pth holds a SwinV2 .*'SwinV2Backbone'"):
        load_pretrained(v1, str(tmp_path / 'v2.pth'))


def test_convert_weights_tool_on_a_timm_v2_checkpoint(tmp_path, x, capsys):
    from tools.convert_weights import main
    src = _source()
    atomic_save(timm_new(src), tmp_path / 'timm.pth')
    main([str(tmp_path / 'timm.pth'), str(tmp_path / 'out.pth')])
    printed = capsys.readouterr().out
    assert 'format: timm' in printed and "'type': 'SwinV2Backbone'" in printed
    assert "'num_heads': (1, 2, 4, 8)" in printed
    dst = SwinV2Backbone(**ARCH).eval()
    report = load_pretrained(dst, str(tmp_path / 'out.pth'))
    assert report.format == 'official' and report.unexpected == []
    dst.load_state_dict({k: v for k, v in src.state_dict().items() if k.startswith('norm')},
                        strict=False)
    with torch.no_grad():
        assert_all_close(dst.double()(x.double()), _expected(src, x), 1e-5)


@pytest.mark.parametrize('layout', [official, mmpretrain])
def test_other_pretrained_windows_are_named(tmp_path, layout):
    """A window12to16 checkpoint loaded without pretrained_window_sizes=12 loads (nothing
    differs in shape) but the report says which setting uses its coordinates as trained."""
    atomic_save(layout(_source(16, 12)), tmp_path / 'ckpt.pth')
    wrong = load_pretrained(SwinV2Backbone(**ARCH, window_size=16), str(tmp_path / 'ckpt.pth'))
    assert wrong.notes and 'pretrained_window_sizes=[12, 12, 12, 12]' in wrong.notes[0]
    assert 'NOTE: the checkpoint' in str(wrong)
    right = load_pretrained(SwinV2Backbone(**ARCH, window_size=16, pretrained_window_sizes=12),
                            str(tmp_path / 'ckpt.pth'))
    assert right.notes == []
    plain = load_pretrained(SwinV2Backbone(**ARCH, window_size=8),  # trained at its own window
                            str(tmp_path / 'ckpt.pth'))
    assert 'pretrained_window_sizes=[12, 12, 12, 12]' in plain.notes[0]
    atomic_save(official(_source(8)), tmp_path / 'w8.pth')
    assert load_pretrained(SwinV2Backbone(**ARCH, window_size=8), str(tmp_path / 'w8.pth')).notes \
        == []

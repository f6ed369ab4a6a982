"""SwinV2Backbone against SwinV2 written from the paper and the official code
(tests/helpers/naive_swin_v2.py): block by block and whole model, outputs and gradients, at odd
sizes, shifted and unshifted; the position-bias coordinates; the contract it shares with V1."""
import math

import pytest
import torch

from swin_mm import ARCH_SETTINGS, ConfigError, SwinV2Backbone
from swin_mm.models.attention_v2 import log_spaced_coords
from swin_mm.models.swin_v2 import SwinBlockV2
from tests.helpers.losses import projection_loss
from tests.helpers.naive_swin_v2 import naive_backbone_v2, naive_bias, naive_block_v2
from tests.helpers.reference import (assert_all_close, reference_copy, relative_error,
                                    widen_parameters)

SMALL = dict(embed_dims=16, depths=(2, 2, 2, 2), num_heads=(2, 2, 4, 4), window_size=4,
             drop_path_rate=0.0)


@torch.no_grad()
def widen_v2(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """:func:`widen_parameters`, then what V2 adds drawn wide: logit scales from 2 to 300 (so
    the clamp at 100 acts on some heads), a position-bias MLP whose output spans much of the
    sigmoid, and the post-norms (zero at initialisation) around 1."""
    widen_parameters(model, seed)
    g = torch.Generator().manual_seed(seed + 1)
    for name, module in model.named_modules():
        if hasattr(module, 'logit_scale'):
            h = module.logit_scale.numel()
            module.logit_scale.copy_(torch.empty(h, 1, 1).uniform_(math.log(2), math.log(300),
                                                                    generator=g))
            module.cpb_mlp[0].weight.normal_(0, 1, generator=g)
            module.cpb_mlp[0].bias.normal_(0, 0.5, generator=g)
            module.cpb_mlp[2].weight.normal_(0, 0.1, generator=g)
        if isinstance(module, SwinBlockV2):
            for norm in (module.norm1, module.norm2):
                norm.weight.normal_(1, 0.2, generator=g)
    return model.to(torch.float64)


def _block(window, shift, mask_padding=False, pretrained=0, fast=True):
    torch.manual_seed(0)
    block = SwinBlockV2(16, 2, window, shift=shift, mask_padding=mask_padding,
                        pretrained_window_size=pretrained, fast=fast).eval()
    return widen_v2(block)


# --- against the paper -----------------------------------------------------------------------
@pytest.mark.parametrize('shift', [False, True])
@pytest.mark.parametrize('size', [(8, 8), (13, 17), (5, 9), (1, 1)])
@pytest.mark.parametrize('window, pretrained', [(4, 0), ((3, 5), 0), (4, 6)])
def test_block_matches_paper(shift, size, window, pretrained):
    block = _block(window, shift, pretrained=pretrained)
    x = torch.randn(2, *size, 16, dtype=torch.float64)
    with torch.no_grad():
        assert_all_close([block(x)], [naive_block_v2(block, x)], 1e-5)
        assert_all_close([block.forward_reference(x)], [naive_block_v2(block, x)], 1e-5)


@pytest.mark.parametrize('shift', [False, True])
def test_block_masking_padding_matches_paper(shift):
    block = _block(4, shift, mask_padding=True)
    x = torch.randn(1, 11, 7, 16, dtype=torch.float64)
    with torch.no_grad():
        assert_all_close([block(x)], [naive_block_v2(block, x)], 1e-5)


def test_logit_scale_is_clamped_at_100():
    block = _block(4, True)
    x = torch.randn(1, 8, 8, 16, dtype=torch.float64)
    with torch.no_grad():
        block.attn.logit_scale[0] = math.log(100.0)
        at_clamp = block(x)
        block.attn.logit_scale[0] = math.log(5000.0)
        torch.testing.assert_close(block(x), at_clamp, rtol=0, atol=0)
        block.attn.logit_scale[0] = math.log(20.0)
        assert (block(x) - at_clamp).abs().max() > 1e-3  # below the clamp the scale matters


@pytest.mark.parametrize('window, pretrained', [((4, 4), (0, 0)), ((3, 5), (0, 0)),
                                                ((16, 16), (8, 8)), ((7, 7), (12, 12))])
def test_position_bias_from_coordinates(window, pretrained):
    block = SwinBlockV2(16, 2, window, pretrained_window_size=pretrained).double()
    widen_v2(block)
    with torch.no_grad():
        bias = block.attn.relative_position_bias()
        # the coordinates are float32 (as released), whatever the weights' dtype
        torch.testing.assert_close(bias, naive_bias(block.attn), rtol=1e-6, atol=1e-6)


def test_log_spaced_coordinates_known_values():
    coords = log_spaced_coords((8, 8))  # offsets -7..7 over 7 -> -8..8
    assert coords.shape == (15 * 15, 2)
    assert coords[0].tolist() == pytest.approx([-math.log2(9) / 3] * 2)
    assert coords[7 * 15 + 7].tolist() == [0.0, 0.0]
    wide = log_spaced_coords((16, 16), (8, 8))  # offsets up to 15 normalised by 7
    assert wide.abs().max().item() == pytest.approx(math.log2(15 / 7 * 8 + 1) / 3)


def test_whole_model_outputs_and_gradients_match_paper():
    torch.manual_seed(0)
    model = widen_v2(SwinV2Backbone(**SMALL, pretrained_window_sizes=(3, 4, 5, 6)).eval())
    x = torch.randn(2, 3, 37, 45, dtype=torch.float64, requires_grad=True)
    outs = model(x)
    expected = naive_backbone_v2(model, x)
    assert_all_close(outs, expected, 1e-5)
    params = [p for p in model.parameters()] + [x]
    got = torch.autograd.grad(projection_loss(outs), params)
    want = torch.autograd.grad(projection_loss(expected), params)
    assert all(w.abs().max() > 0 for w in want[:-1:7])  # the sampled gradients are not all zero
    assert_all_close(got, want, 1e-4, 'gradient')


@pytest.mark.parametrize('training', [False, True])
def test_fast_paths_match_reference_path(training):
    """In float32 (the fast paths' dtype) both paths are measured against the reference path in
    float64: the fast one may not be more than twice as far (logit scales up to 100 make the
    softmax sharp, so float32 gradients of the scales round at ~1e-4 on either path)."""
    torch.manual_seed(0)
    fast = widen_v2(SwinV2Backbone(**SMALL)).float().train(training)
    plain = reference_copy(fast)
    exact = reference_copy(fast).double()
    x = torch.randn(2, 3, 45, 61)
    with torch.set_grad_enabled(training):
        results = {}
        for name, model in (('fast', fast), ('plain', plain), ('exact', exact)):
            outs = model(x.to(next(model.parameters()).dtype))
            grads = torch.autograd.grad(projection_loss(outs), list(model.parameters())) \
                if training else ()
            results[name] = list(outs) + list(grads)
    assert_all_close(results['fast'][:4], results['plain'][:4], 1e-5)
    for i, (f, p, e) in enumerate(zip(results['fast'], results['plain'], results['exact'])):
        assert relative_error(p, e) < 1e-3, i  # the same weights: the float32 path is close
        floor = 1e-5 if i < 4 else 1e-4  # outputs, then gradients
        assert relative_error(f, e) <= max(2 * relative_error(p, e), floor), i


# --- the contract shared with V1 -------------------------------------------------------------
@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
def test_every_arch_shapes(arch):
    model = SwinV2Backbone(arch, drop_path_rate=0.0).eval()
    C = ARCH_SETTINGS[arch]['embed_dims']
    assert model.out_channels == (C, 2 * C, 4 * C, 8 * C) and model.strides == (4, 8, 16, 32)
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 65, 47))
    assert [tuple(o.shape) for o in outs] == [
        (1, C * 2 ** i, math.ceil(65 / 2 ** (i + 2)), math.ceil(47 / 2 ** (i + 2)))
        for i in range(4)]


def test_paper_sizes():
    params = {a: sum(p.numel() for p in SwinV2Backbone(a).parameters()) / 1e6
              for a in ('tiny', 'base')}
    # the paper's SwinV2-T 28M / SwinV2-B 88M include the 1000-class head (0.77M / 1.03M)
    assert 27.5 < params['tiny'] < 27.7
    assert 86.8 < params['base'] < 87.1


def test_per_stage_windows_and_pretrained_windows():
    model = SwinV2Backbone('tiny', window_size=[16, 16, 16, 8], pretrained_window_sizes=[12, 12,
                                                                                          12, 6])
    assert model.window_sizes == ((16, 16),) * 3 + ((8, 8),)
    attn = [layer.blocks[0].attn for layer in model.layers]
    assert [a.window_size for a in attn] == [(16, 16)] * 3 + [(8, 8)]
    assert [a.pretrained_window_size for a in attn] == [(12, 12)] * 3 + [(6, 6)]
    assert model.size_divisibility == 256  # 4 * 16, 8 * 16, 16 * 16, 32 * 8 and 32 divide it


def test_post_norms_start_at_zero_as_released():
    model = SwinV2Backbone('tiny')
    block = model.layers[2].blocks[3]
    assert block.norm1.weight.abs().sum() == 0 and block.norm2.weight.abs().sum() == 0
    assert model.norm2.weight.eq(1).all()  # the output norms are not post-norms


def test_frozen_stages_with_cp_and_every_parameter_trained():
    torch.manual_seed(0)
    model = widen_v2(SwinV2Backbone(**SMALL, frozen_stages=1, with_cp=True)).float().train()
    assert not model.layers[0].training and model.layers[2].training
    projection_loss(model(torch.randn(1, 3, 40, 44))).backward()
    for name, p in model.named_parameters():
        frozen = name.startswith(('patch_embed', 'layers.0.', 'norm0'))
        assert (p.grad is None) == frozen, name


def test_autocast_bfloat16_close_to_fp32():
    torch.manual_seed(0)
    model = SwinV2Backbone(**SMALL).eval()
    widen_parameters(model)
    x = torch.randn(1, 3, 48, 40)
    with torch.no_grad():
        want = model(x)
        with torch.autocast('cpu', torch.bfloat16):
            got = model(x)
    assert all(g.dtype == torch.bfloat16 for g in got)
    assert_all_close([g.float() for g in got], want, 0.05)


def test_errors_name_the_value():
    with pytest.raises(ConfigError, match='qk_scale'):
        SwinV2Backbone('tiny', qk_scale=0.1)
    with pytest.raises(ConfigError, match=r'window_size=\[8, 8\].*4 stages'):
        SwinV2Backbone('tiny', window_size=[8, 8])
    with pytest.raises(ConfigError, match='pretrained_window_sizes=-1'):
        SwinV2Backbone('tiny', pretrained_window_sizes=-1)
    with pytest.raises(TypeError, match="SwinV2Backbone got unknown.*'pretrained_window_size'"):
        SwinV2Backbone('tiny', pretrained_window_size=8)


def test_registered_for_detection_and_segmentation():
    mmdet = pytest.importorskip('mmdet.registry')
    mmseg = pytest.importorskip('mmseg.registry')
    for registry in (mmdet.MODELS, mmseg.MODELS):
        model = registry.build(dict(type='SwinV2Backbone', arch='tiny', window_size=8,
                                    out_indices=(1, 2, 3)))
        assert isinstance(model, SwinV2Backbone) and model.out_channels == (192, 384, 768)

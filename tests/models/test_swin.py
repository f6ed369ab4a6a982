"""SwinBackbone: shapes, what it advertises, training behaviour, errors."""
import copy
import math

import pytest
import torch

from swin_mm import ARCH_SETTINGS, SwinBackbone
from swin_mm.fast import gemm
from tests.helpers.losses import projection_loss


def _expected_shapes(model, size, batch=1):
    H, W = size
    return [(batch, model.embed_dims * 2 ** i,
             math.ceil(H / 2 ** (i + 2)), math.ceil(W / 2 ** (i + 2)))
            for i in range(4)]


@pytest.mark.parametrize('shape', [(1, 3, 224, 224), (2, 3, 112, 137), (1, 3, 33, 47),
                                   (1, 3, 1, 1), (1, 3, 800, 1216)])
def test_tiny_shapes_any_size(shape):
    model = SwinBackbone('tiny').eval()
    with torch.no_grad():
        outs = model(torch.randn(shape))
    assert [tuple(o.shape) for o in outs] == _expected_shapes(model, shape[2:], shape[0])
    assert all(torch.isfinite(o).all() for o in outs)
    assert all(o.is_contiguous() for o in outs)


@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
def test_every_arch(arch):
    model = SwinBackbone(arch, drop_path_rate=0.0).eval()
    spec = ARCH_SETTINGS[arch]
    C = spec['embed_dims']
    assert model.out_channels == (C, 2 * C, 4 * C, 8 * C)
    assert model.strides == (4, 8, 16, 32)
    assert model.depths == spec['depths'] and model.num_heads == spec['num_heads']
    assert [len(layer.blocks) for layer in model.layers] == list(spec['depths'])
    assert [layer.blocks[0].attn.num_heads for layer in model.layers] == list(spec['num_heads'])
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 65, 47))
    assert [tuple(o.shape) for o in outs] == _expected_shapes(model, (65, 47))


def test_paper_sizes():
    params = {a: sum(p.numel() for p in SwinBackbone(a).parameters()) / 1e6
              for a in ('tiny', 'base')}
    # the paper's 28M / 88M include the 1000-class head (0.77M / 1.03M) and the final norm
    assert 27.4 < params['tiny'] < 27.6
    assert 86.7 < params['base'] < 86.9


def test_out_indices_and_advertised_shape():
    model = SwinBackbone('tiny', out_indices=(1, 3)).eval()
    assert model.out_channels == (192, 768) and model.strides == (8, 32)
    assert model.output_shape() == {'stage1': dict(channels=192, stride=8),
                                    'stage3': dict(channels=768, stride=32)}
    assert not hasattr(model, 'norm0') and hasattr(model, 'norm1')
    assert model.size_divisibility == 32 * 7
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 96))
    assert [o.shape[1] for o in outs] == list(model.out_channels)
    assert [64 // o.shape[2] for o in outs] == list(model.strides)


def test_explicit_dims_override_arch_and_alias():
    model = SwinBackbone('t', embed_dims=32, depths=(1, 1), num_heads=(2, 4), out_indices=(0, 1))
    assert model.out_channels == (32, 64) and model.strides == (4, 8)
    model = SwinBackbone(embed_dims=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32))
    assert model.out_channels == (128, 256, 512, 1024)


def test_stochastic_depth_is_linear_over_all_blocks():
    model = SwinBackbone('tiny', drop_path_rate=0.2)
    rates = [b.drop_path.drop_prob for layer in model.layers for b in layer.blocks]
    assert len(rates) == 12
    assert rates == pytest.approx([0.2 * i / 11 for i in range(12)])


def test_shifts_alternate_and_windows_never_change():
    model = SwinBackbone('tiny', window_size=7).eval()
    shifts = [b.shift_size for layer in model.layers for b in layer.blocks]
    assert shifts[:4] == [(0, 0), (3, 3), (0, 0), (3, 3)]
    with torch.no_grad():
        model(torch.randn(1, 3, 40, 40))  # stage 3 is 2x2 tokens, smaller than a window
    assert all(b.window_size == (7, 7) for layer in model.layers for b in layer.blocks)
    assert [b.shift_size for layer in model.layers for b in layer.blocks] == shifts


def test_relative_position_index_is_not_persistent():
    keys = SwinBackbone('tiny').state_dict().keys()
    assert not any('relative_position_index' in k or 'attn_mask' in k for k in keys)
    expected = {'patch_embed.proj.weight', 'patch_embed.norm.weight',
                'layers.0.blocks.0.norm1.weight', 'layers.0.blocks.1.attn.qkv.weight',
                'layers.0.blocks.1.attn.proj.bias',
                'layers.0.blocks.1.attn.relative_position_bias_table',
                'layers.2.blocks.5.mlp.fc1.weight', 'layers.2.blocks.5.mlp.fc2.bias',
                'layers.0.downsample.reduction.weight', 'layers.2.downsample.norm.weight',
                'norm0.weight', 'norm3.bias'}
    assert expected <= set(keys)
    assert 'layers.3.downsample.reduction.weight' not in keys


def test_every_parameter_gets_a_gradient():
    model = SwinBackbone('tiny', depths=(2, 2, 2, 2), use_abs_pos_embed=True).train()
    projection_loss(model(torch.randn(2, 3, 61, 83))).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert missing == []


def test_frozen_stages_get_no_gradient_and_stay_in_eval():
    model = SwinBackbone('tiny', depths=(2, 2, 2, 2), frozen_stages=2, drop_path_rate=0.1,
                         use_abs_pos_embed=True)
    assert model.train() is model and model.eval() is model
    model.train()
    frozen = [model.patch_embed, model.layers[0], model.layers[1], model.norm0, model.norm1]
    assert not any(m.training for f in frozen for m in f.modules())
    assert model.layers[2].training and model.norm2.training
    sum(o.sum() for o in model(torch.randn(1, 3, 64, 64))).backward()
    for name, p in model.named_parameters():
        is_frozen = name.startswith(('patch_embed', 'absolute_pos_embed', 'layers.0.',
                                     'layers.1.', 'norm0', 'norm1'))
        assert p.requires_grad == (not is_frozen), name
        assert (p.grad is None) == is_frozen, name


def test_gradient_checkpointing_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = SwinBackbone('tiny', depths=(2, 2, 2, 2), drop_path_rate=0.0)
    ckpt = SwinBackbone('tiny', depths=(2, 2, 2, 2), drop_path_rate=0.0, with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 75, 53)
    outs = []
    for model in (plain, ckpt):
        model.train()
        y = model(x)
        projection_loss(y).backward()
        outs.append((y, {n: p.grad for n, p in model.named_parameters()}))
    for a, b in zip(outs[0][0], outs[1][0]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for name, grad in outs[0][1].items():
        torch.testing.assert_close(grad, outs[1][1][name], rtol=1e-5, atol=1e-7, msg=name)


def test_drop_path_and_dropout_only_in_training():
    model = SwinBackbone('tiny', depths=(2, 2, 2, 2), drop_path_rate=0.5, drop_rate=0.3,
                         attn_drop_rate=0.3)
    x = torch.randn(1, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        a, b = model(x), model(x)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    model.train()
    with torch.no_grad():
        c = model(x)
    assert not torch.allclose(a[-1], c[-1])


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast(dtype):
    model = SwinBackbone('tiny', depths=(2, 2, 2, 2)).eval()
    x = torch.randn(1, 3, 70, 90)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast('cpu', dtype=dtype):
            outs = model(x)
    for r, o in zip(ref, outs):
        assert torch.isfinite(o).all()
        assert (o.float() - r).abs().mean() < 0.05 * r.abs().mean()


def test_absolute_position_embedding_resized_to_any_grid():
    model = SwinBackbone('tiny', depths=(1, 1, 1, 1), use_abs_pos_embed=True,
                         pretrain_img_size=224).eval()
    assert model.absolute_pos_embed.shape == (1, 96, 56, 56)
    with torch.no_grad():
        for size in [(224, 224), (97, 131), (4, 4)]:
            assert model(torch.randn(1, 3, *size))[0].shape[2:] == \
                (math.ceil(size[0] / 4), math.ceil(size[1] / 4))


def test_mask_padding_option_reaches_every_block():
    model = SwinBackbone('tiny', mask_padding=True)
    assert all(b.mask_padding for layer in model.layers for b in layer.blocks)
    x = torch.randn(1, 3, 100, 130)
    model.eval()
    with torch.no_grad():
        on = model(x)
        for layer in model.layers:
            for b in layer.blocks:
                b.mask_padding = False
        off = model(x)
    assert not torch.allclose(on[0], off[0])


@pytest.mark.parametrize('bad, match', [
    (torch.randn(3, 32, 32), r'4-D \(B, C, H, W\).*\(3, 32, 32\)'),
    (torch.randn(1, 1, 32, 32), r'3 input channels, got 1'),
    (torch.randn(0, 3, 32, 32), r'empty input'),
    (torch.randn(1, 3, 0, 32), r'empty input'),
])
def test_bad_input_value_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        SwinBackbone('tiny', depths=(1, 1, 1, 1))(bad)


def test_integer_input_type_error():
    with pytest.raises(TypeError, match='floating-point'):
        SwinBackbone('tiny', depths=(1, 1, 1, 1))(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))


@pytest.mark.parametrize('kwargs, match', [
    (dict(arch='huge'), "unknown arch 'huge'"),
    (dict(depths=(2, 2, 6), num_heads=(3, 6, 12, 24)), 'same length'),
    (dict(embed_dims=100, num_heads=(3, 6, 12, 24)), 'not divisible by num_heads'),
    (dict(out_indices=(0, 4)), r'out_indices \(0, 4\)'),
    (dict(frozen_stages=5), 'frozen_stages 5'),
    (dict(strides=(4, 2, 2, 1)), r'strides \(4, 2, 2, 1\)'),
    (dict(act_cfg=dict(type='ReLU')), 'act_cfg'),
    (dict(pretrained='a.pth', init_cfg=dict(type='Pretrained', checkpoint='b.pth')), 'not both'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SwinBackbone(**kwargs)


def test_mmdet_constructor_arguments_accepted():
    model = SwinBackbone(pretrain_img_size=224, in_channels=3, embed_dims=96, patch_size=4,
                         window_size=7, mlp_ratio=4, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24),
                         strides=(4, 2, 2, 2), out_indices=(0, 1, 2, 3), qkv_bias=True,
                         qk_scale=None, patch_norm=True, drop_rate=0.0, attn_drop_rate=0.0,
                         drop_path_rate=0.2, use_abs_pos_embed=False, act_cfg=dict(type='GELU'),
                         norm_cfg=dict(type='LN', requires_grad=True), with_cp=False,
                         convert_weights=True, frozen_stages=-1, init_cfg=None)
    assert model.out_channels == (96, 192, 384, 768)
    assert SwinBackbone(pretrained='x.pth').init_cfg == dict(type='Pretrained', checkpoint='x.pth')


def test_typo_in_an_argument_names_the_likely_one():
    with pytest.raises(TypeError, match=r"'embed_dim' \(did you mean 'embed_dims'\?\)"):
        SwinBackbone(embed_dim=96)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('backward_inside', [False, True])
def test_autocast_training_step(dtype, backward_inside):
    """Mixed-precision training as MMEngine's AmpOptimWrapper runs it (forward under autocast,
    backward after it) and with backward inside the region: the memory-lean attention and MLP
    give finite float32 gradients close to float32 training's."""
    torch.manual_seed(0)
    model = SwinBackbone('tiny', depths=(2, 2, 2, 2), drop_path_rate=0.0).train()  # same graph
    x = torch.randn(1, 3, 70, 90)
    weights = [torch.randn(o.shape) for o in model(x)]  # a loss without LayerNorm's cancellation

    def loss_of(outs):
        return sum((o.float() * w).sum() for o, w in zip(outs, weights))

    model.zero_grad()
    loss_of(model(x)).backward()
    ref = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    with torch.autocast('cpu', dtype=dtype):
        loss = loss_of(model(x))
        if backward_inside:
            loss.backward()
    if not backward_inside:
        loss.backward()
    for name, p in model.named_parameters():
        assert p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all(), name
        err = (p.grad - ref[name]).norm() / ref[name].norm()
        assert err < 0.1, (name, err.item())


def test_inference_mode_then_training_at_the_same_size():
    """Index and mask tensors cached during a torch.inference_mode forward are normal tensors,
    so a training step at the same size can save them for backward; a model built inside
    inference_mode (weights without version counters) runs too."""
    model = SwinBackbone('tiny', depths=(2, 2, 2, 2), drop_path_rate=0.0).eval()
    x = torch.randn(1, 3, 61, 83)
    with torch.inference_mode():
        expected = model(x)
        built_there = SwinBackbone('tiny', depths=(2, 2, 2, 2)).eval()
        built_there.load_state_dict(model.state_dict())
        for got, want in zip(built_there(x), expected):
            assert torch.equal(got, want)
    outs = model.train()(x)
    sum(o.sum() for o in outs).backward()
    assert model.patch_embed.proj.weight.grad is not None


@pytest.mark.parametrize('onednn', [False, pytest.param(True, marks=pytest.mark.skipif(
    not gemm.ONEDNN_AVAILABLE, reason="this torch build has no oneDNN linear"))])
def test_inference_after_unseen_weight_changes_uses_the_new_weights(onednn, monkeypatch):
    """Evaluate, train with a fused optimizer (no version-counter bumps), swap weights in through
    ``.data`` as MMEngine's EMAHook does, evaluate again: the same outputs as a fresh copy."""
    monkeypatch.setattr(gemm, 'ONEDNN', onednn)
    torch.manual_seed(0)
    model = SwinBackbone('tiny', depths=(2, 2, 2, 2), drop_path_rate=0.0).eval()
    x = torch.randn(1, 3, 61, 83)
    with torch.no_grad():
        model(x)  # packs the weights (oneDNN)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    model.train()
    for _ in range(2):
        optimizer.zero_grad()
        sum(o.square().mean() for o in model(torch.randn(1, 3, 61, 83))).backward()
        optimizer.step()
    model.eval()
    for _ in range(2):  # the trained weights, then others swapped in through .data
        fresh = copy.deepcopy(model)
        with torch.no_grad():
            for got, want in zip(model(x), fresh(x)):
                assert torch.equal(got, want)
            for p in model.parameters():
                p.data.copy_(torch.randn_like(p) * 0.02)

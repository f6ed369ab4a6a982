"""MMPretrain 1.x's own Swin tests (tests/test_models/test_backbones/test_swin_transformer.py),
ported to SwinBackbone: every case, each assertion's intent kept.

Translated: ``img_size`` -> ``pretrain_img_size``; ``stage_cfgs.block_cfgs.window_size`` ->
``window_size``; MMPretrain emits the last stage by default, so ``out_indices=(3,)``;
``stages`` -> ``layers``; ``attn.w_msa.num_heads`` -> ``attn.num_heads``; the stochastic depth of
both branches is one ``drop_path``. Deliberate differences (README, "Differences from
MMDetection's SwinTransformer"), asserted here as swin_mm behaves:
- maps smaller than the window are padded, always (MMPretrain refuses them unless
  ``pad_small_map=True``);
- ``frozen_stages=k`` follows MMDetection: k=0 freezes the patch embedding only, so MMPretrain's 0
  is swin_mm's 1;
- LayerNorm only: ``norm_cfg=dict(type='BN')`` (and so ``norm_eval``) is refused;
- heads that do not divide a stage's channels are refused when built;
- the absolute position embedding is drawn in the constructor, not left at zero until
  ``init_weights``.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from swin_mm import SwinBackbone
from swin_mm.serialization import atomic_save
from tests.helpers.openmmlab import load_official_into_openmmlab, mmdet_swin, to_mmpretrain_layout

CFG = dict(arch='b', pretrain_img_size=224, patch_size=4, drop_path_rate=0.1, out_indices=(3,))


def _model(**changes):
    return SwinBackbone(**{**CFG, **changes})


def test_arch():
    with pytest.raises(AssertionError, match='not in default archs'):
        _model(arch='unknown')
    with pytest.raises(AssertionError, match='(?i)custom arch needs'):
        _model(arch=dict(embed_dims=96, num_heads=[3, 6, 12, 16]))
    with pytest.raises(AssertionError, match=r'256 channels, not divisible by num_heads\[0\]=6'):
        _model(arch=dict(embed_dims=256, depths=[2, 2, 4, 2], num_heads=[6, 12, 6, 12]))
    depths, num_heads = [2, 2, 4, 2], [4, 8, 4, 8]
    model = _model(arch=dict(embed_dims=256, depths=depths, num_heads=num_heads))
    for i, stage in enumerate(model.layers):
        assert stage.blocks[0].norm1.normalized_shape == (256 * 2 ** i,)
        assert len(stage.blocks) == depths[i]
        assert stage.blocks[0].attn.num_heads == num_heads[i]


def _timm_resize_pos_embed(embed, grid):
    """timm's resize of a (1, L, C) square-grid embedding (the reference MMPretrain uses)."""
    old = int(math.sqrt(embed.shape[1]))
    image = embed.reshape(1, old, old, -1).permute(0, 3, 1, 2)
    image = F.interpolate(image, size=grid, mode='bicubic', align_corners=False)
    return image.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], -1)


def _mmpretrain_checkpoint(model, path, version):
    """``model``'s weights as MMPretrain saves them: its key layout, (1, L, C) position embedding;
    version 1 also names the last output norm ``norm`` and stores the shift masks."""
    arch = dict(embed_dims=model.embed_dims, depths=model.depths, num_heads=model.num_heads)
    ref = load_official_into_openmmlab(mmdet_swin(**arch), {
        k: v for k, v in model.state_dict().items() if k != 'absolute_pos_embed'})
    sd = to_mmpretrain_layout({k: v for k, v in ref.state_dict().items()
                               if k != 'absolute_pos_embed'})
    sd['absolute_pos_embed'] = model.absolute_pos_embed.flatten(2).transpose(1, 2).detach()
    if version == 1:
        for key in [k for k in sd if k.startswith('norm3.')]:
            sd['norm.' + key[len('norm3.'):]] = sd.pop(key)
        sd['stages.0.blocks.1.attn.attn_mask'] = torch.zeros(64, 49, 49)
    atomic_save({'meta': {'version': version},
                 'state_dict': {f'backbone.{k}': v for k, v in sd.items()}}, path)


def test_init_weights(tmp_path):
    init_cfg = [dict(type='Kaiming', layer='Conv2d', mode='fan_in', nonlinearity='linear')]
    model = _model(use_abs_pos_embed=True, init_cfg=init_cfg, out_indices=(0, 1, 2, 3))
    assert not torch.allclose(model.absolute_pos_embed, torch.tensor(0.))  # drawn when built
    before = model.patch_embed.proj.weight.clone()
    model.init_weights()
    assert not torch.allclose(before, model.patch_embed.proj.weight)  # Kaiming applied
    with torch.no_grad():
        model.norm3.weight.normal_()  # loading it from `norm` must show
    _mmpretrain_checkpoint(model, tmp_path / 'v3.pth', version=3)
    _mmpretrain_checkpoint(model, tmp_path / 'v1.pth', version=1)
    for name in ('v1.pth', 'v3.pth'):
        loaded = _model(use_abs_pos_embed=True, out_indices=(0, 1, 2, 3),
                        init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / name)))
        loaded.init_weights()
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), (name, key)
    bigger = _model(pretrain_img_size=384, use_abs_pos_embed=True, out_indices=(0, 1, 2, 3),
                    init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'v3.pth')))
    bigger.init_weights()
    expected = _timm_resize_pos_embed(model.absolute_pos_embed.flatten(2).transpose(1, 2),
                                      (96, 96))
    got = bigger.absolute_pos_embed.flatten(2).transpose(1, 2)
    torch.testing.assert_close(got, expected)


def test_forward():
    imgs = torch.randn(1, 3, 224, 224)
    outs = _model()(imgs)
    assert isinstance(outs, tuple) and len(outs) == 1
    assert outs[-1].shape == (1, 1024, 7, 7)

    model = _model(window_size=12)
    outs = model(torch.randn(1, 3, 384, 384))
    assert len(outs) == 1 and outs[-1].shape == (1, 1024, 12, 12)
    # MMPretrain refuses a 7x7 map under a 12x12 window unless pad_small_map=True; swin_mm pads
    assert model(imgs)[-1].shape == (1, 1024, 7, 7)

    outs = _model(out_indices=(0, 1, 2, 3))(imgs)
    assert len(outs) == 4
    for stride, out in zip([1, 2, 4, 8], outs):
        assert out.shape == (1, 128 * stride, 56 // stride, 56 // stride)


def test_forward_with_checkpointing():
    model = _model(with_cp=True)
    assert all(stage.with_cp for stage in model.layers)
    model.init_weights()
    model.train()
    outs = model(imgs := torch.randn(1, 3, 224, 224, requires_grad=True))
    assert len(outs) == 1 and outs[-1].shape == (1, 1024, 7, 7)
    outs[-1].mean().backward()
    assert imgs.grad is not None


@pytest.mark.parametrize('size', [(224, 224), (256, 256), (256, 309)])
def test_dynamic_input_shape(size):
    feat = _model()(torch.randn(1, 3, *size))[-1]
    assert feat.shape == (1, 1024, math.ceil(size[0] / 32), math.ceil(size[1] / 32))


def test_drop_path_rate_decay():
    model = _model(drop_path_rate=0.2)
    blocks = [block for stage in model.layers for block in stage.blocks]
    assert len(blocks) == sum(model.depths)
    for i, block in enumerate(blocks):
        assert block.drop_path.drop_prob == pytest.approx(0.2 / (len(blocks) - 1) * i)


def test_batch_norm_refused():
    with pytest.raises(AssertionError, match=r"norm_cfg .*'BN'.* not supported"):
        _model(norm_cfg=dict(type='BN'))


def test_first_stage_frozen():
    model = _model(frozen_stages=1, out_indices=(0, 1, 2, 3))  # MMPretrain's frozen_stages=0
    model.init_weights()
    model.train()
    assert not model.patch_embed.training
    assert not any(p.requires_grad for p in model.patch_embed.parameters())
    assert not any(p.requires_grad for p in model.layers[0].parameters())
    assert not any(p.requires_grad for p in model.norm0.parameters())
    for i in range(1, 4):
        assert all(p.requires_grad for p in model.layers[i].parameters())
        assert all(p.requires_grad for p in getattr(model, f'norm{i}').parameters())

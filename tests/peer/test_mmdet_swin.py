"""MMDetection 3.x's own Swin tests (tests/test_models/test_backbones/test_swin.py), ported to
SwinBackbone: every case, each assertion's intent kept. Attribute names translated:
``ffn.embed_dims`` -> ``mlp.fc1.in_features``, ``attn.w_msa.num_heads`` -> ``attn.num_heads``,
``feedforward_channels`` -> ``mlp_ratio``; blocks take (B, H, W, C) instead of (B, H*W, C) plus the
size; gradient checkpointing is a stage's ``with_cp``."""
import pytest
import torch

from swin_mm import SwinBackbone
from swin_mm.models import SwinBlock, SwinStage


def test_swin_block():
    block = SwinBlock(64, num_heads=4, mlp_ratio=256 / 64)
    assert block.mlp.fc1.in_features == 64
    assert block.attn.num_heads == 4
    assert block.mlp.fc1.out_features == 256
    x = torch.randn(1, 56, 56, 64)
    assert block(x).shape == (1, 56, 56, 64)


def test_swin_block_with_checkpoint_forward():
    torch.manual_seed(0)
    stage = SwinStage(64, depth=2, num_heads=4, drop_path=[0.0, 0.0], downsample=False,
                      with_cp=True).train()
    assert stage.with_cp
    x = torch.randn(1, 56, 56, 64, requires_grad=True)
    out, _ = stage(x)
    assert out.shape == (1, 56, 56, 64)
    out.square().mean().backward()
    grad, x.grad = x.grad, None
    stage.with_cp = False  # checkpointing recomputes; it changes neither output nor gradient
    plain, _ = stage(x)
    plain.square().mean().backward()
    torch.testing.assert_close(out, plain)
    torch.testing.assert_close(grad, x.grad)


def test_pretrained_must_be_str_or_none():
    with pytest.raises(TypeError, match='pretrained must be a checkpoint path'):
        SwinBackbone(pretrained=123)


def test_patch_embed_stride_must_equal_patch_size():
    with pytest.raises(AssertionError, match=r'strides \(2, 2, 2, 2\) not supported'):
        SwinBackbone(strides=(2, 2, 2, 2), patch_size=4)


def test_pretrain_img_size_of_three_refused():
    with pytest.raises(AssertionError, match=r'pretrain_img_size \(224, 224, 224\)'):
        SwinBackbone(pretrain_img_size=(224, 224, 224))


def test_absolute_position_embedding():
    model = SwinBackbone(pretrain_img_size=224, use_abs_pos_embed=True)
    model.init_weights()
    outs = model(torch.randn(1, 3, 224, 224))
    assert outs[0].shape == (1, 96, 56, 56)


def test_patch_norm_false():
    model = SwinBackbone(patch_norm=False)
    assert model.patch_embed.norm is None
    assert all(stage.downsample.norm is None for stage in model.layers[:-1])  # as MMDetection
    outs = model(torch.randn(1, 3, 224, 224))
    assert outs[3].shape == (1, 768, 7, 7)


@pytest.mark.parametrize('size, expected', [
    ((512, 512), [(128, 128), (64, 64), (32, 32), (16, 16)]),
    ((511, 511), [(128, 128), (64, 64), (32, 32), (16, 16)]),  # abnormal inference size
    ((112, 137), [(28, 35), (14, 18), (7, 9), (4, 5)]),
])
def test_inference_shapes(size, expected):
    model = SwinBackbone()
    outs = model(torch.randn(1, 3, *size))
    assert [o.shape for o in outs] == [(1, c, *hw) for c, hw in zip((96, 192, 384, 768), expected)]


def test_frozen_stages_four_freezes_everything():
    model = SwinBackbone(frozen_stages=4)
    model.train()
    assert not any(p.requires_grad for p in model.parameters())

"""MMSegmentation 1.x's own Swin test (tests/test_models/test_backbones/test_swin.py), ported to
SwinBackbone: every case, each assertion's intent kept. The cases it shares with MMDetection's
file are in test_mmdet_swin.py and run there once; this file has the rest and the whole sequence
as MMSegmentation wrote it."""
import pytest
import torch

from swin_mm import SwinBackbone


def test_pretrain_img_size_of_one_is_square():
    model = SwinBackbone(pretrain_img_size=(224,), use_abs_pos_embed=True)
    assert model.absolute_pos_embed.shape == (1, 96, 56, 56)


def test_swin_transformer_sequence():
    with pytest.raises(TypeError):
        SwinBackbone(pretrained=123)
    with pytest.raises(AssertionError):
        SwinBackbone(strides=(2, 2, 2, 2), patch_size=4)
    temp = torch.randn((1, 3, 224, 224))
    model = SwinBackbone(pretrain_img_size=224, use_abs_pos_embed=True)
    model.init_weights()
    model(temp)
    model = SwinBackbone(patch_norm=False)
    model(temp)
    SwinBackbone(pretrain_img_size=(224,))
    with pytest.raises(AssertionError):
        SwinBackbone(pretrain_img_size=(224, 224, 224))
    model = SwinBackbone()
    for size, last in (((512, 512), (16, 16)), ((511, 511), (16, 16)), ((112, 137), (4, 5))):
        outs = model(torch.randn(1, 3, *size))
        assert outs[3].shape == (1, 768, *last)
        assert [o.shape[1] for o in outs] == [96, 192, 384, 768]

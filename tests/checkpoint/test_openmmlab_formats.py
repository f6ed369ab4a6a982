"""Checkpoints made by MMDetection's and MMSegmentation's own SwinTransformer (random init through
their init_weights) load into SwinBackbone and reproduce the source model's stage outputs."""
import pytest
import torch

from swin_mm import SwinBackbone
from swin_mm.checkpoint import load_pretrained
from swin_mm.serialization import atomic_save
from tests.helpers.openmmlab import mmdet_swin, mmseg_swin, relative_error, to_mmpretrain_layout

ARCH = dict(embed_dims=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), drop_path_rate=0.0)


def _random_reference(factory, seed, **extra):
    torch.manual_seed(seed)
    model = factory(**ARCH, **extra)
    model.init_weights()
    with torch.no_grad():  # init_weights leaves biases at 0 and norms at 1: perturb everything
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.eval()
    return model


def _check(reference, path, expected_format, x, **model_kwargs):
    ours = SwinBackbone(**ARCH, **model_kwargs).eval()
    report = load_pretrained(ours, str(path))
    assert report.format == expected_format
    assert report.missing == [] and report.unexpected == []
    with torch.no_grad():
        for i, (a, b) in enumerate(zip(ours(x), reference(x))):
            assert relative_error(a, b) < 1e-5, (i, relative_error(a, b))
    return report


@pytest.fixture
def x():
    torch.manual_seed(3)
    return torch.randn(2, 3, 93, 141)


@pytest.mark.parametrize('factory', [mmdet_swin, mmseg_swin], ids=['mmdet', 'mmseg'])
def test_openmmlab_detector_checkpoint(tmp_path, x, factory):
    ref = _random_reference(factory, 0)
    sd = {f'backbone.{k}': v for k, v in ref.state_dict().items()}
    sd['neck.fpn_convs.0.conv.weight'] = torch.zeros(1)
    atomic_save({'meta': {'epoch': 1}, 'state_dict': sd}, tmp_path / 'det.pth')
    report = _check(ref, tmp_path / 'det.pth', 'openmmlab', x)
    assert any(k.endswith('relative_position_index')
               for k in report.expected_unused['buffers (rebuilt by the model)'])


def test_mmpretrain_layout(tmp_path, x):
    ref = _random_reference(mmdet_swin, 1)
    sd = {f'backbone.{k}': v for k, v in to_mmpretrain_layout(ref.state_dict()).items()}
    sd['head.fc.weight'] = torch.zeros(10, 256)
    atomic_save({'state_dict': sd}, tmp_path / 'cls.pth')
    _check(ref, tmp_path / 'cls.pth', 'openmmlab', x)


def test_official_dict_derived_from_mmdet_model(tmp_path, x):
    ref = _random_reference(mmdet_swin, 2)
    atomic_save({'state_dict': ref.state_dict()}, tmp_path / 'mm.pth')
    ours = SwinBackbone(**ARCH).eval()
    load_pretrained(ours, str(tmp_path / 'mm.pth'))
    official = {k: v for k, v in ours.state_dict().items() if not k.startswith('norm')}
    official['head.weight'] = torch.zeros(1000, 256)
    atomic_save({'model': official}, tmp_path / 'official.pth')
    fresh = SwinBackbone(**ARCH).eval()
    report = load_pretrained(fresh, str(tmp_path / 'official.pth'))
    assert report.format == 'official'
    fresh.load_state_dict({k: v for k, v in ref.state_dict().items() if k.startswith('norm')},
                          strict=False)  # output norms are not in classification checkpoints
    with torch.no_grad():
        for a, b in zip(fresh(x), ref(x)):
            assert relative_error(a, b) < 1e-5


def test_absolute_position_embedding_from_mmdet(tmp_path):
    ref = _random_reference(mmdet_swin, 4, use_abs_pos_embed=True, pretrain_img_size=224)
    atomic_save({'state_dict': ref.state_dict()}, tmp_path / 'ape.pth')
    x = torch.randn(1, 3, 224, 224)  # mmdet 3.3 only runs at the pretraining size
    report = _check(ref, tmp_path / 'ape.pth', 'openmmlab', x, use_abs_pos_embed=True)
    assert ('absolute_pos_embed', (1, 3136, 32), (1, 32, 56, 56)) in report.resized

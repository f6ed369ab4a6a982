"""One ONNX file of the backbone serves every batch and size: onnxruntime within 1e-4 (relative)
of PyTorch at the issue's shapes, for SwinV1 (also with padding masks and an absolute position
embedding) and SwinV2; exporting twice writes the same bytes."""
import pytest
import torch

from swin_mm.deploy.onnx_export import compare_with_onnxruntime, export_onnx
from swin_mm.deploy.specs import backbone_spec
from swin_mm.models.swin import SwinBackbone
from swin_mm.models.swin_v2 import SwinV2Backbone

pytestmark = pytest.mark.slow
pytest.importorskip('onnxruntime')

SHAPES = [(1, 3, 224, 224), (2, 3, 97, 133), (3, 3, 31, 45), (1, 3, 250, 61), (1, 3, 512, 384),
          (2, 3, 1, 1), (1, 3, 7, 300)]


def widen(model):
    """Position tables drawn wide enough that a wrong bias index or mask shows in the outputs."""
    torch.manual_seed(0)
    for name, p in model.named_parameters():
        if 'relative_position_bias_table' in name or 'absolute_pos_embed' in name:
            torch.nn.init.normal_(p, 0.0, 1.0)
        elif name.endswith('norm.weight') or '.norm1.' in name or '.norm2.' in name:
            torch.nn.init.normal_(p, 1.0, 0.2)
    return model.eval()


@pytest.mark.parametrize('backbone', [
    lambda: SwinBackbone('tiny', fast=False),
    lambda: SwinBackbone('tiny', depths=(2, 2, 2, 2), mask_padding=True, use_abs_pos_embed=True,
                         fast=False),
    lambda: SwinV2Backbone('tiny', depths=(2, 2, 2, 2), window_size=8, fast=False),
    lambda: SwinBackbone('tiny', depths=(2, 2, 2, 2)),  # the tracer gets the reference paths
], ids=['swin_t', 'masked_abs_pos', 'swinv2', 'fast_paths_on'])
def test_onnxruntime_matches_pytorch_at_every_shape(tmp_path, backbone):
    spec = backbone_spec(widen(backbone()))
    path = str(tmp_path / 'backbone.onnx')
    export_onnx(spec, torch.randn(1, 3, 64, 96), path)
    for row in compare_with_onnxruntime(spec, path, SHAPES):
        assert row['max_rel_error'] < 1e-4, row


def test_export_is_deterministic(tmp_path):
    spec = backbone_spec(widen(SwinBackbone('tiny', depths=(2, 2, 2, 2), fast=False)))
    paths = [str(tmp_path / f'{i}.onnx') for i in range(2)]
    for path in paths:
        export_onnx(spec, torch.randn(1, 3, 64, 96), path)
    with open(paths[0], 'rb') as a, open(paths[1], 'rb') as b:
        assert a.read() == b.read()
    assert not any(m.training for m in spec.module.modules())  # the exporter restores eval


def test_opset_below_the_operators_is_refused(tmp_path):
    spec = backbone_spec(SwinBackbone('tiny', depths=(2, 2, 2, 2), fast=False))
    with pytest.raises(ValueError, match='opset >= 16'):
        export_onnx(spec, torch.randn(1, 3, 32, 32), str(tmp_path / 'x.onnx'), opset=13)

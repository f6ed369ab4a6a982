"""torch.compile: one graph serves every input size, with eager's outputs and gradients.

The graph is captured with dynamic shapes and run without a code generator (a counting backend
that executes the captured FX graph), so the test checks tracing, guards and graph breaks in
seconds; inductor's code generation is not part of it.
"""
import pytest
import torch

from swin_mm.models import SwinBackbone, SwinV2Backbone
from tests.helpers.losses import projection_loss

torch_dynamo = pytest.importorskip('torch._dynamo')
from torch._dynamo.testing import CompileCounter  # noqa: E402

# sizes that pad differently: to the patch, to the window in every stage, at odd merges
SIZES = [(64, 80), (72, 88), (101, 61)]  # not square: duck sizing would tie H to W


def _tiny_backbone(backbone=SwinBackbone, **kwargs) -> SwinBackbone:
    torch.manual_seed(0)
    model = backbone(embed_dims=16, depths=(2, 2), num_heads=(1, 2), window_size=4,
                     out_indices=(0, 1), drop_path_rate=0.0, **kwargs)
    with torch.no_grad():  # SwinV2's blocks start as identity (zero post-norms)
        for name, param in model.named_parameters():
            if '.norm' in name and name.endswith('weight'):
                param.add_(1.0)
    return model


@pytest.mark.parametrize('backbone', [SwinBackbone, SwinV2Backbone], ids=['v1', 'v2'])
@pytest.mark.parametrize('mask_padding, fast', [(False, True), (True, True), (False, False)],
                         ids=['fast', 'fast-mask_padding', 'reference'])
def test_one_graph_for_every_size_same_outputs(mask_padding, fast, backbone):
    """Traced, both settings run the reference ops (the dispatcher sends traced code there)."""
    torch._dynamo.reset()
    model = _tiny_backbone(backbone, mask_padding=mask_padding, fast=fast).eval()
    counter = CompileCounter()
    compiled = torch.compile(model, backend=counter, dynamic=True, fullgraph=True)
    with torch.no_grad():
        for size in SIZES:
            x = torch.randn(2, 3, *size)
            for got, expected in zip(compiled(x), model(x)):
                assert got.shape == expected.shape
                torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert counter.frame_count == 1  # no recompilation per size, no graph break


@pytest.mark.parametrize('backbone', [SwinBackbone, SwinV2Backbone], ids=['v1', 'v2'])
def test_compiled_training_step_has_eager_gradients(backbone):
    torch._dynamo.reset()
    model = _tiny_backbone(backbone).train()
    compiled = torch.compile(model, backend=CompileCounter(), dynamic=True, fullgraph=True)
    for size in SIZES[:2]:
        x = torch.randn(2, 3, *size)
        model.zero_grad()
        projection_loss(compiled(x)).backward()
        got = {n: p.grad.clone() for n, p in model.named_parameters()}
        model.zero_grad()
        projection_loss(model(x)).backward()
        for name, param in model.named_parameters():
            torch.testing.assert_close(got[name], param.grad, rtol=1e-4, atol=1e-5, msg=name)

"""SwinBackbone against MMDetection 3.3's SwinTransformer with the same weights, every stage, on
the fast paths and on the reference path."""
import pytest
import torch

from swin_mm import SwinBackbone
from tests.helpers.losses import projection_loss
from tests.helpers.openmmlab import load_official_into_openmmlab, mmdet_swin, relative_error


@pytest.fixture(scope='module', params=[True, False], ids=['fast', 'reference'])
def pair(request):
    torch.manual_seed(0)
    ours = SwinBackbone('tiny', drop_path_rate=0.0, fast=request.param).eval()
    with torch.no_grad():  # make the relative bias matter
        for name, p in ours.named_parameters():
            if 'relative_position_bias_table' in name:
                p.normal_(0, 1)
    ref = mmdet_swin(embed_dims=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24),
                     drop_path_rate=0.0)
    load_official_into_openmmlab(ref, ours.state_dict())
    ref.eval()  # (returns None in mmdet 3.3, hence not chained)
    return ours, ref


@pytest.mark.parametrize('size', [(224, 224), (112, 137), (33, 47), (1, 1), (250, 190)])
def test_every_stage_matches_mmdet(pair, size):
    ours, ref = pair
    torch.manual_seed(1)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        a, b = ours(x), ref(x)
    assert len(a) == len(b) == 4
    for i, (p, q) in enumerate(zip(a, b)):
        assert p.shape == q.shape, (i, p.shape, q.shape)
        assert relative_error(p, q) < 1e-5, (i, relative_error(p, q))


def test_training_gradients_match_mmdet(pair):
    """Training (on the fast paths: recomputed attention, chunked MLP) gives mmdet's gradients
    (in float64, so that the comparison is not float32 rounding through 12 blocks)."""
    import copy
    from mmdet.models.backbones.swin import swin_converter
    ours, ref = (copy.deepcopy(m).double() for m in pair)
    x = torch.randn(1, 3, 61, 90, dtype=torch.float64)
    for model in (ours, ref):
        model.train()
        model.zero_grad()
        projection_loss(model(x)).backward()
    grads = {n: p.grad for n, p in ours.named_parameters()}
    mapped = {k[len('backbone.'):]: v for k, v in swin_converter(grads).items()}
    ref_grads = dict(ref.named_parameters())
    assert mapped.keys() == ref_grads.keys()
    for name, grad in mapped.items():
        assert relative_error(grad, ref_grads[name].grad) < 1e-9, name

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


@pytest.mark.parametrize('out_indices', [(0, 1, 2, 3), (1, 2)])
def test_mmdet_checkpoint_without_patch_norm_loads_and_matches(tmp_path, out_indices):
    """MMDetection's patch_norm=False also drops patch merging's norm; the same config builds the
    same network here and loads its checkpoints (stages after the last output unused)."""
    from swin_mm.serialization import atomic_save
    torch.manual_seed(2)
    ref = mmdet_swin(embed_dims=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8),
                     patch_norm=False, drop_path_rate=0.0, out_indices=out_indices)
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.5)
    ref.eval()
    atomic_save({'state_dict': {f'backbone.{k}': v for k, v in ref.state_dict().items()}},
                tmp_path / 'mmdet.pth')
    ours = SwinBackbone(embed_dims=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8),
                        patch_norm=False, out_indices=out_indices,
                        init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'mmdet.pth')))
    ours.init_weights()
    ours.eval()
    assert ours.patch_embed.norm is None and ours.layers[0].downsample.norm is None
    assert len(ours.layers) == max(out_indices) + 1
    x = torch.randn(1, 3, 75, 50)
    with torch.no_grad():
        for p, q in zip(ours(x), ref(x)):
            assert relative_error(p, q) < 1e-5


def test_official_patch_norm_false_keeps_the_merging_norm():
    model = SwinBackbone(embed_dims=32, depths=(1, 1), num_heads=(1, 2), out_indices=(0, 1),
                         patch_norm=False, merge_norm=True)
    assert model.patch_embed.norm is None and model.layers[0].downsample.norm is not None

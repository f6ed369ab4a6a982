"""FLOPs and parameters: the counted FLOPs of Swin-T equal the paper's analytic count, and
tools/get_flops.py reports backbone and whole-model numbers for a config."""
import pytest
import torch

from swin_mm import SwinBackbone
from swin_mm.profiling import forward_flops
from tests.helpers.tools import config_path, load_tool


def analytic_macs(h, w, dims=96, depths=(2, 2, 6, 2), window=7, patch=4, in_channels=3):
    """Multiply-adds of the matmuls of a Swin backbone (sizes divisible by the windows), from the
    paper: per block 12*N*C^2 (qkv, projection, MLP with ratio 4) + 2*N*M^2*C (QK^T and AV);
    patch embedding N*patch^2*3*C; patch merging (N/4)*4C*2C."""
    n = (h // patch) * (w // patch)
    macs = n * patch * patch * in_channels * dims
    for i, depth in enumerate(depths):
        c = dims * 2 ** i
        macs += depth * (12 * n * c * c + 2 * n * window * window * c)
        if i < len(depths) - 1:
            macs += (n // 4) * 4 * c * 2 * c
            n //= 4
    return macs


def test_counted_flops_equal_the_papers_analytic_count():
    model = SwinBackbone('tiny').eval()
    flops = forward_flops(model, torch.zeros(1, 3, 224, 224))
    assert flops == 2 * analytic_macs(224, 224)
    assert 4.3e9 < flops / 2 < 4.5e9  # the paper's 4.5 GMACs also counts the norms and the head


def test_parameter_count_matches_the_official_swin_t():
    model = SwinBackbone('tiny')
    official = 28_288_354  # Swin-T classifier: + head (768*1000+1000) + one final norm (2*768)
    ours = sum(p.numel() for p in model.parameters())
    assert ours == official - 769_000 - 2 * 768 + 2 * (96 + 192 + 384 + 768)


@pytest.mark.slow
def test_get_flops_tool_reports_backbone_and_model():
    result = load_tool('get_flops').main([config_path('mask_rcnn_swin_t_coco.py'),
                                          '--shape', '224', '448'])
    assert result['backbone_flops'] == 2 * analytic_macs(224, 448)
    assert result['backbone_params'] == sum(p.numel() for p in SwinBackbone('tiny').parameters())
    assert result['model_params'] > 47e6  # Mask R-CNN Swin-T: 48M in the paper
    assert result['model_flops'] > result['backbone_flops']

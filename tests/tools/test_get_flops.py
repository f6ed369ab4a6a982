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


def analytic_macs_v2(h, w, dims, depths, heads, window):
    """:func:`analytic_macs` plus what SwinV2 adds: the position-bias MLP, once per block
    ((2M-1)^2 offsets through 2 -> 512 -> heads)."""
    cpb = sum(d * (2 * window - 1) ** 2 * (2 * 512 + 512 * h) for d, h in zip(depths, heads))
    return analytic_macs(h, w, dims, depths, window) + cpb


@pytest.mark.parametrize('arch, paper_gmacs', [('tiny', 5.9), ('base', 20.3)])
def test_swinv2_counted_flops_against_the_paper(arch, paper_gmacs):
    """The V2 paper's table: SwinV2-T and -B at 256x256, window 8: 5.9G and 20.3G."""
    from swin_mm import ARCH_SETTINGS, SwinV2Backbone
    spec = ARCH_SETTINGS[arch]
    model = SwinV2Backbone(arch, window_size=8).eval()
    flops = forward_flops(model, torch.zeros(1, 3, 256, 256))
    assert flops == 2 * analytic_macs_v2(256, 256, spec['embed_dims'], spec['depths'],
                                         spec['num_heads'], 8)
    assert abs(flops / 2e9 - paper_gmacs) / paper_gmacs < 0.03  # the paper also counts the head


@pytest.mark.parametrize('arch, paper_millions', [('tiny', 28), ('base', 88)])
def test_swinv2_parameters_against_the_paper(arch, paper_millions):
    from swin_mm import SwinV2Backbone
    model = SwinV2Backbone(arch)
    head = model.num_features[-1] * 1001 + 2 * model.num_features[-1]  # classifier + final norm
    outputs = 2 * sum(model.num_features)  # the four output norms a classifier lacks
    total = sum(p.numel() for p in model.parameters()) - outputs + head
    assert round(total / 1e6) == paper_millions


@pytest.mark.slow
def test_get_flops_tool_knows_swinv2():
    from swin_mm import SwinV2Backbone
    result = load_tool('get_flops').main([config_path('mask_rcnn_swinv2_t_coco_3x.py'),
                                          '--shape', '512', '512'])  # divisible by 32 * 16
    assert result['backbone_flops'] == 2 * analytic_macs_v2(512, 512, 96, (2, 2, 6, 2),
                                                            (3, 6, 12, 24), 16)
    assert result['backbone_params'] == sum(
        p.numel() for p in SwinV2Backbone('tiny', window_size=16).parameters())

"""tools/benchmark.py: runs end to end on small sizes, writes its JSON, and refuses to time two
models that disagree. (Its numbers are not asserted: speed lives in the benchmark, not in tests.)"""
import json

import pytest
import torch

from tests.helpers.tools import load_tool


def test_small_run_writes_every_table(tmp_path):
    result = load_tool('benchmark').main([
        '--archs', 'tiny', '--sizes', '64x96', '--scaling-sizes', '64x64', '96x96',
        '--memory-size', '64x64', '--repeats', '1', '--out', str(tmp_path)])
    saved = json.loads((tmp_path / 'benchmark_cpu.json').read_text())
    assert saved['rows'] == json.loads(json.dumps(result['rows']))
    assert [(r['mode'], r['dtype']) for r in saved['rows']] == [('forward', 'fp32'),
                                                                 ('fwd+bwd', 'fp32')]
    assert all(r['rel_error'] <= 1e-5 and r['swin_mm_s'] > 0 for r in saved['rows'])
    assert saved['rows'][0]['linear_floor_s'] > 0 and 'linear_floor_s' not in saved['rows'][1]
    without = saved['rows'][0]['forward_without_s']
    assert sorted(without) == ['attention', 'attention+layernorm'] and min(without.values()) > 0
    # the machine's matmul rate is its faster library's (MKL's or, on CPU, oneDNN's)
    rates = saved['matmul_gflops_by_library']['fp32']
    assert 'mm' in rates and saved['matmul_gflops']['fp32'] == max(rates.values())
    memory, = saved['memory']
    assert memory['swin_mm_with_cp_mib'] < memory['swin_mm_mib'] < memory['mmdet_mib']
    assert len(saved['scaling'][0]['pixels']) == 2
    assert (tmp_path / 'benchmark_cpu.png').stat().st_size > 0


def test_disagreeing_models_are_not_timed():
    benchmark = load_tool('benchmark')
    ours, ref = benchmark.build_pair('tiny', torch.device('cpu'))
    x = torch.randn(1, 3, 64, 64)
    assert benchmark.check_agreement(ours, ref, x) <= 1e-5
    with torch.no_grad():
        ours.norm3.weight.mul_(1.01)
    with pytest.raises(AssertionError, match='disagree'):
        benchmark.check_agreement(ours, ref, x)


def test_matmul_shapes_are_every_linear_layer_of_the_forward():
    """Swin-T at 64x96: stage i has (64 / 2^(i+2)) x (96 / 2^(i+2)) tokens, padded to the 7x7
    window for attention (qkv, proj), unpadded for the MLP; patch merging after stages 1-3."""
    from swin_mm import SwinBackbone
    from swin_mm.profiling import matmul_shapes
    shapes = matmul_shapes(SwinBackbone('tiny').eval(), torch.randn(1, 3, 64, 96))
    expected = {}
    for i, (depth, (h, w)) in enumerate(zip((2, 2, 6, 2), ((16, 24), (8, 12), (4, 6), (2, 3)))):
        c = 96 * 2 ** i
        padded = -(-h // 7) * 7 * (-(-w // 7) * 7)
        for shape in ((padded, c, 3 * c), (padded, c, c), (h * w, c, 4 * c), (h * w, 4 * c, c)):
            expected[shape] = expected.get(shape, 0) + depth
        if i < 3:
            expected[(h * w // 4, 4 * c, 2 * c)] = 1
    assert shapes == expected

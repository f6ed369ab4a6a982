"""The README's commands exist as written, and docs/tables.py writes the benchmark tables."""
import json
import os
import re
import sys

import pytest

from tests.helpers.tools import ROOT, load_tool

README = open(os.path.join(ROOT, 'README.md')).read()
TOOLS = sorted(set(re.findall(r'python (tools/\w+\.py)', README)))


def test_readme_names_only_tools_and_targets_that_exist():
    assert TOOLS, 'the README shows no tool'
    for tool in TOOLS:
        assert os.path.isfile(os.path.join(ROOT, tool)), tool
    makefile = open(os.path.join(ROOT, 'Makefile')).read()
    for target in set(re.findall(r'make ([a-z0-9-]+)', README)):
        assert re.search(rf'^{target}:', makefile, re.M), f'make {target}'
    for script in re.findall(r'bash (tools/\S+\.sh|tests/gpu/\S+\.sh)', README):
        assert os.path.isfile(os.path.join(ROOT, script)), script


@pytest.mark.parametrize('tool', TOOLS)
def test_every_tool_in_the_readme_answers_help(tool, capsys):
    module = load_tool(os.path.splitext(os.path.basename(tool))[0])
    with pytest.raises(SystemExit) as exit_:
        module.main(['--help'])
    assert exit_.value.code == 0
    assert 'usage:' in capsys.readouterr().out


def test_tables_are_written_between_the_markers(tmp_path, monkeypatch):
    sys.path.insert(0, os.path.join(ROOT, 'docs'))
    try:
        import tables
    finally:
        sys.path.pop(0)
    row = dict(arch='tiny', size=[800, 1216], dtype='fp32', swin_mm_s=0.5, mmdet_s=1.0,
               speedup=2.0, fraction_of_matmul=0.64)
    result = dict(device='CPU (AVX2)', threads=2, torch='2.13.0', batch=1, cpu_products='oneDNN',
                  matmul_gflops={'fp32': 165.0},
                  rows=[dict(row, mode='forward'), dict(row, mode='fwd+bwd', speedup=1.5,
                                                        mmdet_s=0.75, fraction_of_matmul=None)],
                  memory=[dict(arch='tiny', size=[800, 800], swin_mm_mib=996.0,
                               mmdet_mib=1382.0, swin_mm_with_cp_mib=171.0)])
    doc = tmp_path / 'doc.md'
    doc.write_text('a\n<!-- cpu-benchmark start -->\nold\n<!-- cpu-benchmark end -->\nb\n')
    tables.replace_blocks(str(doc), tables.blocks(result))
    text = doc.read_text()
    assert 'old' not in text and text.startswith('a\n') and text.endswith('\nb\n')
    assert '| Swin-T | 800x1216 | 0.500 / 1.000 | 2.00x | 0.500 / 0.750 | 1.50x | 64% |' in text
    assert 'CPU (AVX2), 2 threads, torch 2.13.0' in text
    assert '0.72x' in tables.memory_table(result)
    json.dumps(result)  # what tools/benchmark.py writes is plain JSON


def test_whole_model_table_from_benchmark_model_json():
    sys.path.insert(0, os.path.join(ROOT, 'docs'))
    try:
        import tables
    finally:
        sys.path.pop(0)
    rows = [dict(model='swin_mm', seconds=2.0, backbone_seconds=0.5, params=48e6, gflops=520.0),
            dict(model='peer Swin', seconds=3.0, backbone_seconds=1.5, params=48e6, gflops=520.0),
            dict(model='ResNet-50', seconds=2.5, backbone_seconds=0.7, params=44e6, gflops=500.0)]
    result = dict(device='CPU (AVX2)', threads=2, torch='2.13.0', cpu_products='MKL', repeats=3,
                  configs=[dict(config='cascade_mask_rcnn_swin_t_coco_3x.py', shape=[800, 1333],
                                rows=rows)])
    table = tables.model_blocks(result)['cpu-models']
    assert ('| Cascade Mask R-CNN | 800x1333 | 2.00 / 3.00 / 2.50 | 1.50x | 1.25x | 0.50 / 1.50 '
            '(50%) | 3.00x | 48M / 44M | 520 / 500 |') in table
    assert 'median of 3' in table


def test_onnx_table_from_benchmark_onnx_json():
    sys.path.insert(0, os.path.join(ROOT, 'docs'))
    try:
        import tables
    finally:
        sys.path.pop(0)
    result = dict(device='CPU (AVX2)', threads=2, torch='2.13.0', onnxruntime='1.32.0',
                  cpu_products='MKL', repeats=5,
                  rows=[dict(config='upernet_swin_t_ade20k.py', graph='BackboneGraph',
                             shape=[800, 1216], pytorch_s=1.5, onnxruntime_s=1.0, speedup=1.5,
                             max_rel_error=2e-6)])
    table = tables.onnx_blocks(result)['onnx-benchmark']
    assert ('| upernet_swin_t_ade20k.py | BackboneGraph | 800x1216 | 1.500 | 1.000 | 1.50x | '
            '2.0e-06 |') in table
    assert 'onnxruntime 1.32.0' in table and 'median of 5' in table


def test_readme_is_a_users_page():
    assert len(README.splitlines()) <= 270
    hashes = [h for h in re.findall(r'\b[0-9a-f]{7,40}\b', README)
              if re.search('[a-f]', h) and re.search('[0-9]', h)]
    assert not hashes, hashes

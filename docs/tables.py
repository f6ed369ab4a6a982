"""Write the benchmark tables of docs/performance.md (and the README's summaries) from the JSON
that tools/benchmark.py and tools/benchmark_model.py save.

    python docs/tables.py [results/benchmark_cpu.json] [--models results/benchmark_models_cpu.json]
        [--onnx results/benchmark_onnx_cpu.json] [--write]

Without --write the tables are printed; with it they replace the blocks between
``<!-- NAME start -->`` and ``<!-- NAME end -->`` in docs/performance.md, docs/deploy.md and
README.md.
"""
import argparse
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCH = {'tiny': 'Swin-T', 'small': 'Swin-S', 'base': 'Swin-B', 'large': 'Swin-L'}


def caption(result):
    return (f"{result['device']}, {result['threads']} threads, torch {result['torch']}, batch "
            f"{result['batch']}; CPU products through {result.get('cpu_products', '?')}; fp32 "
            f"matmul {max(result['matmul_gflops'].values()):.0f} GFLOP/s. Median of "
            f"alternating samples, seconds.")


def speed_table(result, sizes=None):
    lines = ['| arch | input | forward swin_mm / mmdet | speed-up | fwd+bwd swin_mm / mmdet | '
             'speed-up | forward % of matmul |', '|---|---|---|---|---|---|---|']
    rows = {}
    for row in result['rows']:
        if row['dtype'] == 'fp32':
            rows.setdefault((row['arch'], tuple(row['size'])), {})[row['mode']] = row
    for (arch, size), modes in rows.items():
        if sizes and f'{size[0]}x{size[1]}' not in sizes:
            continue
        fwd, step = modes.get('forward'), modes.get('fwd+bwd')
        cells = [ARCH.get(arch, arch), f'{size[0]}x{size[1]}']
        for row in (fwd, step):
            cells += ([f"{row['swin_mm_s']:.3f} / {row['mmdet_s']:.3f}", f"{row['speedup']:.2f}x"]
                      if row else ['-', '-'])
        cells.append(f"{100 * fwd['fraction_of_matmul']:.0f}%" if fwd else '-')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def memory_table(result):
    lines = ['| arch | input | swin_mm | MMDetection | ratio | swin_mm `with_cp=True` |',
             '|---|---|---|---|---|---|']
    for m in result.get('memory', []):
        lines.append(f"| {ARCH.get(m['arch'], m['arch'])} | {m['size'][0]}x{m['size'][1]} | "
                     f"{m['swin_mm_mib']:.0f} MiB | {m['mmdet_mib']:.0f} MiB | "
                     f"{m['swin_mm_mib'] / m['mmdet_mib']:.2f}x | "
                     f"{m['swin_mm_with_cp_mib']:.0f} MiB |")
    return '\n'.join(lines)


MODEL_NAMES = {'mask_rcnn': 'Mask R-CNN', 'cascade_mask_rcnn': 'Cascade Mask R-CNN',
               'atss': 'ATSS', 'sparse_rcnn': 'Sparse R-CNN', 'reppoints': 'RepPoints',
               'upernet': 'UperNet'}


def models_caption(result):
    return (f"{result['device']}, {result['threads']} threads, torch {result['torch']}; CPU "
            f"products through {result['cpu_products']}. Batch 1, one image, `test_step` "
            f"(preprocessing and post-processing included), random weights shared by the two Swin "
            f"models; median of {result['repeats']} alternating samples.")


def models_table(result):
    lines = ['| model (Swin-T) | image | s/img: swin_mm / peer Swin / ResNet-50 | vs peer Swin | '
             'vs ResNet-50 | backbone s: swin_mm / peer (share of peer\'s whole) | '
             'backbone vs peer | params swin / R-50 | GFLOPs swin / R-50 |',
             '|---|---|---|---|---|---|---|---|---|']
    for entry in result['configs']:
        rows = {r['model']: r for r in entry['rows']}
        if 'peer Swin' not in rows:  # SwinV2: no peer to compare with; this table is V1's
            continue
        ours, peer, resnet = rows['swin_mm'], rows['peer Swin'], rows['ResNet-50']
        name = next((v for k, v in MODEL_NAMES.items() if entry['config'].startswith(k)),
                    entry['config'])
        lines.append(
            f"| {name} | {entry['shape'][0]}x{entry['shape'][1]} | {ours['seconds']:.2f} / "
            f"{peer['seconds']:.2f} / {resnet['seconds']:.2f} | "
            f"{peer['seconds'] / ours['seconds']:.2f}x | {resnet['seconds'] / ours['seconds']:.2f}x"
            f" | {ours['backbone_seconds']:.2f} / {peer['backbone_seconds']:.2f} "
            f"({100 * peer['backbone_seconds'] / peer['seconds']:.0f}%) | "
            f"{peer['backbone_seconds'] / ours['backbone_seconds']:.2f}x | "
            f"{ours['params'] / 1e6:.0f}M / {resnet['params'] / 1e6:.0f}M | "
            f"{ours['gflops']:.0f} / {resnet['gflops']:.0f} |")
    return '\n'.join(lines)


def model_blocks(result):
    table = f'{models_caption(result)}\n\n{models_table(result)}'
    return {'cpu-models': table, 'models-summary': table}


def blocks(result):
    return {
        'cpu-benchmark': f'{caption(result)}\n\n{speed_table(result)}',
        'cpu-memory': memory_table(result),
        'benchmark-summary': (f'CPU: {caption(result)}\n\n'
                              + speed_table(result, sizes={'800x1216'})),
    }


def onnx_blocks(result):
    """The onnxruntime-against-PyTorch table of tools/benchmark_onnx.py."""
    lines = [f"{result['device']}, {result['threads']} threads, torch {result['torch']}, "
             f"onnxruntime {result['onnxruntime']}; CPU products through "
             f"{result['cpu_products']}. Batch 1, median of {result['repeats']} alternating "
             f"samples, seconds.", '',
             '| config | graph | input | PyTorch (fast paths) | onnxruntime | onnxruntime '
             'speed-up | max rel. difference |', '|---|---|---|---|---|---|---|']
    for row in result['rows']:
        lines.append(f"| {row['config']} | {row['graph']} | {row['shape'][0]}x{row['shape'][1]}"
                     f" | {row['pytorch_s']:.3f} | {row['onnxruntime_s']:.3f} | "
                     f"{row['speedup']:.2f}x | {row['max_rel_error']:.1e} |")
    return {'onnx-benchmark': '\n'.join(lines)}


def replace_blocks(path, new):
    with open(path) as f:
        text = f.read()
    for name, body in new.items():
        pattern = re.compile(rf'(<!-- {name} start -->\n).*?(\n<!-- {name} end -->)', re.S)
        text = pattern.sub(lambda m: m.group(1) + body + m.group(2), text)
    with open(path, 'w') as f:
        f.write(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('json', nargs='?', default=os.path.join(ROOT, 'results',
                                                                'benchmark_cpu.json'))
    parser.add_argument('--models', default=os.path.join(ROOT, 'results',
                                                         'benchmark_models_cpu.json'))
    parser.add_argument('--onnx', default=os.path.join(ROOT, 'results',
                                                       'benchmark_onnx_cpu.json'))
    parser.add_argument('--write', action='store_true')
    args = parser.parse_args(argv)
    with open(args.json) as f:
        new = blocks(json.load(f))
    if os.path.isfile(args.models):
        with open(args.models) as f:
            new.update(model_blocks(json.load(f)))
    if os.path.isfile(args.onnx):
        with open(args.onnx) as f:
            new.update(onnx_blocks(json.load(f)))
    if not args.write:
        for name, body in new.items():
            print(f'<!-- {name} -->\n{body}\n')
        return
    for doc in ('docs/performance.md', 'docs/deploy.md', 'README.md'):
        replace_blocks(os.path.join(ROOT, doc), new)


if __name__ == '__main__':
    main()

"""onnxruntime (CPU) against swin_mm's own PyTorch forward, for the exported backbone and the
exported whole model of each config, on the same inputs and the same machine, as ratios.

    python tools/benchmark_onnx.py [CONFIG ...] [--shape H W] [--repeats 5] [--out results/]

Random weights (seed 0; no checkpoint needed). Each config is exported as tools/export.py
exports it (reference path, TorchScript exporter); PyTorch runs the same graph module with the
default fast paths on (``fast=True``, what a user runs). Both use this process's thread count;
they alternate in every repeat and the median is reported. Default: UperNet Swin-T, its backbone
at 800x1216 and the whole segmentor at 512x683 (its test scale). Writes
results/benchmark_onnx_cpu.json and prints a table.
"""
import argparse
import copy
import json
import os
import os.path as osp
import statistics
import tempfile
import time

import torch

DEFAULT_CONFIGS = ('configs/upernet_swin_t_ade20k.py',)
#: (backbone, whole model) input sizes by scope
DEFAULT_SHAPES = {'mmseg': ((800, 1216), (512, 683)), 'mmdet': ((800, 1216), (800, 1216))}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='*', default=list(DEFAULT_CONFIGS),
                        help='detector or segmentor configs with a Swin backbone')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='one input size for every graph (default: per graph, above)')
    parser.add_argument('--repeats', type=int, default=5, help='timed samples per runtime')
    parser.add_argument('--out', default='results', help='folder of the JSON')
    args = parser.parse_args(argv)
    from swin_mm.profiling import check_benchmark_args
    check_benchmark_args(parser, args)
    return args


def build_models(path):
    """(model on the reference path for export, the same weights on the fast paths, scope)."""
    from mmengine.registry import MODELS, DefaultScope, init_default_scope

    from swin_mm.engine import load_config
    cfg = load_config(path)
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    models = []
    for fast in (False, True):
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.backbone.update(fast=fast, init_cfg=None)
        torch.manual_seed(0)
        with DefaultScope.overwrite_default_scope(scope):
            models.append(MODELS.build(model_cfg).eval())
    models[1].load_state_dict(models[0].state_dict())
    return models[0], models[1], scope


def time_alternating(runs, repeats):
    """Median seconds of each closure, alternating, after one warm-up call each."""
    samples = {name: [] for name in runs}
    for repeat in range(repeats + 1):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            if repeat:
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in samples.items()}


def measure(spec_of, reference, fast, scope, part, shape, repeats, tmp):
    """One row: export ``part`` ('backbone' | 'whole') and time it in both runtimes."""
    from swin_mm.deploy.onnx_export import (compare_with_onnxruntime, export_onnx,
                                            onnxruntime_session)
    spec = spec_of(reference, scope, part == 'backbone')
    fast_module = spec_of(fast, scope, part == 'backbone').module
    path = osp.join(tmp, f'{part}.onnx')
    example_shape = (1, 3, *shape)
    generator = torch.Generator().manual_seed(0)
    x = (torch.randint(0, 256, example_shape, dtype=torch.uint8, generator=generator)
         if spec.input_dtype == torch.uint8 else torch.randn(example_shape, generator=generator))
    export_onnx(spec, x, path)
    error = compare_with_onnxruntime(spec, path, [example_shape])[0]['max_rel_error']
    session = onnxruntime_session(path, threads=torch.get_num_threads())
    feed = {spec.input_name: x.numpy()}

    def pytorch():
        with torch.no_grad():
            fast_module(x)
    seconds = time_alternating({'pytorch': pytorch,
                                'onnxruntime': lambda: session.run(None, feed)}, repeats)
    return dict(part=part, graph=type(spec.module).__name__, shape=list(shape),
                pytorch_s=seconds['pytorch'], onnxruntime_s=seconds['onnxruntime'],
                speedup=seconds['pytorch'] / seconds['onnxruntime'], max_rel_error=error)


def main(argv=None):
    args = parse_args(argv)
    import onnxruntime

    from swin_mm.deploy.specs import model_spec
    from swin_mm.engine import prepare_runtime
    from swin_mm.fast import gemm
    from swin_mm.profiling import cpu_description
    prepare_runtime()
    result = dict(device=cpu_description(), threads=torch.get_num_threads(),
                  torch=torch.__version__, onnxruntime=onnxruntime.__version__,
                  cpu_products='oneDNN' if gemm.ONEDNN else 'MKL', repeats=args.repeats,
                  rows=[])
    print(f"{result['device']}, {result['threads']} threads, torch {result['torch']}, "
          f"onnxruntime {result['onnxruntime']}; median of {args.repeats}")
    print(f"{'config':<28} {'graph':<16} {'input':>9} {'PyTorch s':>10} {'ORT s':>8} "
          f"{'ORT speed-up':>12} {'rel. diff':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.configs:
            reference, fast, scope = build_models(path)
            for part, shape in zip(('backbone', 'whole'), DEFAULT_SHAPES[scope]):
                row = measure(model_spec, reference, fast, scope, part,
                              tuple(args.shape or shape), args.repeats, tmp)
                row['config'] = osp.basename(path)
                result['rows'].append(row)
                print(f"{row['config']:<28} {row['graph']:<16} "
                      f"{'x'.join(map(str, row['shape'])):>9} {row['pytorch_s']:10.3f} "
                      f"{row['onnxruntime_s']:8.3f} {row['speedup']:11.2f}x "
                      f"{row['max_rel_error']:9.1e}", flush=True)
    os.makedirs(args.out, exist_ok=True)
    out = osp.join(args.out, 'benchmark_onnx_cpu.json')
    with open(out, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'\nwritten: {out}')
    return result


if __name__ == '__main__':
    main()

"""Benchmark swin_mm's SwinBackbone against MMDetection 3.3's SwinTransformer.

Identical weights (MMDetection's, loaded through swin_mm's converter) and inputs; the outputs are
checked to agree first. Then, alternating the two so that drift hits both alike: forward (eval, no
grad) and forward+backward (train, sum of outputs), activation memory of a training step, growth of
the forward time with pixel count, and FLOP rate against this machine's matmul rate.

    python tools/benchmark.py [--archs tiny base] [--sizes 224x224 512x512 800x1216] [--repeats 5]
        [--quick] [--out results/]

Prints tables and writes results/benchmark_<device>.json and a plot of time against pixels.
"""
import argparse
import json
import os
import os.path as osp
import tempfile

import torch

ARCHS = {'tiny': dict(embed_dims=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24)),
         'base': dict(embed_dims=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32))}


def build_pair(arch, device):
    """(swin_mm model, mmdet model) with the same weights, in eval mode."""
    from mmdet.models.backbones import SwinTransformer
    from swin_mm import SwinBackbone
    from swin_mm.checkpoint import load_pretrained
    import logging
    torch.manual_seed(0)
    ref = SwinTransformer(**ARCHS[arch], drop_path_rate=0.0)
    ref.init_weights()
    ours = SwinBackbone(**ARCHS[arch], drop_path_rate=0.0)
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'mmdet_swin.pth')
        torch.save({'state_dict': ref.state_dict()}, path)
        load_pretrained(ours, path, log=logging.getLogger('benchmark.quiet'))
    ours.to(device).eval()
    ref.to(device)
    ref.eval()
    return ours, ref


def relative_error(a, b):
    return max(((p.double() - q.double()).norm() / q.double().norm()).item() for p, q in zip(a, b))


def parse_size(text):
    h, w = text.lower().split('x')
    return int(h), int(w)


def time_pair(ours, ref, x, repeats, train, autocast_dtype, calls=1):
    """Median seconds per call of (ours, ref), alternating samples of ``calls`` calls each."""
    from swin_mm.profiling import median_time
    import statistics
    a = step_closure(ours, x, train, autocast_dtype)
    b = step_closure(ref, x, train, autocast_dtype)
    a()
    b()  # warm-up (and mask caches)
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(median_time(a, 1, warmup=0, calls=calls))
        tb.append(median_time(b, 1, warmup=0, calls=calls))
    return statistics.median(ta), statistics.median(tb)


def step_closure(model, x, train, autocast_dtype):
    """A closure running one forward (eval, no grad) or forward+backward (train, sum of outputs
    as loss) of ``model`` on ``x``, in ``autocast_dtype`` autocast or in full precision."""
    def run():
        ctx = (torch.autocast(x.device.type, dtype=autocast_dtype) if autocast_dtype
               else torch.autocast(x.device.type, enabled=False))
        if train:
            model.train()
            with ctx:
                loss = sum(o.float().sum() for o in model(x))
            loss.backward()
            model.zero_grad(set_to_none=True)
        else:
            model.eval()
            with torch.no_grad(), ctx:
                model(x)
    return run


def activation_mib(model, x):
    from swin_mm.profiling import saved_activation_bytes
    model.train()
    return saved_activation_bytes(lambda: sum(o.sum() for o in model(x)),
                                  exclude=model.parameters()) / 2 ** 20


def set_with_cp(model, enabled):
    """Switch swin_mm's per-block gradient checkpointing on or off in place."""
    for stage in model.layers:
        stage.with_cp = enabled


def cuda_peak_mib(model, x, autocast_dtype=None):
    """Peak CUDA memory of one training step, MiB (weights and gradients included)."""
    step = step_closure(model, x, True, autocast_dtype)
    step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / 2 ** 20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--archs', nargs='+', default=['tiny', 'base'], choices=list(ARCHS))
    parser.add_argument('--sizes', nargs='+', default=['224x224', '512x512', '800x1216'])
    parser.add_argument('--scaling-sizes', nargs='+',
                        default=['224x224', '448x448', '800x800', '1216x1216', '1600x1600'])
    parser.add_argument('--memory-size', default='800x800')
    parser.add_argument('--batch', type=int, default=1, help='images per batch')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--calls', type=int, default=None,
                        help='calls per timed sample (default 1 on CPU, 10 on CUDA)')
    parser.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    parser.add_argument('--quick', action='store_true', help='Swin-T, small sizes, 2 repeats')
    parser.add_argument('--out', default='results')
    args = parser.parse_args(argv)
    if args.quick:
        args.archs, args.sizes, args.repeats = ['tiny'], ['224x224', '320x480'], 2
        args.scaling_sizes, args.memory_size = ['224x224', '320x320', '448x448'], '320x320'
    if args.threads:
        torch.set_num_threads(args.threads)
    from swin_mm.fast.allocator import keep_freed_memory
    kept = keep_freed_memory()  # as tools/train.py and tools/test.py run, for both models
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if args.calls is None:
        args.calls = 10 if device.type == 'cuda' else 1
    from swin_mm.fast import gemm
    from swin_mm.profiling import cpu_description, matmul_rates
    dtypes = [None, torch.bfloat16] if device.type == 'cuda' else [None]
    by_library = {str(d or 'fp32'): {k: v / 1e9 for k, v in matmul_rates(
        device=device.type, dtype=d or torch.float32).items()} for d in dtypes}
    result = dict(device=torch.cuda.get_device_name() if device.type == 'cuda' else
                  cpu_description(), batch=args.batch,
                  threads=torch.get_num_threads(), torch=torch.__version__, rows=[],
                  keep_freed_memory=kept,
                  cpu_products='oneDNN' if gemm.ONEDNN else 'MKL',
                  matmul_gflops={k: max(v.values()) for k, v in by_library.items()},
                  matmul_gflops_by_library=by_library)
    print(f'device: {result["device"]}, {result["threads"]} threads, batch {args.batch}, '
          + ', '.join(f'{k} matmul {max(v.values()):.0f} GFLOP/s ('
                      + ', '.join(f'{lib} {r:.0f}' for lib, r in v.items()) + ')'
                      for k, v in by_library.items())
          + (f'; swin_mm\'s CPU products: {result["cpu_products"]}'
             if device.type == 'cpu' else '')
          + f'; freed memory kept (glibc): {"yes" if kept else "no"}')
    print(f'{"arch":5} {"size":>9} {"dtype":>5} {"mode":>8} {"swin_mm s":>9} {"mmdet s":>8} '
          f'{"speed-up":>8} {"GFLOP/s":>8} {"% matmul":>8}')
    for arch in args.archs:
        ours, ref = build_pair(arch, device)
        for size in map(parse_size, args.sizes):
            result['rows'] += speed_rows(ours, ref, arch, size, dtypes, args, result)
        result.setdefault('memory', []).append(memory_row(ours, ref, arch, args, device, dtypes))
        result.setdefault('scaling', []).append(scaling_row(ours, ref, arch, args, device))
        if device.type == 'cuda':
            result.setdefault('kernels', []).append(kernel_row(ours, ref, arch, args, device))
    os.makedirs(args.out, exist_ok=True)
    stem = osp.join(args.out, f'benchmark_{device.type}')
    with open(stem + '.json', 'w') as f:
        json.dump(result, f, indent=1)
    plot(result, stem + '.png')
    print(f'wrote {stem}.json and {stem}.png')
    return result


def check_agreement(ours, ref, x):
    """Relative error of swin_mm's outputs against mmdet's in full fp32 (TF32 off); raises if
    over 1e-5."""
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.no_grad():
            err = relative_error(ours(x), ref(x))
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags
    if err > 1e-5:
        raise AssertionError(f'swin_mm and mmdet disagree on {tuple(x.shape)} (relative error '
                             f'{err:.2e})')
    return err


def speed_rows(ours, ref, arch, size, dtypes, args, result):
    """Forward and forward+backward times of both models at one input size, per dtype."""
    from swin_mm.profiling import forward_flops
    x = torch.randn(args.batch, 3, *size, device=next(ours.parameters()).device)
    err = check_agreement(ours, ref, x)
    flops = forward_flops(ours, x)
    rows = []
    for dtype in dtypes:
        rate = result['matmul_gflops'][str(dtype or 'fp32')] * 1e9
        for train in (False, True):
            t_ours, t_ref = time_pair(ours, ref, x, args.repeats, train, dtype, args.calls)
            gfs = None if train else flops / t_ours / 1e9  # FLOPs are counted for forward
            row = dict(arch=arch, size=list(size), dtype=str(dtype or 'fp32'),
                       mode='fwd+bwd' if train else 'forward', swin_mm_s=t_ours, mmdet_s=t_ref,
                       speedup=t_ref / t_ours, rel_error=err, forward_gflop=flops / 1e9,
                       forward_gflops_rate=gfs,
                       fraction_of_matmul=None if train else gfs * 1e9 / rate)
            rows.append(row)
            rate_text = (f'{"-":>8} {"-":>8}' if train
                         else f'{gfs:8.1f} {100 * gfs * 1e9 / rate:7.0f}%')
            print(f'{arch:5} {size[0]:>4}x{size[1]:<4} {row["dtype"][-4:]:>5} {row["mode"]:>8} '
                  f'{t_ours:9.4f} {t_ref:8.4f} {t_ref / t_ours:7.2f}x {rate_text}', flush=True)
            if not train and dtype is None:
                linear_floor(row, ours, x, rate)
                without(row, ours, x, rate, flops, args.repeats)
    return rows


def linear_floor(row, ours, x, rate):
    """Add to a forward row the time its linear layers alone take as bare matmuls (the floor
    that the rest of the forward sits on), and print it."""
    from swin_mm.profiling import linear_floor_seconds
    seconds, flops = linear_floor_seconds(ours, x)
    row.update(linear_floor_s=seconds, linear_gflop=flops / 1e9,
               linear_fraction_of_matmul=flops / seconds / rate)
    print(f'{"":31}linear layers alone, bare matmuls at these shapes: {seconds:.4f} s '
          f'({100 * seconds / row["swin_mm_s"]:.0f}% of the forward), {flops / 1e9:.1f} GFLOP at '
          f'{100 * flops / seconds / rate:.0f}% of matmul', flush=True)


def without(row, ours, x, rate, flops, repeats):
    """Add to a forward row its time with attention, then also LayerNorm, costing nothing
    (:func:`swin_mm.profiling.forward_seconds_without`), and print them with the FLOP rate that
    would be: the most that faster kernels for those ops could reach."""
    from swin_mm.profiling import forward_seconds_without
    parts = []
    for ops in (('attention',), ('attention', 'layernorm')):
        seconds = forward_seconds_without(ours, x, ops, repeats)
        row.setdefault('forward_without_s', {})['+'.join(ops)] = seconds
        parts.append(f'{" and ".join(ops)}: {seconds:.4f} s ({100 * flops / seconds / rate:.0f}% '
                     f'of matmul)')
    print(f'{"":31}the forward without {", without ".join(parts)}', flush=True)


def memory_row(ours, ref, arch, args, device, dtypes):
    """Activation memory of a training step (both, and swin_mm with_cp); peak CUDA memory."""
    size = parse_size(args.memory_size)
    x = torch.randn(args.batch, 3, *size, device=device)
    mem = dict(arch=arch, size=list(size), swin_mm_mib=activation_mib(ours, x),
               mmdet_mib=activation_mib(ref, x))
    set_with_cp(ours, True)
    mem['swin_mm_with_cp_mib'] = activation_mib(ours, x)
    set_with_cp(ours, False)
    print(f'activation memory, {arch} {size[0]}x{size[1]} training step: swin_mm '
          f'{mem["swin_mm_mib"]:.0f} MiB, mmdet {mem["mmdet_mib"]:.0f} MiB '
          f'({mem["swin_mm_mib"] / mem["mmdet_mib"]:.2f}x), swin_mm with_cp '
          f'{mem["swin_mm_with_cp_mib"]:.0f} MiB')
    if device.type == 'cuda':
        for dtype in dtypes:
            name = str(dtype or 'fp32')
            a, b = cuda_peak_mib(ours, x, dtype), cuda_peak_mib(ref, x, dtype)
            mem[f'swin_mm_cuda_peak_mib_{name}'], mem[f'mmdet_cuda_peak_mib_{name}'] = a, b
            print(f'peak CUDA memory, {arch} {name} training step: swin_mm {a:.0f} MiB, '
                  f'mmdet {b:.0f} MiB ({a / b:.2f}x)')
    return mem


def scaling_row(ours, ref, arch, args, device):
    """Forward time of both against pixel count, and the fitted exponents."""
    from swin_mm.profiling import fit_exponent
    scaling = dict(arch=arch, pixels=[], swin_mm_s=[], mmdet_s=[])
    for size in map(parse_size, args.scaling_sizes):
        x = torch.randn(args.batch, 3, *size, device=device)
        t_ours, t_ref = time_pair(ours, ref, x, max(1, args.repeats // 2), False, None,
                                  args.calls)
        scaling['pixels'].append(size[0] * size[1])
        scaling['swin_mm_s'].append(t_ours)
        scaling['mmdet_s'].append(t_ref)
    scaling['swin_mm_exponent'] = fit_exponent(scaling['pixels'], scaling['swin_mm_s'])
    scaling['mmdet_exponent'] = fit_exponent(scaling['pixels'], scaling['mmdet_s'])
    print(f'forward time ~ pixels^k, {arch}: swin_mm k={scaling["swin_mm_exponent"]:.2f}, '
          f'mmdet k={scaling["mmdet_exponent"]:.2f}')
    return scaling


ATTENTION_KERNEL_WORDS = ('fmha', 'flash', 'attention', 'sdpa', 'softmax')


def kernel_row(ours, ref, arch, args, device):
    """Which attention kernels a bf16 training step of each model runs, and how busy the GPU
    is (kernel time over wall time) at the largest benchmark size."""
    from swin_mm.profiling import cuda_kernel_times, median_time
    size = parse_size(args.sizes[-1])
    x = torch.randn(args.batch, 3, *size, device=device)
    row = dict(arch=arch, size=list(size))
    for name, model in (('swin_mm', ours), ('mmdet', ref)):
        step = step_closure(model, x, True, torch.bfloat16)
        wall = median_time(step, 3, warmup=2)
        kernels = cuda_kernel_times(step)
        attention = {k: v for k, v in kernels.items()
                     if any(w in k.lower() for w in ATTENTION_KERNEL_WORDS)}
        row[name] = dict(wall_s=wall, kernel_s=sum(kernels.values()), attention_kernels=attention)
        print(f'{name} {arch} {size[0]}x{size[1]} bf16 training step: GPU busy '
              f'{sum(kernels.values()) * 1e3:.1f} of {wall * 1e3:.1f} ms; attention kernels:')
        for k, v in sorted(attention.items(), key=lambda kv: -kv[1]):
            print(f'    {v * 1e3:7.2f} ms  {k[:110]}')
    return row


def plot(result, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for s in result.get('scaling', []):
        mp = [p / 1e6 for p in s['pixels']]
        label = f'swin_mm {s["arch"]} (k={s["swin_mm_exponent"]:.2f})'
        ax.plot(mp, s['swin_mm_s'], 'o-', label=label)
        ax.plot(mp, s['mmdet_s'], 's--', label=f'mmdet {s["arch"]} (k={s["mmdet_exponent"]:.2f})')
    ax.set(xlabel='megapixels', ylabel='forward time (s)', xscale='log', yscale='log',
           title=f'Swin forward, {result["device"]}')
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == '__main__':
    main()

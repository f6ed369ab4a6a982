"""Export a Swin detector, segmentor or backbone to one ONNX file that takes any batch, height
and width, and check it in onnxruntime against PyTorch at once.

    python tools/export.py CONFIG CHECKPOINT --out model.onnx [--backbone-only]
        [--shape H W] [--batch N] [--opset K] [--cfg-options k=v ...]

Whole models take the image as the test pipeline loads it, (B, 3, H, W) uint8 BGR, with the data
preprocessor's normalisation and padding in the graph. Segmentors (UperNet) return logits and
the label map at the input size; ATSS, Mask R-CNN and Cascade Mask R-CNN return ``dets``
(B, k, 5) and ``labels`` (B, k) (and the Mask R-CNNs ``masks`` (B, k, 28, 28)), post-processing
(NMS, RoIAlign, top-k)
in the graph as ONNX's standard operators. ``--backbone-only``: (B, 3, H, W) float32 -> the
backbone's feature maps. Evaluate a whole-model file with ``tools/test.py CONFIG model.onnx``.
"""
import argparse
import os.path as osp
import sys
import time

#: shapes checked in onnxruntime after export (batch, height, width), besides the example's
CHECK_SHAPES = ((2, 97, 133), (3, 31, 45), (1, 250, 61), (1, 512, 384), (1, 224, 224))
#: relative difference above which the check fails (float outputs), and the label agreement
#: below which it fails (integer outputs of segmentors)
MAX_REL_ERROR = 1e-4
MIN_LABEL_AGREEMENT = 0.999


def parse_args(argv=None):
    from mmengine.config import DictAction
    from swin_mm.deploy.onnx_export import DEFAULT_OPSET
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='detector or segmentor config with a Swin backbone')
    parser.add_argument('checkpoint', help='trained weights (tools/train.py checkpoint)')
    parser.add_argument('--out', required=True, help='the ONNX file to write')
    parser.add_argument('--backbone-only', action='store_true',
                        help='export the backbone alone (float32 image in, feature maps out)')
    parser.add_argument('--shape', type=int, nargs=2, default=[320, 320], metavar=('H', 'W'),
                        help='example input size for the trace (the graph takes any size)')
    parser.add_argument('--batch', type=int, default=1,
                        help='example batch size for the trace (the graph takes any batch)')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET, help='ONNX opset version')
    parser.add_argument('--no-check', action='store_true',
                        help='skip the onnxruntime comparison after export')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if min(args.shape) < 1 or args.batch < 1:
        parser.error(f'--shape {args.shape} --batch {args.batch}: sizes must be >= 1')
    if not args.out.endswith('.onnx'):
        parser.error(f'--out {args.out}: expected a .onnx file name')
    return args


def check_exportable(cfg, scope: str, backbone_only: bool, config: str) -> None:
    """A clear error for a model that has no export, before the checkpoint is read."""
    from swin_mm import ConfigError
    from swin_mm.deploy.detector_specs import SUPPORTED
    from swin_mm.engine.trained_model import SWIN_TYPES
    backbone = cfg.model.get('backbone', {}).get('type')
    if backbone not in SWIN_TYPES:
        raise ConfigError(f'{config}: model.backbone.type is {backbone!r}; tools/export.py '
                          f'exports models with a {" or ".join(SWIN_TYPES)}')
    if backbone_only or scope == 'mmseg':
        return
    if cfg.model.type not in SUPPORTED:
        raise ConfigError(f'{config}: detector {cfg.model.type}: export supports '
                          f'{", ".join(SUPPORTED)} (--backbone-only exports the backbone of any '
                          f'model)')


def print_checks(rows, integer_outputs: bool) -> bool:
    """The comparison table; True when every row is within the limits."""
    ok = True
    print(f'{"input (B, 3, H, W)":>22} {"max rel. diff":>14}' + (
        f' {"labels equal":>13}' if integer_outputs else ''))
    for row in rows:
        good = row['max_rel_error'] <= MAX_REL_ERROR and (
            row['label_agreement'] >= MIN_LABEL_AGREEMENT)
        ok &= good
        line = f'{str(row["shape"]):>22} {row["max_rel_error"]:>14.2e}'
        if integer_outputs:
            line += f' {100 * row["label_agreement"]:>12.3f}%'
        print(line + ('' if good else '  <- above the limit'))
    return ok


def main(argv=None):
    """Export and check; returns dict(path, spec, rows)."""
    args = parse_args(argv)
    import torch

    from swin_mm.deploy.onnx_export import compare_with_onnxruntime, export_onnx
    from swin_mm.deploy.specs import model_spec
    from swin_mm.engine import load_config, prepare_runtime
    from swin_mm.engine.trained_model import load_trained_model
    prepare_runtime()
    cfg = load_config(args.config, args.cfg_options)
    scope = cfg.get('default_scope', 'mmdet')
    check_exportable(cfg, scope, args.backbone_only, args.config)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    print(f'loading {args.config} with {args.checkpoint}', flush=True)
    model, cfg, scope = load_trained_model(args.config, args.checkpoint, args.cfg_options,
                                           'tools/export.py')
    spec = model_spec(model, scope, args.backbone_only)
    example_shape = (args.batch, 3, *args.shape)
    if spec.input_dtype == torch.uint8:
        example = torch.randint(0, 256, example_shape, dtype=torch.uint8,
                                generator=torch.Generator().manual_seed(0))
    else:
        example = torch.randn(example_shape, generator=torch.Generator().manual_seed(0))
    print(f'tracing {type(spec.module).__name__} at {example_shape} (opset {args.opset})',
          flush=True)
    start = time.perf_counter()
    export_onnx(spec, example, args.out, args.opset)
    print(f'wrote {args.out} ({osp.getsize(args.out) / 2**20:.1f} MiB) in '
          f'{time.perf_counter() - start:.1f} s; the graph takes and returns:')
    for line in spec.description:
        print(f'  {line}')
    rows = []
    if not args.no_check:
        shapes = [example_shape] + [(b, 3, h, w) for b, h, w in CHECK_SHAPES]
        print('onnxruntime against PyTorch on random inputs:', flush=True)
        rows = compare_with_onnxruntime(spec, args.out, shapes)
        integer = any(n in ('labels',) for n in spec.output_names) and scope == 'mmseg'
        if not print_checks(rows, integer):
            print(f'onnxruntime differs from PyTorch beyond {MAX_REL_ERROR:g} (relative) or '
                  f'{100 * MIN_LABEL_AGREEMENT:g}% equal labels', file=sys.stderr)
            if scope == 'mmseg' or args.backbone_only:
                raise SystemExit(1)
    return dict(path=args.out, spec=spec, rows=rows)


if __name__ == '__main__':
    main()

"""Convert any Swin or SwinV2 checkpoint to swin_mm's own format (the official key names) and
report.

    python tools/convert_weights.py SRC DST [--format official|timm|openmmlab] [--prefix backbone.]
"""
import argparse


def main(argv=None):
    from swin_mm.registry import BACKBONES
    from swin_mm.checkpoint import (FORMATS, CheckpointError, convert_state_dict,
                                    extract_state_dict, infer_arch, load_state_dict_into,
                                    read_checkpoint)
    from swin_mm.serialization import atomic_save
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='checkpoint file or URL')
    parser.add_argument('dst', help='output .pth')
    parser.add_argument('--format', choices=FORMATS, help='force the source format')
    parser.add_argument('--prefix', help='key prefix of the backbone in a whole-model checkpoint')
    parser.add_argument('--trust-pickle', action='store_true',
                        help='allow a checkpoint that needs full pickle (only for trusted files)')
    args = parser.parse_args(argv)
    try:
        sd, rest = extract_state_dict(read_checkpoint(args.src, args.trust_pickle), args.prefix)
        converted, fmt, dropped = convert_state_dict(sd, args.format)
        arch = infer_arch(converted)
        backbone = BACKBONES[arch['type']]
        model = backbone(**{k: v for k, v in arch.items() if k != 'type'}, drop_path_rate=0.0)
        if rest:
            dropped['other parts of the model (neck, heads)'] = rest
        report = load_state_dict_into(model, converted, args.src, fmt, dropped, strict=False)
    except CheckpointError as err:
        raise SystemExit(f'error: {err}')
    print(report)
    print(f'architecture: {arch}')
    state = {k: v for k, v in model.state_dict().items() if k in report.loaded}
    atomic_save({'state_dict': state, 'meta': dict(format='swin_mm', arch=arch, source=args.src)},
                args.dst)
    print(f'wrote {len(state)} tensors to {args.dst}')
    return report


if __name__ == '__main__':
    main()

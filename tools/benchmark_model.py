"""Whole-model inference speed of detector and segmentor configs, as a user runs them: the config
with swin_mm's SwinBackbone, the same config with MMDetection's / MMSegmentation's
SwinTransformer (the same weights everywhere), and its ResNet-50 counterpart (the same neck and
heads over a ResNet-50), in one run, with parameters and FLOPs beside them: the columns of the
Swin paper's Table 2a. SwinV2Backbone configs have no peer (neither MMDetection nor MMSegmentation
has a SwinV2): swin_mm's against the ResNet-50.

    python tools/benchmark_model.py CONFIG [CONFIG ...] [--shape H W] [--repeats 3]
        [--out results/]

Batch 1, eval mode, no autograd, random weights (seed 0). Timed is ``model.test_step`` on one
image: normalisation, padding, backbone, neck, heads and post-processing (NMS, mask pasting, with
score thresholds at 0 so that every detector returns its max_per_img detections, as trained ones
do); and beside it the backbone alone on the preprocessed image, to show how much of the whole it
is. The three models alternate in every repeat, so that drift hits all alike; the median is
reported. The default size is the config's test scale: 800x1333 for COCO detectors, 512x683 for
ADE20K segmentors (a 4:3 image at the test scale's shorter side). FLOPs are FlopCounterMode's
(matmuls, convolutions, attention; mmcv's RoIAlign and NMS are not counted). Writes
results/benchmark_models_cpu.json and prints a table.
"""
import argparse
import copy
import json
import logging
import os
import os.path as osp
import statistics
import time

import torch

#: Channels of ResNet-50's four stages.
RESNET50_CHANNELS = (256, 512, 1024, 2048)
DEFAULT_SHAPES = {'mmdet': (800, 1333), 'mmseg': (512, 683)}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='+', help='detector or segmentor configs with a '
                                                   'SwinBackbone')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='image size in pixels (default: the config\'s test scale)')
    parser.add_argument('--repeats', type=int, default=3, help='timed samples per model')
    parser.add_argument('--out', default='results', help='folder of the JSON')
    args = parser.parse_args(argv)
    from swin_mm.profiling import check_benchmark_args
    check_benchmark_args(parser, args)
    return args


def load(path):
    """The config, its scope, and the SwinBackbone arguments (ConfigError if it has none)."""
    from mmengine.config import Config

    from swin_mm import ConfigError
    cfg = Config.fromfile(path)
    backbone = cfg.model.get('backbone', {})
    if backbone.get('type') not in ('SwinBackbone', 'SwinV2Backbone'):
        raise ConfigError(f'{path}: model.backbone.type is {backbone.get("type")!r}; '
                          f'benchmark_model compares configs with a SwinBackbone or '
                          f'SwinV2Backbone')
    backbone.pop('init_cfg', None)  # random weights: nothing is downloaded
    _keep_every_detection(cfg.model.get('test_cfg'))
    return cfg, cfg.get('default_scope', 'mmdet')


def _keep_every_detection(test_cfg):
    """Score thresholds to 0: random weights score under them, and the heads' work (mask head,
    mask pasting) would then depend on the backbone's noise; at 0 every detector returns its
    max_per_img detections, as a trained one does on a COCO image."""
    if isinstance(test_cfg, dict):
        for key, value in test_cfg.items():
            if key == 'score_thr':
                test_cfg[key] = 0.0
            else:
                _keep_every_detection(value)
    elif isinstance(test_cfg, (list, tuple)):
        for value in test_cfg:
            _keep_every_detection(value)


def build(model_cfg, scope):
    from mmengine.logging import MMLogger
    from mmengine.registry import MODELS, DefaultScope, init_default_scope
    init_default_scope(scope)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(model_cfg)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # not a table of every parameter's initialiser
    try:
        model.init_weights()  # the heads' own (e.g. Sparse R-CNN's whole-image proposals)
    finally:
        logger.setLevel(level)
    return model.eval()


def peer_backbone(swin):
    """MMDetection's / MMSegmentation's SwinTransformer arguments for a built SwinBackbone."""
    return dict(type='SwinTransformer', embed_dims=swin.embed_dims, depths=swin.depths,
                num_heads=swin.num_heads, window_size=swin.window_size[0],
                patch_size=swin.patch_size, out_indices=swin.out_indices,
                use_abs_pos_embed=swin.absolute_pos_embed is not None, drop_path_rate=0.0)


def resnet50_model(model_cfg, scope, out_indices):
    """The model config with a ResNet-50 (MMSegmentation: ResNetV1c, its UperNet baseline) in
    place of the Swin, emitting the same stages; the neck's or heads' channels follow."""
    cfg = copy.deepcopy(model_cfg)
    channels = [RESNET50_CHANNELS[i] for i in out_indices]
    cfg.backbone = dict(type='ResNetV1c' if scope == 'mmseg' else 'ResNet', depth=50,
                        num_stages=4, out_indices=tuple(out_indices), style='pytorch',
                        norm_cfg=dict(type='BN', requires_grad=True))
    if cfg.get('neck'):
        cfg.neck.in_channels = channels
        return cfg
    cfg.decode_head.in_channels = channels
    if cfg.get('auxiliary_head'):
        cfg.auxiliary_head.in_channels = channels[cfg.auxiliary_head.get('in_index', -1)]
    return cfg


def models(cfg, scope):
    """{'swin_mm': ..., 'peer Swin': ..., 'ResNet-50': ...} in eval mode, the two Swin models
    with the same weights everywhere (checked on the backbone's outputs); no peer for SwinV2."""
    from swin_mm.checkpoint import convert_state_dict, load_state_dict_into
    torch.manual_seed(0)
    ours = build(cfg.model, scope)
    resnet = build(resnet50_model(cfg.model, scope, ours.backbone.out_indices), scope)
    if cfg.model.backbone.type == 'SwinV2Backbone':
        return {'swin_mm': ours, 'ResNet-50': resnet}
    peer_cfg = copy.deepcopy(cfg.model)
    peer_cfg.backbone = peer_backbone(ours.backbone)
    peer = build(peer_cfg, scope)
    converted, fmt, _ = convert_state_dict(peer.backbone.state_dict())
    load_state_dict_into(ours.backbone, converted, 'peer Swin', fmt)
    rest = {k: v for k, v in peer.state_dict().items() if not k.startswith('backbone.')}
    unexpected = ours.load_state_dict(rest, strict=False).unexpected_keys
    if unexpected:
        raise RuntimeError(f'the two models differ outside the backbone: {unexpected[:5]}')
    return {'swin_mm': ours, 'peer Swin': peer, 'ResNet-50': resnet}


def one_image(scope, shape):
    """test_step input: one uint8 image of ``shape`` with its data sample's metainfo."""
    if scope == 'mmseg':
        from mmseg.structures import SegDataSample as Sample
    else:
        from mmdet.structures import DetDataSample as Sample
    generator = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, *shape), generator=generator, dtype=torch.uint8)
    meta = dict(img_shape=shape, ori_shape=shape, scale_factor=(1.0, 1.0), img_id=0)
    return dict(inputs=[image], data_samples=[Sample(metainfo=meta)])


def check_same_backbone(ours, peer, data):
    """The two Swin backbones agree on the preprocessed image (relative error < 1e-4); the
    padded size of that image."""
    with torch.no_grad():
        x = ours.data_preprocessor(copy.deepcopy(data), False)['inputs']
        if peer is None:
            return tuple(x.shape[2:])
        for a, b in zip(ours.backbone(x), peer.backbone(x)):
            error = ((a - b).norm() / b.norm()).item()
            if not error < 1e-4:
                raise RuntimeError(f'swin_mm and the peer Swin disagree (relative error {error})')
    return tuple(x.shape[2:])


def test_step_flops(model, data):
    from swin_mm.profiling import counted_flops
    return counted_flops(lambda: model.test_step(copy.deepcopy(data)))


def time_models(named, data, repeats):
    """Median seconds per model of ``test_step`` and of its backbone alone on the preprocessed
    image, the models alternating (one warm-up each)."""
    steps = {name: [] for name in named}
    backbones = {name: [] for name in named}
    with torch.no_grad():
        x = named['swin_mm'].data_preprocessor(copy.deepcopy(data), False)['inputs']
        for repeat in range(repeats + 1):
            for name, model in named.items():
                batch = copy.deepcopy(data)
                start = time.perf_counter()
                model.test_step(batch)
                middle = time.perf_counter()
                model.backbone(x)
                if repeat:
                    steps[name].append(middle - start)
                    backbones[name].append(time.perf_counter() - middle)
    return ({name: statistics.median(t) for name, t in steps.items()},
            {name: statistics.median(t) for name, t in backbones.items()})


def measure(path, shape, repeats):
    """One row per model of ``path``: seconds, images/s, parameters, FLOPs."""
    cfg, scope = load(path)
    shape = tuple(shape or DEFAULT_SHAPES[scope])
    named = models(cfg, scope)
    data = one_image(scope, shape)
    padded = check_same_backbone(named['swin_mm'], named.get('peer Swin'), data)
    seconds, backbone_seconds = time_models(named, data, repeats)
    rows = []
    for name, model in named.items():
        rows.append(dict(model=name, seconds=seconds[name], images_per_s=1.0 / seconds[name],
                         backbone_seconds=backbone_seconds[name],
                         params=sum(p.numel() for p in model.parameters()),
                         backbone_params=sum(p.numel() for p in model.backbone.parameters()),
                         gflops=test_step_flops(model, data) / 1e9))
    return dict(config=osp.basename(path), shape=list(shape), padded=list(padded), rows=rows)


def print_result(result):
    h, w = result['shape']
    print(f"\n{result['config']}, one {h}x{w} image (padded to "
          f"{result['padded'][0]}x{result['padded'][1]}), batch 1")
    print(f"{'model':<10} {'s/img':>7} {'img/s':>7} {'backbone':>8} {'params':>8} {'GFLOPs':>7} "
          f"{'vs peer':>8} {'vs R-50':>8}")
    by_name = {row['model']: row for row in result['rows']}
    peer = by_name.get('peer Swin')
    for row in result['rows']:
        vs_peer = f"{peer['seconds'] / row['seconds']:7.2f}x" if peer else f"{'-':>8}"
        vs_resnet = by_name['ResNet-50']['seconds'] / row['seconds']
        print(f"{row['model']:<10} {row['seconds']:7.3f} {row['images_per_s']:7.3f} "
              f"{row['backbone_seconds']:7.3f}s {row['params'] / 1e6:7.1f}M {row['gflops']:7.0f} "
              f"{vs_peer} {vs_resnet:7.2f}x")


def main(argv=None):
    args = parse_args(argv)
    from swin_mm.engine import prepare_runtime
    from swin_mm.fast import gemm
    prepare_runtime()
    from swin_mm.profiling import cpu_description
    result = dict(device=cpu_description(), threads=torch.get_num_threads(),
                  torch=torch.__version__, cpu_products='oneDNN' if gemm.ONEDNN else 'MKL',
                  repeats=args.repeats, configs=[])
    print(f"{result['device']}, {result['threads']} threads, torch {result['torch']}, CPU "
          f"products through {result['cpu_products']}; median of {args.repeats}")
    for path in args.configs:
        result['configs'].append(measure(path, args.shape, args.repeats))
        print_result(result['configs'][-1])
    os.makedirs(args.out, exist_ok=True)
    out = osp.join(args.out, 'benchmark_models_cpu.json')
    with open(out, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'\nwritten: {out}')
    return result


if __name__ == '__main__':
    main()

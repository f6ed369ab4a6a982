"""Parameters and FLOPs of a config's backbone and of its whole model at one input size.

    python tools/get_flops.py configs/mask_rcnn_swin_t_coco.py [--shape 800 1280] \
        [--cfg-options ...]

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` on one test-mode forward of a
random image: matrix multiplies, convolutions and attention, 2 FLOPs per multiply-add (the Swin
paper's "FLOPs" are multiply-adds, printed here as GMACs). Element-wise work (norms, activations,
softmax) and mmcv's compiled ops (RoIAlign, NMS) are not counted, and a detector's head cost
depends on how many boxes survive to the mask head, so whole-model numbers are a lower bound.
"""
import argparse
import os.path as osp

import torch


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file path')
    parser.add_argument('--shape', type=int, nargs='+', default=[800, 1280],
                        help='input height and width in pixels (one number: square)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if len(args.shape) not in (1, 2):
        parser.error(f'--shape takes 1 or 2 numbers, got {args.shape}')
    args.shape = tuple(args.shape) * (3 - len(args.shape))
    return args


def _data_sample(scope: str, shape):
    """An empty data sample with the metainfo that a test pipeline would have given ``shape``."""
    if scope == 'mmseg':
        from mmseg.structures import SegDataSample as Sample
    else:
        from mmdet.structures import DetDataSample as Sample
    return Sample(metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape,
                                batch_input_shape=shape, scale_factor=(1.0, 1.0)))


def build_model(cfg):
    """The config's model, random init, eval mode, pretrained weights not fetched."""
    from mmengine.registry import DefaultScope, MODELS
    cfg.model.get('backbone', {}).pop('init_cfg', None)
    scope = cfg.get('default_scope', 'mmdet')
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    return model.eval(), scope


def measure(cfg, shape):
    """dict of parameter counts and FLOPs (backbone and whole model) at input ``shape`` (H, W)."""
    from swin_mm.profiling import counted_flops
    model, scope = build_model(cfg)
    x = torch.randn(1, 3, *shape)
    samples = [_data_sample(scope, shape)]
    backbone = model.backbone
    return dict(
        shape=list(shape),
        backbone_params=sum(p.numel() for p in backbone.parameters()),
        model_params=sum(p.numel() for p in model.parameters()),
        backbone_flops=counted_flops(lambda: backbone(x)),
        model_flops=counted_flops(lambda: model(x, samples, mode='predict')))


def main(argv=None):
    from mmengine.config import Config
    from swin_mm.engine import prepare_runtime
    args = parse_args(argv)
    prepare_runtime()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    r = measure(cfg, args.shape)
    h, w = r['shape']
    print(f'{osp.basename(args.config)} at {h}x{w} (FlopCounterMode; 1 MAC = 2 FLOPs)')
    print(f'{"":10} {"params":>9} {"GFLOPs":>9} {"GMACs":>9}')
    for part in ('backbone', 'model'):
        print(f'{part:10} {r[part + "_params"] / 1e6:8.2f}M {r[part + "_flops"] / 1e9:9.1f} '
              f'{r[part + "_flops"] / 2e9:9.1f}')
    return r


if __name__ == '__main__':
    main()

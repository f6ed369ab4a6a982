"""Pictures of what the Swin backbone of a detector or segmentor sees in one image: its feature
maps, the windows of a block (W-MSA and SW-MSA), a query's attention in each head beside the
relative-position bias alone, and Grad-CAM, HiResCAM and Eigen-CAM of a predicted box or a
class.

    python tools/visualize.py CONFIG CHECKPOINT IMAGE [--out DIR]
        [--what features,windows,attention,cam] [--stage S] [--block K]
        [--target-box I | --target-class C] [--pixel Y X] [--cfg-options k=v ...]

Writes one PNG per picture and index.html showing them with captions. The model runs on the
reference path (``fast=False``); pictures are drawn over the image as the network sees it
(resized by the config's test pipeline, padded as its data preprocessor pads).
"""
import argparse
import os
import os.path as osp

WHAT = ('features', 'windows', 'attention', 'cam')


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='detector or segmentor config with a SwinBackbone')
    parser.add_argument('checkpoint', help='trained weights (tools/train.py checkpoint)')
    parser.add_argument('image', help='an image file')
    parser.add_argument('--out', help='output folder (default: work_dirs/visualize/<image name>)')
    parser.add_argument('--what', default=','.join(WHAT),
                        help=f'comma-separated pictures to draw, of {",".join(WHAT)}')
    parser.add_argument('--stage', type=int, default=1,
                        help='backbone stage (0-3) of the windows, attention and CAM pictures')
    parser.add_argument('--block', type=int, default=-1,
                        help='block of that stage for the windows and attention (default: last)')
    target = parser.add_mutually_exclusive_group()
    target.add_argument('--target-box', type=int, help='detectors: index of the predicted box '
                                                       '(0: the top-scoring one, the default)')
    target.add_argument('--target-class', type=int,
                        help='segmentors: class whose pixels the CAM explains (default: the class '
                             'predicted most often)')
    parser.add_argument('--pixel', type=int, nargs=2, metavar=('Y', 'X'),
                        help='attention query, in network-input pixels (default: the centre of '
                             'the target box, or of the image)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    args.what = [w.strip() for w in args.what.split(',') if w.strip()]
    unknown = sorted(set(args.what) - set(WHAT))
    if unknown:
        parser.error(f'--what {",".join(unknown)}: expected some of {",".join(WHAT)}')
    return args


def load_model(config, checkpoint, cfg_options=None):
    """(model on the reference path with the checkpoint's weights, cfg, scope)."""
    from swin_mm.engine.trained_model import load_trained_model
    return load_trained_model(config, checkpoint, cfg_options, 'tools/visualize.py')


def load_image(cfg, scope, path):
    """The image through the config's test pipeline (annotations dropped), as test_step takes
    it. FileNotFoundError / ValueError naming the file when it is missing or does not decode."""
    import copy

    import mmcv
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope
    if not osp.isfile(path):
        raise FileNotFoundError(f'image not found: {path}')
    with open(path, 'rb') as f:
        if mmcv.imfrombytes(f.read()) is None:
            raise ValueError(f'{path} does not decode as an image')
    steps = [t for t in copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
             if t['type'] != 'LoadAnnotations']
    with DefaultScope.overwrite_default_scope(scope):
        packed = Compose(steps)(dict(img_path=path, img_id=0))
    return dict(inputs=[packed['inputs']], data_samples=[packed['data_samples']])


def choose_target(scope, result, args):
    """('box', index, box in network-input pixels) for detectors, ('class', c, None) for
    segmentors."""
    import torch
    if scope == 'mmseg':
        if args.target_box is not None:
            raise SystemExit('--target-box is for detectors; this config is a segmentor '
                             '(use --target-class)')
        if args.target_class is not None:
            return 'class', args.target_class, None
        return 'class', int(torch.bincount(result.pred_sem_seg.data.flatten()).argmax()), None
    if args.target_class is not None:
        raise SystemExit('--target-class is for segmentors; this config is a detector '
                         '(use --target-box)')
    from swin_mm.visualize.inspect import check_box_index
    index = args.target_box or 0
    boxes = result.pred_instances.bboxes
    check_box_index(index, len(boxes))
    scale = torch.tensor(result.metainfo['scale_factor']).repeat(2)
    return 'box', index, (boxes[index].detach() * scale).tolist()


def run(args):
    import torch

    from swin_mm.visualize import (block_attention, draw, eigen_cam, grad_cam, hires_cam,
                                   mass_inside, window_layout)
    from swin_mm.visualize.inspect import (box_score, class_pixels_score, input_image, inspect,
                                           score_gradient, swin_backbone)
    model, cfg, scope = load_model(args.config, args.checkpoint, args.cfg_options)
    data = load_image(cfg, scope, args.image)
    backbone = swin_backbone(model)
    if not 0 <= args.stage < len(backbone.layers):
        raise ValueError(f'--stage {args.stage}: the backbone has stages 0..'
                         f'{len(backbone.layers) - 1}')
    blocks = len(backbone.layers[args.stage].blocks)
    block = args.block % blocks if -blocks <= args.block < blocks else None
    if block is None:
        raise ValueError(f'--block {args.block}: stage {args.stage} has blocks 0..{blocks - 1}')
    out = args.out or osp.join('work_dirs', 'visualize', osp.splitext(osp.basename(args.image))[0])
    os.makedirs(out, exist_ok=True)

    seen = inspect(model, data)
    padded_size = tuple(seen.inputs.shape[2:])
    canvas = draw.pad_image(input_image(model, data), padded_size)
    kind, target, box = choose_target(scope, seen.result, args)
    stride = backbone.patch_size * 2 ** args.stage
    x = seen.block_inputs[(args.stage, block)]
    swin_block = backbone.layers[args.stage].blocks[block]
    entries, report = [], dict(out=out, target=(kind, target, box))

    if 'features' in args.what:
        feats = [(i, f[0]) for i, f in zip(backbone.out_indices, seen.outputs)]
        entries.append((osp.basename(draw.draw_features(canvas, feats, osp.join(
            out, 'features.png'))), 'Each backbone output: its first three principal components '
            'as RGB (positions represented alike share a colour), and the channel mean.'))
    if 'windows' in args.what:
        ws = swin_block.window_size
        layouts = [(f'stage {args.stage} W-MSA: {ws[0]}x{ws[1]} windows',
                    window_layout(tuple(x.shape[1:3]), ws, (0, 0))),
                   (f'SW-MSA: shifted by ({ws[0] // 2}, {ws[1] // 2})',
                    window_layout(tuple(x.shape[1:3]), ws, (ws[0] // 2, ws[1] // 2)))]
        report['layouts'] = layouts
        entries.append((osp.basename(draw.draw_windows(canvas, layouts, stride, osp.join(
            out, 'windows.png'))), f'Windows of stage {args.stage} ({stride} px tokens) over the '
            f'image padded to whole windows (hatched). Tokens of one colour attend to each other; '
            f'in SW-MSA the cyclic shift puts regions from opposite edges into one window, and the '
            f'mask keeps them apart (different colours).'))
    if 'attention' in args.what:
        if args.pixel is not None:
            pixel = args.pixel
        elif box is not None:
            pixel = ((box[1] + box[3]) / 2, (box[0] + box[2]) / 2)
        else:
            pixel = (canvas.shape[0] / 2, canvas.shape[1] / 2)
        H, W = x.shape[1:3]
        query = (min(int(pixel[0] // stride), H - 1), min(int(pixel[1] // stride), W - 1))
        amap = block_attention(swin_block, x, query)
        report['attention'] = amap
        padded = tuple(-(-s // w) * w for s, w in zip((H, W), swin_block.window_size))
        entries.append((osp.basename(draw.draw_attention(canvas, amap, padded, stride, osp.join(
            out, 'attention.png'))), f'Stage {args.stage} block {block} '
            f'({"SW-MSA" if any(swin_block.shift_size) else "W-MSA"}): the attention of the token '
            f'at pixel ({int(pixel[0])}, {int(pixel[1])}) (cross) over its window, per head, and '
            f'the relative-position bias alone.'))
    if 'cam' in args.what:
        if args.stage not in backbone.out_indices:
            raise ValueError(f'--stage {args.stage}: CAM needs a backbone output; out_indices '
                             f'are {list(backbone.out_indices)}')
        position = backbone.out_indices.index(args.stage)
        score = box_score(target) if kind == 'box' else class_pixels_score(target)
        act, grad, _ = score_gradient(model, data, position, score)
        image_size = tuple(input_image(model, data).shape[:2])
        maps = (('Grad-CAM', grad_cam(act, grad)), ('HiResCAM', hires_cam(act, grad)),
                ('Eigen-CAM', eigen_cam(act)))
        cams = {name: torch.from_numpy(draw.upsample(cam, padded_size))[:image_size[0],
                                                                         :image_size[1]]
                for name, cam in maps}
        report['cams'] = cams
        what = f'box {target}' if kind == 'box' else f'class {target}'
        caption = ''
        if box is not None:
            report['mass_inside'] = {n: mass_inside(c, box) for n, c in cams.items()}
            caption = ', '.join(f'{n}: {100 * m:.0f}% inside the box'
                                for n, m in report['mass_inside'].items())
        path = draw.draw_cam(canvas[:image_size[0], :image_size[1]], cams,
                             osp.join(out, 'cam.png'), box, what)
        entries.append((osp.basename(path), f'Grad-CAM and HiResCAM of {what}\'s score, and '
                                            f'Eigen-CAM (gradient-free), at stage {args.stage}. '
                                            f'{caption}'))
    report['html'] = draw.write_html(out, entries, f'{osp.basename(args.config)}: '
                                                   f'{osp.basename(args.image)}')
    report['pngs'] = [osp.join(out, name) for name, _ in entries]
    return report


def main(argv=None):
    args = parse_args(argv)
    from swin_mm.engine import prepare_runtime
    prepare_runtime()
    report = run(args)
    for path in report['pngs']:
        print(f'written: {path}')
    for name, mass in report.get('mass_inside', {}).items():
        print(f'{name}: {100 * mass:.0f}% of its mass inside the target box')
    print(f'open {report["html"]}')
    return report


if __name__ == '__main__':
    main()

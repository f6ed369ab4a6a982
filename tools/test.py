"""Evaluate a checkpoint: the flags of MMDetection's/MMSegmentation's tools/test.py.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE] [--show-dir DIR]
        [--tta] [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]

CHECKPOINT may be an ONNX file of tools/export.py (a whole detector or segmentor): it is run by
onnxruntime on the config's test set and scored with the same metrics.
"""
import argparse
import inspect
import os


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file, or an ONNX file of tools/export.py')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics and logs')
    parser.add_argument('--out', help='dump the predictions to this pickle file')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='save images with predictions drawn into this dir '
                                           '(relative to the work dir\'s timestamp folder)')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation '
                                                          '(the config\'s tta_model/tta_pipeline)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _trigger_visualization(cfg, args):
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise SystemExit('--show/--show-dir need default_hooks.visualization in the config')
    hook['draw'] = True
    hook['interval'] = 1
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        import importlib
        scope = cfg.get('default_scope')  # look the hook up in its own scope's registry
        registry = importlib.import_module(f'{scope}.registry' if scope else 'mmengine.registry')
        hook_cls = registry.HOOKS.get(hook['type'])
        if hook_cls is not None and 'test_out_dir' in inspect.signature(hook_cls).parameters:
            hook['test_out_dir'] = args.show_dir  # MMDetection's hook
        else:
            cfg.visualizer['save_dir'] = args.show_dir  # MMSegmentation's hook


def _use_tta(cfg, path):
    if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
        raise SystemExit(f'--tta: {path} defines no tta_model and tta_pipeline; configs that '
                         'support it define both (e.g. configs/atss_swin_t_coco_3x.py, '
                         'configs/upernet_swin_t_ade20k.py)')
    cfg.model = dict(**cfg.tta_model, module=cfg.model)
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:
        dataset = dataset['dataset']
    dataset.pipeline = cfg.tta_pipeline


def _use_onnx(cfg, path):
    """The config's model replaced by the exported file run in onnxruntime."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'ONNX file not found: {path}')
    scope = cfg.get('default_scope', 'mmdet')
    rcnn = cfg.model.get('test_cfg', {}).get('rcnn', {})
    head = cfg.model.get('decode_head', {})
    cfg.model = dict(type='OnnxRuntimeModel', onnx_file=path, task=scope,
                     mask_thr_binary=rcnn.get('mask_thr_binary', 0.5),
                     align_corners=head.get('align_corners', False))
    cfg.load_from = None


def configure(args):
    from swin_mm.engine import load_config
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    cfg.load_from = args.checkpoint
    if args.checkpoint.endswith('.onnx'):
        if args.tta:
            raise SystemExit('--tta: an ONNX file is evaluated single-scale (test-time '
                             'augmentation runs the PyTorch model: pass the checkpoint)')
        import swin_mm.deploy.runtime  # noqa: F401  (registers OnnxRuntimeModel)
        _use_onnx(cfg, args.checkpoint)
    if args.show or args.show_dir:
        _trigger_visualization(cfg, args)
    if args.tta:
        _use_tta(cfg, args.config)
    return cfg


def main(argv=None):
    """Run the test loop; returns the metrics dict."""
    args = parse_args(argv)
    from swin_mm.engine import (build_runner, check_data_paths, check_model_channels,
                                prepare_runtime)
    from swin_mm.serialization import safe_load
    prepare_runtime()
    cfg = configure(args)
    check_data_paths(cfg, ('test_dataloader',))
    if cfg.load_from is not None:
        check_model_channels(cfg)
        safe_load(args.checkpoint)  # a clear error for a missing, truncated or unsafe file
    runner = build_runner(cfg)
    if args.out:
        from mmengine.registry import METRICS, DefaultScope
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
            dump = 'DumpDetResults' if METRICS.get('DumpDetResults') else 'DumpResults'
        runner.test_evaluator.metrics.append(METRICS.build(dict(type=dump, out_file_path=args.out)))
    return runner.test()


if __name__ == '__main__':
    main()
    from swin_mm.engine import close_distributed
    close_distributed()  # with the Runner gone: torchrun processes exit cleanly

"""Train a detector or segmentor with a Swin backbone: the flags of MMDetection's tools/train.py.

    python tools/train.py configs/mask_rcnn_swin_t_coco.py [--work-dir DIR] [--amp]
        [--resume [CKPT]] [--auto-scale-lr] [--cfg-options k=v ...] [--launcher none|pytorch|...]
"""
import argparse
import os
import os.path as osp


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Train a model (MMDetection/MMSegmentation config)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and checkpoints')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the real batch size (auto_scale_lr)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or without a path from the latest '
                             'good checkpoint in the work dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value '
                             '(e.g. model.backbone.with_cp=True)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


#: The devices MMEngine's AmpOptimWrapper trains on.
AMP_DEVICES = ('cuda', 'npu', 'mlu', 'musa')


def check_amp_device():
    """MMEngine's AmpOptimWrapper trains on an accelerator only: say so up front, not as an
    assertion from inside the Runner."""
    from mmengine.device import get_device
    device = get_device()
    if device not in AMP_DEVICES:
        raise SystemExit(f'--amp: mixed-precision training (MMEngine\'s AmpOptimWrapper) needs a '
                         f'CUDA, NPU, MLU or MUSA device; this machine has {device!r} '
                         f'only. Train without --amp here.')


def configure(args):
    """The config with the command line applied."""
    from swin_mm.engine import load_config
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.amp:
        check_amp_device()
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise SystemExit(f'{args.config} has no auto_scale_lr.base_batch_size to scale from')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':  # the newest complete checkpoint, or a fresh start when none
        from swin_mm.engine import latest_good_checkpoint
        cfg.load_from = latest_good_checkpoint(cfg.work_dir) if osp.isdir(cfg.work_dir) else None
        cfg.resume = cfg.load_from is not None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def main(argv=None):
    args = parse_args(argv)
    from swin_mm.engine import (build_runner, check_data_paths, check_model_channels,
                                check_outputs_used, prepare_runtime)
    prepare_runtime()
    cfg = configure(args)
    check_model_channels(cfg)
    check_outputs_used(cfg)  # before DDP meets a parameter without gradient
    check_data_paths(cfg, ('train_dataloader', 'val_dataloader'))
    if cfg.get('resume') and cfg.get('load_from'):
        from swin_mm.serialization import safe_load
        safe_load(cfg.load_from)  # a clear error for a missing, truncated or unsafe file
    runner = build_runner(cfg)
    runner.train()
    return runner


if __name__ == '__main__':
    main()
    from swin_mm.engine import close_distributed
    close_distributed()  # with the Runner gone: torchrun processes exit cleanly

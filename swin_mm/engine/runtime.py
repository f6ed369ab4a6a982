"""What tools/train.py and tools/test.py do around MMEngine's Runner, for any task.

- :func:`prepare_runtime`: registers swin_mm, allow-lists MMEngine's own data classes for
  ``torch.load(weights_only=True)``, applies :mod:`.mmengine_patches` (atomic checkpoints,
  weights_only-safe log buffers, CPU distributed runs) and keeps freed memory in the process
  (:func:`swin_mm.fast.allocator.keep_freed_memory`).
- :func:`check_data_paths`: a missing dataset is a clear error naming the path and the expected
  layout, and a malformed one names the file and the item (:mod:`.dataset_checks`), before any
  worker starts.
- :func:`build_runner`: ``Runner.from_cfg`` or the config's ``runner_type``, with the random
  states saved in every checkpoint (:class:`.resume.RandomStateHook`).
- :func:`close_distributed`: leaves the process group before the interpreter exits.
"""
from __future__ import annotations

import os
from typing import Iterator, List, Optional, Tuple

__all__ = ['prepare_runtime', 'load_config', 'check_data_paths',
           'build_runner', 'close_distributed', 'DatasetNotFoundError', 'latest_good_checkpoint']

_LAYOUTS = {
    'CocoDataset': 'ROOT/annotations/instances_{train,val}2017.json and ROOT/{train,val}2017/*.jpg',
    'ADE20KDataset': 'ROOT/images/{training,validation}/*.jpg and '
                     'ROOT/annotations/{training,validation}/*.png',
    'BaseSegDataset': 'ROOT/<data_prefix.img_path>/*<img_suffix> and '
                      'ROOT/<data_prefix.seg_map_path>/*<seg_map_suffix>',
}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset path of the config does not exist."""


def prepare_runtime() -> None:
    """Once per process, before building a Runner."""
    import swin_mm  # noqa: F401  (registers SwinBackbone)
    from swin_mm.serialization import allow_mmengine_globals

    from ..fast.allocator import keep_freed_memory
    from .mmengine_patches import patch_mmengine
    keep_freed_memory()
    allow_mmengine_globals()
    patch_mmengine()


def _datasets(cfg) -> Iterator[Tuple[str, dict]]:
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(split)
        if not loader:
            continue
        dataset = loader.get('dataset')
        while isinstance(dataset, dict):
            yield split, dataset
            dataset = dataset.get('dataset')


def _paths(dataset: dict) -> List[str]:
    root = dataset.get('data_root') or ''
    paths = []
    if dataset.get('ann_file'):
        paths.append(os.path.join(root, dataset['ann_file']))
    for value in (dataset.get('data_prefix') or {}).values():
        if isinstance(value, str) and value:
            paths.append(os.path.join(root, value))
    return paths or ([root] if root else [])


def check_data_paths(cfg, splits: Tuple[str, ...] = ('train_dataloader', 'val_dataloader',
                                                      'test_dataloader')) -> None:
    """Raise :class:`DatasetNotFoundError` for the first dataset path of ``splits`` that is missing.

    Only local paths are checked (a ``backend_args`` of another storage is trusted).
    """
    checked = set()
    for split, dataset in _datasets(cfg):
        if split not in splits or dataset.get('backend_args'):
            continue
        for path in _paths(dataset):
            if not os.path.exists(path):
                kind = dataset.get('type', 'dataset')
                layout = _LAYOUTS.get(kind, 'the layout of the dataset class')
                raise DatasetNotFoundError(
                    f'{split}: {kind} path not found: {path!r}. Expected {layout} under data_root '
                    f'{dataset.get("data_root")!r}; set it with --cfg-options or generate the toy '
                    f'dataset (see README).')
        _check_files(dataset, checked)


def _check_files(dataset: dict, checked: set) -> None:
    """The contents of a COCO-style or folder-style segmentation dataset (once per path)."""
    from .dataset_checks import check_coco_annotations, check_segmentation_folders
    root = dataset.get('data_root') or ''
    prefix = dataset.get('data_prefix') or {}
    ann_file = dataset.get('ann_file') or ''
    if ann_file.endswith('.json') and 'img' in prefix:
        key = (os.path.join(root, ann_file), os.path.join(root, prefix['img']))
        if key not in checked:
            check_coco_annotations(*key)
    elif 'img_path' in prefix and 'seg_map_path' in prefix and not ann_file:
        key = (os.path.join(root, prefix['img_path']), os.path.join(root, prefix['seg_map_path']),
               dataset.get('img_suffix', '.jpg'), dataset.get('seg_map_suffix', '.png'))
        if key not in checked:
            check_segmentation_folders(*key)
    else:
        return
    checked.add(key)


def latest_good_checkpoint(work_dir: str) -> Optional[str]:
    """The newest checkpoint in ``work_dir`` whose file is complete (zip directory and CRCs),
    skipping damaged ones with a warning; None when there is none."""
    import glob
    import warnings
    import zipfile
    candidates = sorted(glob.glob(os.path.join(work_dir, '*.pth')), key=os.path.getmtime,
                        reverse=True)
    for path in candidates:
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is None:
                return path
            reason = f'corrupt entry {bad}'
        except (zipfile.BadZipFile, OSError) as err:
            reason = str(err)
        warnings.warn(f'skipping damaged checkpoint {path} ({reason}); trying an older one')
    return None


def load_config(path: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None,
                launcher: str = 'none'):
    """The MMEngine Config at ``path`` with command-line overrides applied, as MMDetection's
    tools do: ``--cfg-options``, ``--work-dir`` (default ``./work_dirs/<config name>``),
    ``--launcher``."""
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = os.path.join('./work_dirs', os.path.splitext(os.path.basename(path))[0])
    return cfg


def build_runner(cfg):
    """A Runner for ``cfg`` (``runner_type`` when the config names one)."""
    import torch
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if cfg.get('launcher', 'none') != 'none' and not torch.cuda.is_available():
        # DistributedDataParallel over CPU processes takes no device_ids (MMEngine passes the rank)
        wrapper = cfg.get('model_wrapper_cfg') or dict(
            type='MMDistributedDataParallel', broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        wrapper['device_ids'] = None
        cfg.model_wrapper_cfg = wrapper
    hooks = cfg.get('custom_hooks') or []
    if not any(h.get('type') == 'RandomStateHook' for h in hooks):
        from . import resume  # noqa: F401  (registers the hook)
        cfg.custom_hooks = [*hooks, dict(type='RandomStateHook')]  # resumable inside an epoch
    if isinstance(cfg.get('visualizer'), dict):
        # the visualizer is a named global: a second Runner in one process (tests, notebooks)
        # would otherwise draw into the first one's folders
        import uuid
        name = cfg.visualizer.get('name', 'visualizer')
        cfg.visualizer['name'] = f'{name}_{uuid.uuid4().hex[:8]}'
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)


def close_distributed() -> None:
    """Leave this process's process group (``--launcher pytorch``), if it joined one; call it
    once the Runner is no longer referenced.

    A torchrun process that exits with its gloo group alive can abort at interpreter shutdown
    ("terminate called without an active exception", SIGABRT) after a successful run, and
    ``destroy_process_group`` alone is not enough while the Runner's DistributedDataParallel
    (in a reference cycle) still holds the group: collect first, then destroy. MMEngine's Runner
    does neither."""
    import gc

    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        gc.collect()  # the Runner's reference cycles: its DistributedDataParallel holds the group
        dist.destroy_process_group()

"""What tools/train.py and tools/test.py do around MMEngine's Runner, for any task.

- :func:`prepare_runtime`: registers swin_mm, allow-lists MMEngine's own checkpoint classes for
  ``torch.load(weights_only=True)``, and makes MMEngine write checkpoints atomically.
- :func:`check_data_paths`: a missing dataset is a clear error naming the path and the expected
  layout, before any worker starts.
- :func:`build_runner`: ``Runner.from_cfg`` or the config's ``runner_type``.
"""
from __future__ import annotations

import os
from typing import Iterator, List, Optional, Tuple

__all__ = ['prepare_runtime', 'check_data_paths', 'build_runner', 'DatasetNotFoundError',
           'latest_good_checkpoint']

_LAYOUTS = {
    'CocoDataset': 'ROOT/annotations/instances_{train,val}2017.json and ROOT/{train,val}2017/*.jpg',
    'ADE20KDataset': 'ROOT/images/{training,validation}/*.jpg and '
                     'ROOT/annotations/{training,validation}/*.png',
}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset path of the config does not exist."""


def prepare_runtime() -> None:
    """Once per process, before building a Runner."""
    import mmengine.runner.runner as mm_runner

    import swin_mm  # noqa: F401  (registers SwinBackbone)
    from swin_mm.serialization import allow_mmengine_globals, atomic_save
    allow_mmengine_globals()

    def save_checkpoint_atomically(checkpoint, filename, backend_args=None, **_):
        atomic_save(checkpoint, filename)

    mm_runner.save_checkpoint = save_checkpoint_atomically


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


def build_runner(cfg):
    """A Runner for ``cfg`` (``runner_type`` when the config names one)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)

"""A dataset folder is complete when its marker file, written last, records the same parameters."""
from __future__ import annotations

import json
import os
import os.path as osp

__all__ = ['is_complete', 'mark_complete']

MARKER = '.swin_mm_toy.json'


def is_complete(root: str, params: dict) -> bool:
    """Whether ``root`` holds a finished dataset generated with ``params``."""
    try:
        with open(osp.join(root, MARKER)) as f:
            return json.load(f) == params
    except (OSError, ValueError):
        return False


def mark_complete(root: str, params: dict) -> None:
    """Record that ``root`` was fully written with ``params`` (atomically, after the data)."""
    tmp = osp.join(root, MARKER + '.tmp')
    with open(tmp, 'w') as f:
        json.dump(params, f)
    os.replace(tmp, osp.join(root, MARKER))

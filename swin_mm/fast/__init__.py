"""Speed paths beside the reference model, each a drop-in for one reference function.

:mod:`swin_mm.fast.dispatch` says which path runs for a device, dtype and mode, and is the only
module the reference model calls (when built with ``fast=True``, the default). ``SWIN_MM_FAST=0``
in the environment makes every model built afterwards take the reference path. docs/design.md
describes the paths; tests/fast checks each against the reference function it replaces.
"""
from __future__ import annotations

import os
from typing import Optional

import torch

__all__ = ['fast_enabled', 'autocast_off']


def fast_enabled(requested: Optional[bool] = True) -> bool:
    """Whether a model that asks for the fast paths (``requested``; None means yes) gets them:
    not when the environment says ``SWIN_MM_FAST=0``."""
    setting = os.environ.get('SWIN_MM_FAST', '1').strip().lower()
    if setting not in ('0', '1', 'false', 'true', 'no', 'yes', ''):
        raise ValueError(f'SWIN_MM_FAST={setting!r}: expected 0 or 1')
    return requested is not False and setting not in ('0', 'false', 'no')


def autocast_off(like: torch.Tensor) -> torch.autocast:
    """A context without autocast on ``like``'s device, for a custom backward: it may run inside
    the caller's autocast region (or outside the forward's) and must compute in the dtypes it
    chooses."""
    return torch.autocast(like.device.type, enabled=False)

"""Glue between swin_mm and MMEngine's Runner (needs mmengine; imported by the tools only)."""
from .runtime import (DatasetNotFoundError, build_runner, check_data_paths, latest_good_checkpoint,
                      prepare_runtime)

__all__ = ['DatasetNotFoundError', 'build_runner', 'check_data_paths', 'latest_good_checkpoint',
           'prepare_runtime']

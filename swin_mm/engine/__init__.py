"""Glue between swin_mm and MMEngine's Runner (needs mmengine; imported by the tools only)."""
from ..fast.allocator import keep_freed_memory
from .dataset_checks import DatasetError
from .model_checks import check_model_channels, check_outputs_used
from .runtime import (DatasetNotFoundError, build_runner, check_data_paths, close_distributed,
                      latest_good_checkpoint, load_config, prepare_runtime)

__all__ = ['DatasetError', 'DatasetNotFoundError', 'build_runner', 'check_data_paths',
           'check_model_channels', 'check_outputs_used', 'close_distributed', 'keep_freed_memory',
           'latest_good_checkpoint', 'load_config', 'prepare_runtime']

"""A detector or segmentor with a Swin backbone, built from its config on the reference path and
loaded with a trained checkpoint: what tools/visualize.py draws and tools/export.py exports."""
from __future__ import annotations

from typing import Optional, Tuple

__all__ = ['SWIN_TYPES', 'load_trained_model']

SWIN_TYPES = ('SwinBackbone', 'SwinV2Backbone')


def load_trained_model(config: str, checkpoint: str, cfg_options: Optional[dict] = None,
                       tool: str = 'this tool') -> Tuple[object, object, str]:
    """(model in eval mode on the reference path with the checkpoint's weights, cfg, scope).

    The config is checked before the checkpoint is read: a backbone that is not a Swin raises
    ``ConfigError`` naming it, a missing or unsafe file ``CheckpointError``/``FileNotFoundError``,
    a checkpoint of another model ``CheckpointError`` naming the tensors it lacks.
    """
    from mmengine.registry import MODELS, DefaultScope, init_default_scope

    from ..errors import ConfigError
    from ..serialization import CheckpointError, safe_load
    from .runtime import load_config
    cfg = load_config(config, cfg_options)
    backbone = cfg.model.get('backbone', {})
    if backbone.get('type') not in SWIN_TYPES:
        raise ConfigError(f'{config}: model.backbone.type is {backbone.get("type")!r}; '
                          f'{tool} takes models with a {" or ".join(SWIN_TYPES)}')
    backbone.update(fast=False, init_cfg=None)  # the plain modules: hooks and tracing see them
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    state = safe_load(checkpoint)
    state = state.get('state_dict', state) if isinstance(state, dict) else state
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys:
        raise CheckpointError(f'{checkpoint}: not a checkpoint of this model; it lacks '
                              f'{len(result.missing_keys)} of its tensors '
                              f'({", ".join(result.missing_keys[:3])}, ...)')
    return model.eval(), cfg, scope

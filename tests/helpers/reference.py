"""Reference twins of fast models, and weights wide enough that a wrong bias or scale shows."""
import copy

import torch
import torch.nn as nn

from swin_mm.fast.dispatch import FastLinear


def reference_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every module on the reference path: ``fast`` off and plain
    ``nn.Linear`` layers, the same weights (what ``fast=False`` builds)."""
    twin = copy.deepcopy(model)
    for module in twin.modules():
        if hasattr(module, 'fast'):
            module.fast = False
        if isinstance(module, FastLinear):
            module.__class__ = nn.Linear
    return twin


@torch.no_grad()
def widen_parameters(model: nn.Module, seed: int = 0) -> nn.Module:
    """Relative-position bias tables drawn from N(0, 1), every other parameter moved by N(0, 0.1)
    (norms and biases away from their 1 / 0 start), so that a dropped or misplaced term shows."""
    generator = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        noise = torch.randn(param.shape, generator=generator, dtype=param.dtype)
        if name.endswith('relative_position_bias_table'):
            param.copy_(noise)
        else:
            param.add_(noise * 0.1)
    return model


def relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    """||got - expected|| / ||expected||, in float64."""
    expected = expected.double()
    return ((got.double() - expected).norm() / expected.norm()).item()


def assert_all_close(got, expected, tol: float, what: str = 'output') -> None:
    """Each pair of tensors within ``tol`` relative error (:func:`relative_error`)."""
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert a.shape == b.shape, (what, i, a.shape, b.shape)
        err = relative_error(a, b)
        assert err < tol, f'{what} {i}: relative error {err:.2e} >= {tol:.0e}'

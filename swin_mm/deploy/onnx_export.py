"""Export a model to one ONNX graph with dynamic batch, height and width, and check it in
onnxruntime against PyTorch.

The TorchScript exporter (``torch.onnx.export(..., dynamo=False)``) is used: it records sizes as
graph values, so one trace serves every input size once the model does not branch on sizes
(:func:`swin_mm.ops.window.sizes_are_symbolic`), and data-dependent detector post-processing
(NMS, top-k) traces as it runs. ``torch.export`` (the dynamo exporter) instead has to prove every
shape guard for all sizes; docs/deploy.md says where that stops.
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

__all__ = ['GraphSpec', 'export_onnx', 'compare_with_onnxruntime', 'onnxruntime_session',
           'DEFAULT_OPSET']

#: NonMaxSuppression, RoiAlign (half_pixel) and Resize as used here need opset >= 16
DEFAULT_OPSET = 17
MIN_OPSET = 16


@dataclass
class GraphSpec:
    """A module to export and how its inputs and outputs are named.

    Attributes:
        module: called as ``module(image)``, returns a tuple of tensors.
        input_dtype: ``torch.uint8`` (raw images) or ``torch.float32``.
        output_names: one per returned tensor.
        dynamic_axes: ONNX dynamic axes of every input and output, by name.
        description: one line per input/output for the user.
    """
    module: nn.Module
    input_dtype: torch.dtype
    output_names: List[str]
    dynamic_axes: Dict[str, Dict[int, str]]
    description: List[str] = field(default_factory=list)
    input_name: str = 'image'

    def __post_init__(self) -> None:
        # a new wrapper module starts in training mode, and the exporter restores the mode it
        # found on the whole tree: the model would run with batch statistics after an export
        self.module.eval()


def export_onnx(spec: GraphSpec, example: torch.Tensor, path: str,
                opset: int = DEFAULT_OPSET) -> None:
    """Trace ``spec.module`` on ``example`` and write the ONNX file to ``path`` (written
    whole to a temporary file first, then renamed: an existing file is replaced only by a
    complete one). The same model and example give the same bytes."""
    if opset < MIN_OPSET:
        raise ValueError(f'--opset {opset}: the graph needs opset >= {MIN_OPSET}')
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # the exporter's notes on the legacy exporter and on traced Python values (checked)
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        warnings.filterwarnings('ignore', category=FutureWarning)
        warnings.filterwarnings('ignore', message='.*legacy TorchScript-based ONNX export.*')
        warnings.filterwarnings('ignore', message='Constant folding - Only steps=1')
        torch.onnx.export(spec.module.eval(), (example,), buffer, dynamo=False,
                          input_names=[spec.input_name], output_names=spec.output_names,
                          dynamic_axes=spec.dynamic_axes, opset_version=opset,
                          do_constant_folding=True)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f'.{os.path.basename(path)}.{os.getpid()}.tmp')
    with open(tmp, 'wb') as f:
        f.write(buffer.getvalue())
    os.replace(tmp, path)


def onnxruntime_session(path: str, threads: int = 0):
    """An onnxruntime CPU session of ``path`` (``threads`` 0: onnxruntime's default)."""
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ImportError('onnxruntime is needed to run exported models: '
                          'pip install onnxruntime (README, Deploy)') from err
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def compare_with_onnxruntime(spec: GraphSpec, path: str, shapes: Sequence[Tuple[int, ...]],
                             seed: int = 0) -> List[Dict[str, object]]:
    """Run the ONNX file and the PyTorch module on random inputs of every shape.

    Returns one dict per shape: ``shape``, ``max_rel_error`` (max over float outputs of
    max |onnx - torch| / max |torch|) and ``label_agreement`` (fraction of equal entries of
    the integer outputs, 1.0 when there are none).
    """
    session = onnxruntime_session(path)
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for shape in shapes:
        if spec.input_dtype == torch.uint8:
            x = torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)
        else:
            x = torch.randn(shape, generator=generator)
        with torch.no_grad():
            expected = spec.module(x)
        got = session.run(None, {spec.input_name: x.numpy()})
        errors, agreement = [], []
        for e, g in zip(expected, got):
            e = e.numpy()
            if e.shape != g.shape:
                raise AssertionError(f'input {tuple(shape)}: onnxruntime output shape {g.shape}, '
                                     f'PyTorch {e.shape}')
            if np.issubdtype(e.dtype, np.floating):
                errors.append(float(np.abs(g - e).max() / max(np.abs(e).max(), 1e-30))
                              if e.size else 0.0)
            else:
                agreement.append(float((g == e).mean()) if e.size else 1.0)
        rows.append(dict(shape=tuple(shape), max_rel_error=max(errors, default=0.0),
                         label_agreement=min(agreement, default=1.0)))
    return rows

"""The dispatcher: which path runs for a device, dtype and mode; ``fast=False`` and
``SWIN_MM_FAST=0`` keep a model plain PyTorch, forward and backward."""
import pytest
import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode

from swin_mm import SwinBackbone
from swin_mm.fast import dispatch, fast_enabled, gemm
from swin_mm.models.swin import SwinBlock

PATHS = ['block_inference', 'projected_window_attention', 'efficient_window_attention',
         'recomputing_attention', 'sdpa_attention', 'mlp_inference', 'chunked_mlp', 'gelu_linear']


@pytest.fixture
def taken(monkeypatch):
    """The names of the fast paths that ran (each recorded once)."""
    seen = set()
    for name in PATHS:
        kernel = getattr(dispatch, name)

        def spy(*args, _name=name, _kernel=kernel, **kwargs):
            seen.add(_name)
            return _kernel(*args, **kwargs)
        monkeypatch.setattr(dispatch, name, spy)
    gather = dispatch.window_gather.shift_and_partition

    def gather_spy(*args, **kwargs):
        seen.add('window_gather')
        return gather(*args, **kwargs)
    monkeypatch.setattr(dispatch.window_gather, 'shift_and_partition', gather_spy)
    return seen


def _tiny(**kwargs):
    torch.manual_seed(0)
    return SwinBackbone(embed_dims=32, depths=(2, 2), num_heads=(2, 4), out_indices=(0, 1),
                        drop_path_rate=0.0, **kwargs)


def _step(model, x):
    sum(o.sum() for o in model(x)).backward()


@pytest.mark.skipif(not gemm.ONEDNN_AVAILABLE, reason='needs oneDNN')
def test_cpu_inference_runs_blocks_by_window_ranges(taken):
    with torch.no_grad():
        _tiny().eval()(torch.randn(1, 3, 40, 44))
    assert taken == {'block_inference'}  # which runs the fused MLP itself


def test_cpu_fp32_training_takes_the_chunked_paths(taken):
    _step(_tiny().train(), torch.randn(1, 3, 40, 44))
    assert taken == {'window_gather', 'projected_window_attention', 'chunked_mlp'}


def test_cpu_autocast_training_recomputes_attention(taken):
    with torch.autocast('cpu', dtype=torch.bfloat16):
        _step(_tiny().train(), torch.randn(1, 3, 40, 44))
    assert taken == {'window_gather', 'recomputing_attention', 'gelu_linear'}


def test_dropout_and_other_activations_take_the_plain_mlp_and_sdpa(taken):
    model = _tiny(attn_drop_rate=0.1, drop_rate=0.1).train()
    _step(model, torch.randn(1, 3, 40, 44))
    assert taken == {'window_gather', 'sdpa_attention'}


def test_predicates_of_block_inference():
    block = SwinBlock(32, 4).eval()
    x = torch.randn(1, 7, 7, 32)
    with torch.no_grad():
        assert dispatch.block_inference_applies(block, x) == gemm.ONEDNN_AVAILABLE
        assert not dispatch.block_inference_applies(block, x.double())
        assert not dispatch.block_inference_applies(block.train(), x)  # dropout, drop path
        block.eval()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert not dispatch.block_inference_applies(block, x)
        block.mlp.act = nn.GELU(approximate='tanh')
        assert not dispatch.block_inference_applies(block, x)
    assert not dispatch.block_inference_applies(SwinBlock(32, 4).eval(), x)  # autograd records


def test_linear_layers_follow_the_library_choice(monkeypatch):
    x, w = torch.randn(3, 8), torch.randn(4, 8)
    for onednn in (False, True):
        monkeypatch.setattr(gemm, 'ONEDNN', onednn)
        assert dispatch.onednn_linear_applies(x, w) == (onednn and gemm.ONEDNN_AVAILABLE)
        assert not dispatch.onednn_linear_applies(x.double(), w.double())


class _OpRecorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(str(func))
        return func(*args, **(kwargs or {}))


def _custom_functions(outputs):
    """Class names of custom autograd Functions in the graph behind ``outputs``."""
    found, stack, seen = set(), [o.grad_fn for o in outputs], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if isinstance(node, torch.autograd.function.BackwardCFunction):
            found.add(type(node).__name__)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return found


@pytest.mark.parametrize('onednn', [False, True])
@pytest.mark.parametrize('grad', [False, True])
def test_reference_path_runs_plain_pytorch_only(monkeypatch, onednn, grad):
    """fast=False: nn.Linear layers, no oneDNN op and no custom autograd Function, forward and
    backward, whatever library the fast paths would choose; the fast model does use them."""
    monkeypatch.setattr(gemm, 'ONEDNN', onednn)
    model = _tiny(fast=False).train(grad)
    assert not model.fast
    assert all(type(m) is nn.Linear for m in model.modules() if isinstance(m, nn.Linear))
    x = torch.randn(2, 3, 40, 44, requires_grad=grad)
    with _OpRecorder() as recorder, torch.set_grad_enabled(grad):
        outs = model(x)
        if grad:
            assert not _custom_functions(outs)
            sum(o.sum() for o in outs).backward()
    assert not [op for op in recorder.ops if 'mkldnn' in op], sorted(recorder.ops)
    assert not [op for op in recorder.ops if 'efficient_attention' in op]
    fast = _tiny()
    if grad:
        assert _custom_functions(fast(x)) >= {'_RowGatherBackward', '_ChunkedMlpBackward'}
    elif gemm.ONEDNN_AVAILABLE:
        with _OpRecorder() as recorder, torch.no_grad():
            fast.eval()(x)
        assert 'mkldnn._linear_pointwise.default' in recorder.ops


def test_environment_switch_makes_every_model_reference(monkeypatch):
    monkeypatch.setenv('SWIN_MM_FAST', '0')
    assert not fast_enabled(True) and not fast_enabled(None)
    model = _tiny(fast=True)
    assert not model.fast
    assert not any(getattr(m, 'fast', False) for m in model.modules())
    assert not any(isinstance(m, dispatch.FastLinear) for m in model.modules())
    monkeypatch.setenv('SWIN_MM_FAST', '1')
    assert fast_enabled(None) and not fast_enabled(False)
    assert isinstance(_tiny().layers[0].blocks[0].attn.qkv, dispatch.FastLinear)
    monkeypatch.setenv('SWIN_MM_FAST', 'fastest')
    with pytest.raises(ValueError, match="SWIN_MM_FAST='fastest': expected 0 or 1"):
        _tiny()


def test_both_paths_have_the_same_state_dict_keys():
    fast, reference = _tiny(), _tiny(fast=False)
    assert list(fast.state_dict()) == list(reference.state_dict())
    reference.load_state_dict(fast.state_dict())

"""SwinBackbone on CUDA (skipped without a GPU; CI has none): the CPU's numbers in fp32, bf16
autocast close to fp32, and training through SDPA's fused memory-efficient kernel."""
import copy

import pytest
import torch

from swin_mm import SwinBackbone
from tests.helpers.losses import projection_loss
from tests.helpers.openmmlab import relative_error

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')

ATTENTION_KERNEL_WORDS = ('fmha', 'flash', 'attention', 'sdpa')


@pytest.fixture
def full_fp32():
    """fp32 matmuls and convolutions without TF32, for comparisons against float64."""
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


def _model():
    torch.manual_seed(0)
    model = SwinBackbone('tiny', drop_path_rate=0.0)
    with torch.no_grad():  # make the relative bias matter
        for name, p in model.named_parameters():
            if 'relative_position_bias_table' in name:
                p.normal_(0, 1)
    return model


def _train_step(model, x, autocast_dtype=None):
    """Outputs (float32) and parameter gradients of one training step."""
    model.train()
    model.zero_grad()
    with torch.autocast('cuda', dtype=autocast_dtype or torch.float32,
                        enabled=autocast_dtype is not None):
        outs = [o.float() for o in model(x)]
    projection_loss(outs).backward()
    return outs, {n: p.grad.double().cpu() for n, p in model.named_parameters()}


@pytest.mark.parametrize('size', [(224, 224), (61, 90)])  # 61x90 pads in every stage
def test_training_step_matches_float64_on_cpu(full_fp32, size):
    torch.manual_seed(1)
    x = torch.randn(2, 3, *size)  # two images: the per-window mask takes one call per image
    ref_outs, ref_grads = _train_step(_model().double(), x.double())
    outs, grads = _train_step(_model().cuda(), x.cuda())
    for a, b in zip(outs, ref_outs):
        assert relative_error(a.cpu(), b) < 1e-5
    for name, grad in grads.items():
        assert relative_error(grad, ref_grads[name]) < 1e-4, name


def test_inference_matches_float64_on_cpu(full_fp32):
    torch.manual_seed(2)
    x = torch.randn(1, 3, 93, 130)
    with torch.no_grad():
        ref = _model().double().eval()(x.double())
        outs = _model().cuda().eval()(x.cuda())
    for a, b in zip(outs, ref):
        assert relative_error(a.cpu(), b) < 1e-5


def test_bf16_autocast_training_is_as_accurate_as_mmdet(full_fp32):
    """bf16 autocast's error (against fp32) in every output and gradient is within 3x (+1e-2) of
    MMDetection's own bf16 error with the same weights and input (measured on CPU: 0.8-1.4x)."""
    from mmdet.models.backbones.swin import swin_converter
    from tests.helpers.openmmlab import load_official_into_openmmlab, mmdet_swin
    torch.manual_seed(3)
    x = torch.randn(2, 3, 160, 224, device='cuda')
    ours = _model()
    ref = mmdet_swin(embed_dims=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24),
                     drop_path_rate=0.0)
    load_official_into_openmmlab(ref, ours.state_dict())
    errors = {}
    for name, model in (('ours', ours.cuda()), ('mmdet', ref.cuda())):
        outs32, grads32 = _train_step(model, x)
        outs16, grads16 = _train_step(model, x, torch.bfloat16)
        if name == 'ours':  # in mmdet's parameter names
            grads32, grads16 = ({k[len('backbone.'):]: v for k, v in swin_converter(g).items()}
                                for g in (grads32, grads16))
        errors[name] = {f'output {i}': relative_error(a, b)
                        for i, (a, b) in enumerate(zip(outs16, outs32))}
        errors[name].update({k: relative_error(grads16[k], grads32[k]) for k in grads32})
    # 1e-2 on top: an error under bf16's rounding (4e-3) is noise, and may be 0 for mmdet
    excess = {k: errors['ours'][k] - 3 * errors['mmdet'][k] for k in errors['mmdet']}
    worst = max(excess, key=excess.get)
    print('largest bf16 errors (ours, mmdet):', sorted(
        ((errors['ours'][k], errors['mmdet'][k], k) for k in excess), reverse=True)[:5])
    assert excess[worst] < 1e-2, (worst, errors['ours'][worst], errors['mmdet'][worst])


@pytest.mark.parametrize('dtype', [None, torch.bfloat16])
def test_training_takes_the_memory_efficient_kernel(dtype):
    """With SDPA restricted to its memory-efficient kernel (which raises if the kernel cannot
    take the inputs: layout, mask, or a mask that needs a gradient) a training step runs and
    gives the gradients of the default dispatch."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    x = torch.randn(2, 3, 96, 160, device='cuda')
    model = _model().cuda()
    _, grads = _train_step(model, x, dtype)
    with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION]):
        _, fused = _train_step(copy.deepcopy(model), x, dtype)
    for name, grad in grads.items():
        assert relative_error(grad, fused[name]) < (1e-5 if dtype is None else 1e-2), name


def test_training_step_runs_no_unfused_softmax():
    """The default dispatch, profiled: attention runs in a fused kernel (forward and backward),
    never as a separate softmax (the unfused math fallback)."""
    from swin_mm.profiling import cuda_kernel_times
    x = torch.randn(1, 3, 224, 224, device='cuda')
    model = _model().cuda()
    _train_step(model, x, torch.bfloat16)  # warm-up
    names = [k.lower() for k in cuda_kernel_times(lambda: _train_step(model, x, torch.bfloat16))]
    assert not [k for k in names if 'softmax' in k], names
    assert [k for k in names if any(w in k for w in ATTENTION_KERNEL_WORDS)], names

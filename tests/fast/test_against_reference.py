"""The whole backbone on its fast paths against the same weights on the reference path: outputs
within 1e-5 and gradients within 1e-4 (relative), on MKL and on oneDNN whatever this CPU's
vendor, in one chunk and over many; autocast within a tolerance that a dropped bias exceeds."""
import pytest
import torch

from swin_mm import SwinBackbone
from swin_mm.fast import chunks
from tests.helpers.reference import (assert_all_close, reference_copy, relative_error,
                                     widen_parameters)

#: Odd, non-square, two images: padding in every stage, odd sizes at patch merging.
SHAPE = (2, 3, 75, 93)


def _pair(**kwargs):
    torch.manual_seed(0)
    model = SwinBackbone(embed_dims=32, depths=(2, 2, 2, 2), num_heads=(2, 4, 8, 8),
                         drop_path_rate=0.0, **kwargs)
    widen_parameters(model)
    return model, reference_copy(model)


def _outputs_and_gradients(model, x, weights):
    """The outputs, then the gradients of the input and of every parameter, of the loss
    sum(output * weights) (linear: no LayerNorm cancellation in fp32)."""
    x = x.clone().requires_grad_()
    outs = model(x)
    loss = sum((o.float() * w).sum() for o, w in zip(outs, weights))
    grads = torch.autograd.grad(loss, [x, *model.parameters()])
    return [o.detach() for o in outs], grads


@pytest.mark.parametrize('chunk_bytes', [chunks.CHUNK_BYTES, 4096], ids=['one_chunk', 'many'])
def test_inference_equals_the_reference(library, monkeypatch, chunk_bytes):
    monkeypatch.setattr(chunks, 'CHUNK_BYTES', chunk_bytes)
    model, reference = _pair()
    x = torch.randn(SHAPE)
    with torch.no_grad():
        assert_all_close(model.eval()(x), reference.eval()(x), 1e-5)


@pytest.mark.parametrize('chunk_bytes', [chunks.CHUNK_BYTES, 4096], ids=['one_chunk', 'many'])
def test_training_equals_the_reference(library, monkeypatch, chunk_bytes):
    """fp32 training on CPU: the gather, the projected attention (its backward over ranges of
    windows) and the chunked MLP; 4 KiB chunks split every stage's work into many."""
    monkeypatch.setattr(chunks, 'CHUNK_BYTES', chunk_bytes)
    model, reference = _pair()
    x = torch.randn(SHAPE)
    with torch.no_grad():
        weights = [torch.randn_like(o) for o in reference.eval()(x)]
    outs, grads = _outputs_and_gradients(model.train(), x, weights)
    ref_outs, ref_grads = _outputs_and_gradients(reference.train(), x, weights)
    assert_all_close(outs, ref_outs, 1e-5)
    names = ['input'] + [name for name, _ in model.named_parameters()]
    for name, got, expected in zip(names, grads, ref_grads, strict=True):
        assert relative_error(got, expected) < 1e-4, (name, relative_error(got, expected))


@pytest.mark.parametrize('train', [False, True], ids=['inference', 'training'])
def test_autocast_is_within_bf16_rounding_of_the_reference(train):
    """bf16 autocast (the recomputing attention and gelu_linear in training; SDPA, the gather
    and the plain MLP in inference) against the fp32 reference: within a tolerance that the
    same model without its relative-position bias exceeds many times over."""
    model, reference = _pair()
    x = torch.randn(SHAPE)
    with torch.no_grad():
        weights = [torch.randn_like(o) for o in reference.eval()(x)]
    model.train(train)
    reference.train(train)
    ref_outs, ref_grads = _outputs_and_gradients(reference, x, weights)

    def errors(m):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            if not train:
                with torch.no_grad():
                    return [relative_error(o.float(), r) for o, r in zip(m(x), ref_outs)]
            outs, grads = _outputs_and_gradients(m, x, weights)
        return ([relative_error(o, r) for o, r in zip(outs, ref_outs)]
                + [relative_error(g, r) for g, r in zip(grads[:1], ref_grads[:1])])

    tolerance = 0.05
    assert max(errors(model)) < tolerance, errors(model)
    without_bias, _ = _pair()
    with torch.no_grad():
        for name, param in without_bias.named_parameters():
            if name.endswith('relative_position_bias_table'):
                param.zero_()
    assert max(errors(without_bias.train(train))) > 4 * tolerance

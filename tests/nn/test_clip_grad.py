"""``nn.utils``: gradient clipping by norm and by value, and parameters <-> vector, against
PyTorch (norm types, mixed dtypes, missing gradients, non-finite norms)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
from tapegrad.nn.utils import (clip_grad_norm, clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_,
                               get_total_norm, parameters_to_vector, vector_to_parameters)

NORM_TYPES = [2.0, 1, 3.0, 0.5, float("inf"), -float("inf"), 0]


def _torch():
    return pytest.importorskip("torch")


def _params(lib, seed: int, dtypes=("float32", "float32", "float64"), missing=(1,)):
    """Three parameters of assorted shapes and dtypes; those in ``missing`` have no grad."""
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (5,), ()]
    params = []
    for k, (shape, dtype) in enumerate(zip(shapes, dtypes)):
        p = lib.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)
        grad = (rng.standard_normal(shape) * rng.choice([0.1, 3.0])).astype(dtype)
        if k not in missing:
            p.grad = lib.tensor(grad)
        params.append(p)
    return params


@pytest.mark.torch
@pytest.mark.parametrize("norm_type", NORM_TYPES, ids=str)
@pytest.mark.parametrize("max_norm", [0.1, 1e4])
@pytest.mark.parametrize("dtypes", [("float32",) * 3, ("float64",) * 3, ("float32", "float64", "float32")],
                         ids=["f32", "f64", "mixed"])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtypes):
    torch = _torch()
    ours, theirs = _params(tapegrad, 1, dtypes), _params(torch, 1, dtypes)
    total = clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert str(total.dtype).rsplit(".", 1)[-1] == str(expected.dtype).rsplit(".", 1)[-1]
    assert total.shape == () and not total.requires_grad
    np.testing.assert_allclose(total.numpy(), expected.numpy(), rtol=1e-6)
    for a, b in zip(ours, theirs):
        assert (a.grad is None) == (b.grad is None)
        if b.grad is not None:
            assert a.grad.dtype.scalar_name == {"torch.float32": "Float", "torch.float64": "Double"}[str(b.grad.dtype)]
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=1e-8)


def test_clip_grad_norm_scales_to_max_norm_and_returns_the_norm_before():
    p = tapegrad.tensor([0.0, 0.0], requires_grad=True)
    p.grad = tapegrad.tensor([3.0, 4.0])
    total = clip_grad_norm_(p, max_norm=1.0)
    assert total.item() == 5.0
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    # Already inside the bound: the gradient keeps its value.
    clip_grad_norm_([p], max_norm=10.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    inf_total = clip_grad_norm_(p, 0.4, norm_type="inf")
    np.testing.assert_allclose(inf_total.item(), 0.8, rtol=1e-6)
    np.testing.assert_allclose(p.grad.numpy(), [0.3, 0.4], rtol=1e-5)


def test_clip_grad_norm_accepts_generators_and_modules_parameters():
    model = nn.Linear(3, 2)
    model(tapegrad.ones(4, 3)).sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    total = clip_grad_norm_(model.parameters(), 1e-3)
    expected = math.sqrt(sum(float((g * g).sum()) for g in grads))
    np.testing.assert_allclose(total.item(), expected, rtol=1e-6)
    assert get_total_norm([p.grad for p in model.parameters()]).item() == pytest.approx(1e-3, rel=1e-3)
    with pytest.warns(UserWarning, match="`parameters` is an empty generator, no gradient clipping will occur."):
        assert clip_grad_norm_((p for p in []), 1.0).item() == 0.0


def test_no_gradients_give_a_zero_norm():
    p = tapegrad.ones(2, requires_grad=True)
    total = clip_grad_norm_([p], 1.0)
    assert total.item() == 0.0 and total.dtype is tapegrad.float32 and p.grad is None
    assert clip_grad_norm_([], 1.0).item() == 0.0


def test_non_finite_norm_raises_only_when_asked():
    p = tapegrad.ones(2, requires_grad=True)
    p.grad = tapegrad.tensor([math.inf, 1.0])
    with pytest.raises(RuntimeError, match="The total norm of order 2.0 for gradients from `parameters` is "
                                           "non-finite, so it cannot be clipped"):
        clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    assert p.grad.tolist() == [math.inf, 1.0]  # untouched after the error
    p.grad = tapegrad.tensor([math.nan, 1.0])
    with pytest.raises(RuntimeError, match="order inf"):
        clip_grad_norm_(p, 1.0, norm_type=math.inf, error_if_nonfinite=True)
    total = clip_grad_norm_(p, 1.0)
    assert math.isnan(total.item()) and all(math.isnan(v) for v in p.grad.tolist())


@pytest.mark.torch
def test_non_finite_messages_equal_torchs():
    torch = _torch()
    messages = []
    for lib, clip in ((tapegrad, clip_grad_norm_), (torch, torch.nn.utils.clip_grad_norm_)):
        p = lib.ones(2, requires_grad=True)
        p.grad = lib.tensor([math.inf, 1.0])
        with pytest.raises(RuntimeError) as info:
            clip(p, 1.0, norm_type=3, error_if_nonfinite=True)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_clip_grads_with_norm_uses_a_given_total():
    p = tapegrad.ones(2, requires_grad=True)
    p.grad = tapegrad.tensor([2.0, 2.0])
    clip_grads_with_norm_([p], 1.0, tapegrad.tensor(4.0))
    np.testing.assert_allclose(p.grad.numpy(), [0.5, 0.5], rtol=1e-5)


def test_clipping_is_not_recorded():
    x = tapegrad.ones(2, requires_grad=True)
    p = tapegrad.ones(2, requires_grad=True)
    p.grad = x * 3  # a gradient with history (as create_graph would leave)
    clip_grad_norm_(p, 1.0)
    clip_grad_value_(p, 0.1)
    assert p.grad.tolist() == pytest.approx([0.1, 0.1])


def test_deprecated_clip_grad_norm_warns():
    p = tapegrad.ones(1, requires_grad=True)
    p.grad = tapegrad.tensor([2.0])
    with pytest.warns(FutureWarning, match="clip_grad_norm` is now deprecated in favor of"):
        assert clip_grad_norm(p, 1.0).item() == 2.0


@pytest.mark.torch
@pytest.mark.parametrize("clip_value", [0.05, 1, 100.0])
def test_clip_grad_value_matches_torch(clip_value):
    torch = _torch()
    ours, theirs = _params(tapegrad, 2, missing=(0,)), _params(torch, 2, missing=(0,))
    assert clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for a, b in zip(ours, theirs):
        assert (a.grad is None) == (b.grad is None)
        if b.grad is not None:
            np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_clip_grad_value_on_a_single_tensor():
    p = tapegrad.ones(3, requires_grad=True)
    p.grad = tapegrad.tensor([-5.0, 0.2, 5.0])
    grad = p.grad
    clip_grad_value_(p, 1)
    assert p.grad is grad and grad.tolist() == pytest.approx([-1.0, 0.2, 1.0])


def test_parameters_to_vector_and_back():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1, bias=False))
    params = list(model.parameters())
    vector = parameters_to_vector(params)
    assert vector.shape == (sum(p.numel() for p in params),)
    np.testing.assert_array_equal(vector.detach().numpy(),
                                  np.concatenate([p.detach().numpy().reshape(-1) for p in params]))
    # Gradients flow back through the flattening.
    (vector * tapegrad.arange(float(vector.numel()))).sum().backward()
    np.testing.assert_array_equal(params[0].grad.numpy().reshape(-1), np.arange(6.0))
    new = tapegrad.arange(float(vector.numel()))
    vector_to_parameters(new, params)
    assert params[1].tolist() == [6.0, 7.0] and params[2].tolist() == [[8.0, 9.0]]
    # The parameters now view the vector's storage.
    new[0] = 100.0
    assert params[0][0, 0].item() == 100.0
    with pytest.raises(TypeError, match="expected tapegrad.Tensor, but got: list"):
        vector_to_parameters([1.0], params)


@pytest.mark.torch
def test_parameters_to_vector_matches_torch():
    torch = _torch()
    ours, theirs = _params(tapegrad, 3, dtypes=("float32",) * 3), _params(torch, 3, dtypes=("float32",) * 3)
    np.testing.assert_array_equal(parameters_to_vector(ours).detach().numpy(),
                                  torch.nn.utils.parameters_to_vector(theirs).detach().numpy())
    assert parameters_to_vector(ours).grad_fn.name() == torch.nn.utils.parameters_to_vector(theirs).grad_fn.name()

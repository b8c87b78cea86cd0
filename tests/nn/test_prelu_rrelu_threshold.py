"""PReLU, RReLU, Threshold and Softmax2d, functions and modules: RReLU's random slopes drawn as
PyTorch draws them, the learned PReLU slopes' gradients, integer thresholds, reprs and
PyTorch's errors. (The elementwise maths of threshold and prelu is in the op table.)"""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.autograd import gradcheck, gradgradcheck
from torch_errors import raises_as_torch


def _data(shape: tuple[int, ...], seed: int, dtype: str = "float64") -> np.ndarray:
    data = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    data[..., 0] = 0.0  # an exact zero: rrelu draws a slope there, prelu takes the slope
    return data


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("inplace", [False, True])
def test_rrelu_training_draws_torchs_slopes_and_gradient(dtype: str, inplace: bool) -> None:
    torch = pytest.importorskip("torch")
    data = _data((3, 4), 1, dtype)
    results = []
    for lib in (tapegrad, torch):
        lib.manual_seed(7)
        x = lib.tensor(data, requires_grad=True)
        y = lib.nn.functional.rrelu(x * 1, 0.1, 0.6, training=True, inplace=inplace)
        after = lib.rand(2, dtype=lib.float64)  # the generators stay in step
        (y * lib.tensor(data[::-1].copy())).sum().backward()
        results.append((y.grad_fn.name(), y.detach().numpy(), x.grad.numpy(), after.numpy()))
    assert results[0][0] == results[1][0]
    for ours, theirs in zip(results[0][1:], results[1][1:], strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_rrelu_slopes_lie_between_the_bounds_and_positive_values_pass() -> None:
    x = tapegrad.tensor(-np.linspace(0.5, 3.0, 400))
    slopes = (F.rrelu(x, 0.2, 0.3, training=True) / x).numpy()
    assert slopes.min() >= 0.2 and slopes.max() < 0.3 and slopes.std() > 0.02
    positive = tapegrad.tensor([0.5, 2.0])
    assert F.rrelu(positive, training=True).tolist() == [0.5, 2.0]
    assert F.rrelu(tapegrad.tensor([-2.0]), 0.25, 0.75).tolist() == [-1.0]  # eval: the mean slope


def test_rrelu_module_follows_training_mode_and_compile_refuses_training() -> None:
    module = nn.RReLU(0.1, 0.3)
    x = tapegrad.tensor(-np.ones(50))
    assert len(set(module(x).tolist())) > 1
    module.eval()
    np.testing.assert_allclose(module(x).numpy(), -0.2)
    step = tapegrad.compile(lambda t: F.rrelu(t, training=True).sum())
    with pytest.raises(tapegrad.compiler.trace.TraceError, match="rrelu in training mode"):
        for _ in range(3):
            step(tapegrad.tensor([-1.0, 2.0]))


@pytest.mark.torch
@pytest.mark.parametrize("call", [
    lambda L: L.nn.functional.rrelu(L.randn(3), 0.5, 0.1),
    lambda L: L.nn.functional.rrelu(L.tensor([1, 2]), training=True),
    lambda L: L.nn.functional.rrelu(L.tensor([1, 2])),
    lambda L: L.nn.functional.threshold(L.tensor([True]), 0, 1),
    lambda L: L.nn.functional.prelu(L.tensor([1, 2]), L.tensor([1])),
    lambda L: L.nn.functional.prelu(L.randn(2, 3), L.randn(3).double()),
    lambda L: L.nn.functional.prelu(L.randn(2, 3), L.randn(2)),
    lambda L: L.nn.functional.prelu(L.randn(3), L.randn(3)),
    lambda L: L.nn.functional.prelu(L.randn(2, 3), L.randn(3, 1)),
    lambda L: L.nn.Softmax2d()(L.randn(2, 3)),
], ids=["rrelu_bounds", "rrelu_long_training", "rrelu_long", "threshold_bool", "prelu_long", "prelu_dtypes",
        "prelu_channels", "prelu_1d", "prelu_weight_rank", "softmax2d_rank"])
def test_errors_match_torch(call) -> None:
    raises_as_torch(call)


@pytest.mark.torch
@pytest.mark.parametrize("values", [[-3, -1, 0, 1, 2, 7], [-2, 5]])
@pytest.mark.parametrize("threshold, value", [(1.5, 7.9), (-1.5, 4), (0, -2.5)])
def test_threshold_of_integers_matches_torch(values: list, threshold: float, value: float) -> None:
    torch = pytest.importorskip("torch")
    ours = F.threshold(tapegrad.tensor(values), threshold, value)
    theirs = torch.nn.functional.threshold(torch.tensor(values), threshold, value)
    assert ours.dtype is tapegrad.int64 and ours.tolist() == theirs.tolist()


@pytest.mark.torch
@pytest.mark.parametrize("shape, parameters", [((2, 3, 4), 3), ((2, 3), 1), ((5,), 1), ((2, 4, 2, 2), 4)], ids=str)
def test_prelu_module_matches_torch(shape: tuple, parameters: int) -> None:
    torch = pytest.importorskip("torch")
    data = _data(shape, 2)
    results = []
    for lib in (tapegrad, torch):
        module = lib.nn.PReLU(parameters, init=0.1, dtype=lib.float64)
        with lib.no_grad():
            module.weight.add_(lib.tensor(np.linspace(0, 0.5, parameters)))
        x = lib.tensor(data, requires_grad=True)
        y = module(x)
        (y * lib.tensor(_data(shape, 3))).sum().backward()
        results.append((repr(module), y.grad_fn.name(), y.detach().numpy(), x.grad.numpy(), module.weight.grad.numpy()))
    assert results[0][:2] == results[1][:2]
    for ours, theirs in zip(results[0][2:], results[1][2:], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_prelu_gradients_of_any_order_against_finite_differences() -> None:
    x = tapegrad.tensor(_data((2, 3, 2), 4) + 0.05, requires_grad=True)
    w = tapegrad.tensor([0.2, -0.3, 0.5], dtype=tapegrad.float64, requires_grad=True)
    assert gradcheck(F.prelu, (x, w))
    assert gradgradcheck(F.prelu, (x, w))


@pytest.mark.torch
def test_module_reprs_and_softmax2d_match_torch() -> None:
    torch = pytest.importorskip("torch")
    for build in (lambda L: L.nn.PReLU(), lambda L: L.nn.PReLU(4, 0.1), lambda L: L.nn.Threshold(0.1, 20),
                  lambda L: L.nn.Threshold(-1, 2.5, True), lambda L: L.nn.RReLU(), lambda L: L.nn.RReLU(0.1, 0.3, True),
                  lambda L: L.nn.Softmax2d()):
        assert repr(build(tapegrad)) == repr(build(torch))
    data = _data((2, 3, 2, 2), 5)
    for shape in ((2, 3, 2, 2), (3, 2, 2)):
        ours = nn.Softmax2d()(tapegrad.tensor(data.reshape(-1)[:int(np.prod(shape))].reshape(shape)))
        theirs = torch.nn.Softmax2d()(torch.tensor(data.reshape(-1)[:int(np.prod(shape))].reshape(shape)))
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    module = nn.Threshold(0.0, -1.0, inplace=True)
    x = tapegrad.tensor([-2.0, 3.0])
    assert module(x) is x and x.tolist() == [-1.0, 3.0]

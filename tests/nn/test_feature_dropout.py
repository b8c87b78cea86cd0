"""Channel-wise dropout (dropout1d/2d/3d), alpha dropout, feature alpha dropout, exponential
draws and gumbel_softmax: PyTorch's masks and samples from the same seed, their gradients,
PyTorch's warnings and errors, module reprs, and compiled steps that draw new noise per call."""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from test_layers import _bernoulli_stream_matches
from torch_errors import raises_as_torch


def _torch_with_bernoulli() -> Any:
    torch = pytest.importorskip("torch")
    if not _bernoulli_stream_matches(torch):
        pytest.skip("PyTorch's scalar bernoulli uses MKL's stream on this CPU")
    return torch


def _data(shape: tuple[int, ...], seed: int, dtype: str = "float64") -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _run_both(torch: Any, call: Callable[[Any, Any], Any], data: np.ndarray, inplace_input: bool = False) -> None:
    """``call(functional, x)`` in both libraries from the same seed: bitwise equal results, input
    gradients and next draws, and the same grad_fn."""
    results = []
    for lib in (tapegrad, torch):
        lib.manual_seed(3)
        x = lib.tensor(data, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = call(lib.nn.functional, x * 1 if inplace_input else x)
        after = lib.rand(3)
        (y * lib.tensor(_data(tuple(y.shape), 9, data.dtype.name))).sum().backward()
        results.append((y.grad_fn.name(), y.detach().numpy(), x.grad.numpy(), after.numpy()))
    assert results[0][0] == results[1][0]
    for ours, theirs in zip(results[0][1:], results[1][1:], strict=True):
        np.testing.assert_array_equal(ours, theirs)


CHANNEL_DROPOUTS = [
    ("dropout1d", lambda F, x: F.dropout1d(x, 0.4), (3, 5, 4)),
    ("dropout1d_unbatched", lambda F, x: F.dropout1d(x, 0.4), (6, 3)),
    ("dropout2d", lambda F, x: F.dropout2d(x, 0.3), (2, 5, 3, 2)),
    ("dropout2d_3d_input", lambda F, x: F.dropout2d(x, 0.3), (4, 5, 3)),
    ("dropout2d_inplace", lambda F, x: F.dropout2d(x, 0.5, inplace=True), (2, 5, 3, 2)),
    ("dropout3d", lambda F, x: F.dropout3d(x, 0.6), (2, 4, 2, 1, 3)),
    ("dropout3d_unbatched", lambda F, x: F.dropout3d(x, 0.6), (6, 2, 1, 3)),
    ("alpha_dropout", lambda F, x: F.alpha_dropout(x, 0.2, training=True), (4, 7)),
    ("alpha_dropout_inplace", lambda F, x: F.alpha_dropout(x, 0.7, True, True), (4, 7)),
    ("feature_alpha_dropout", lambda F, x: F.feature_alpha_dropout(x, 0.5, training=True), (3, 6, 2)),
]


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, call, shape", CHANNEL_DROPOUTS, ids=[c[0] for c in CHANNEL_DROPOUTS])
def test_masks_values_and_gradients_match_torch(name: str, call: Callable, shape: tuple, dtype: str) -> None:
    torch = _torch_with_bernoulli()
    _run_both(torch, call, _data(shape, 1, dtype), inplace_input="inplace" in name)


def test_channels_are_dropped_whole_and_the_rest_scaled() -> None:
    x = tapegrad.ones(4, 50, 3)
    y = F.dropout1d(x, 0.5).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert (y == y[:, :, :1]).all()  # one draw per channel
    assert 0.2 < (y == 0).mean() < 0.8
    for function in (F.dropout1d, F.alpha_dropout, F.feature_alpha_dropout):
        assert function(x, 0.5, training=False) is x
    assert F.dropout2d(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout3d(tapegrad.ones(2, 2, 1, 1, 3), 1.0).numpy(), 0)


def test_alpha_dropout_keeps_zero_mean_and_unit_variance() -> None:
    tapegrad.manual_seed(0)
    x = tapegrad.randn(200_000, dtype=tapegrad.float64)
    y = F.alpha_dropout(F.selu(x), 0.3, training=True).numpy()
    selu = F.selu(x).numpy()
    assert abs(y.mean() - selu.mean()) < 0.01 and abs(y.std() - selu.std()) < 0.01


@pytest.mark.torch
@pytest.mark.parametrize("call", [
    lambda L: L.nn.functional.dropout2d(L.randn(3, 4), 0.5),
    lambda L: L.nn.functional.dropout2d(L.randn(3, 4, 2), 0.5),
    lambda L: L.nn.functional.dropout3d(L.randn(3, 4, 2), 0.5),
], ids=["dropout2d_2d", "dropout2d_3d", "dropout3d_3d"])
def test_rank_warnings_match_torch(call: Callable) -> None:
    torch = pytest.importorskip("torch")
    texts = []
    for lib in (tapegrad, torch):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call(lib)
        texts.append([(w.category, str(w.message)) for w in caught])
    assert texts[0] == texts[1] and texts[0]


@pytest.mark.torch
@pytest.mark.parametrize("call", [
    lambda L: L.nn.functional.dropout1d(L.randn(2, 3, 4, 5)),
    lambda L: L.nn.functional.dropout1d(L.randn(2, 3), 1.5),
    lambda L: L.nn.functional.alpha_dropout(L.randn(2), -0.1),
    lambda L: L.nn.functional.feature_alpha_dropout(L.randn(4), 0.5, True),
    lambda L: L.nn.functional.dropout3d(L.randn(()), 0.5),
    lambda L: L.nn.functional.dropout2d(L.ones(2, 3, 4, dtype=L.int64), 0.5),
    lambda L: L.nn.functional.alpha_dropout(L.ones(3, dtype=L.int64), 0.5, True),
    lambda L: L.empty(3).exponential_(0.0),
    lambda L: L.empty(3).exponential_(-1),
    lambda L: L.empty(3, dtype=L.int64).exponential_(),
    lambda L: L.nn.Dropout2d(2.0),
], ids=["dropout1d_rank", "p_high", "p_negative", "feature_1d", "dropout3d_0d", "int_input", "alpha_int",
        "exponential_lambda", "exponential_negative", "exponential_long", "module_p"])
def test_errors_match_torch(call: Callable) -> None:
    raises_as_torch(call)


@pytest.mark.torch
def test_module_reprs_match_torch_and_modules_follow_training_mode() -> None:
    torch = pytest.importorskip("torch")
    for name, shape in (("Dropout1d", (2, 40, 3)), ("Dropout2d", (2, 40, 3, 2)), ("Dropout3d", (2, 40, 3, 2, 2)),
                        ("AlphaDropout", (80,)), ("FeatureAlphaDropout", (2, 40, 3))):
        assert repr(getattr(nn, name)(0.25, inplace=True)) == repr(getattr(torch.nn, name)(0.25, inplace=True))
        module = getattr(nn, name)(0.5)
        x = tapegrad.ones(shape)
        assert (module(x).numpy() != 1).any()
        assert module.eval()(x) is x


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("lambd", [1.0, 2.5])
def test_exponential_draws_match_torch(dtype: str, lambd: float) -> None:
    torch = pytest.importorskip("torch")
    tapegrad.manual_seed(4)
    torch.manual_seed(4)
    ours = tapegrad.empty(300, dtype=getattr(tapegrad, dtype)).exponential_(lambd)
    theirs = torch.empty(300, dtype=getattr(torch, dtype)).exponential_(lambd)
    if not np.array_equal(ours.numpy(), theirs.numpy()):
        pytest.skip("PyTorch's exponential_ uses MKL's stream on this CPU")
    np.testing.assert_array_equal(tapegrad.rand(2).numpy(), torch.rand(2).numpy())
    assert ours.numpy().min() >= 0 and abs(ours.numpy().mean() - 1 / lambd) < 0.3 / lambd


@pytest.mark.torch
@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("dim", [-1, 0])
def test_gumbel_softmax_matches_torch(hard: bool, dim: int) -> None:
    torch = pytest.importorskip("torch")
    logits = _data((4, 5), 2)
    results = []
    for lib in (tapegrad, torch):
        lib.manual_seed(6)
        x = lib.tensor(logits, requires_grad=True)
        y = lib.nn.functional.gumbel_softmax(x, tau=0.7, hard=hard, dim=dim)
        (y * lib.tensor(_data((4, 5), 3))).sum().backward()
        results.append((y.detach().numpy(), x.grad.numpy()))
    if not hard:
        np.testing.assert_allclose(results[0][0].sum(dim), 1.0)
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_gumbel_softmax_warns_about_eps() -> None:
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated and has no effect."):
        F.gumbel_softmax(tapegrad.zeros(3), eps=1e-3)


def test_compiled_steps_draw_new_channel_masks_and_gumbel_noise_each_call() -> None:
    weight = tapegrad.tensor(np.linspace(-1, 1, 24).reshape(2, 3, 4), requires_grad=True)

    def step(x: Any) -> Any:
        weight.grad = None
        out = (F.dropout2d(weight * x, 0.4) + F.feature_alpha_dropout(weight, 0.3, True)).sum()
        out = out + (F.gumbel_softmax(weight * x, tau=0.5) * x).sum()
        out.backward()
        return out, weight.grad.clone()

    compiled = tapegrad.compile(step)
    x = tapegrad.tensor(np.linspace(0.5, 2.0, 24).reshape(2, 3, 4))
    for call in range(5):
        tapegrad.manual_seed(call)
        want = step(x)
        tapegrad.manual_seed(call)
        got = compiled(x)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert compiled.traces == 1

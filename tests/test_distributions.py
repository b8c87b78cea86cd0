"""``tapegrad.distributions`` against ``torch.distributions``: the same numbers from the same
seeds, the same densities, entropies, moments and KL divergences and their gradients, and
the same validation errors; gradients also against finite differences."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad.autograd import gradcheck

D = tapegrad.distributions


def params(m: Any, *arrays: Any, grad: bool = False) -> list[Any]:
    return [m.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad) for a in arrays]


# name -> (make(m, *parameter tensors), parameter arrays, values for log_prob)
FAMILIES: dict[str, tuple[Callable[..., Any], list[Any], Any]] = {
    "Normal": (lambda m, loc, scale: m.distributions.Normal(loc, scale), [[0.5, -1.0, 2.0], [1.0, 0.3, 2.5]],
               [[0.1, -0.7, 4.0]]),
    "Normal broadcast": (lambda m, loc, scale: m.distributions.Normal(loc, scale), [[[0.5], [-1.0]], [1.0, 0.3, 2.5]],
                         [0.2, 1.0, -3.0]),
    "Uniform": (lambda m, low, high: m.distributions.Uniform(low, high), [[0.0, -2.0], [1.0, 3.0]], [[0.25, 2.5]]),
    "Bernoulli probs": (lambda m, p: m.distributions.Bernoulli(probs=p), [[0.2, 0.7, 0.5]], [[1.0, 0.0, 1.0]]),
    "Bernoulli logits": (lambda m, z: m.distributions.Bernoulli(logits=z), [[0.2, -3.0, 1.5]], [[0.0, 0.0, 1.0]]),
    "Categorical probs": (lambda m, p: m.distributions.Categorical(probs=p), [[[0.2, 0.5, 0.3], [1.0, 1.0, 2.0]]],
                          [[2, 0]]),
    "Categorical logits": (lambda m, z: m.distributions.Categorical(logits=z), [[[0.2, -1.0, 0.5, 3.0]]], [[3], [1]]),
}
STATISTICS = ["mean", "variance", "stddev", "mode", "entropy"]


def evaluate(m: Any, name: str) -> dict[str, Any]:
    make, arrays, values = FAMILIES[name]
    ps = params(m, *arrays, grad=True)
    dist = make(m, *ps)
    value = m.tensor(np.asarray(values), dtype=m.int64 if "Categorical" in name else m.float64)
    out = {"log_prob": dist.log_prob(value)}
    for stat in STATISTICS:
        out[stat] = dist.entropy() if stat == "entropy" else getattr(dist, stat)
    if name.startswith(("Normal", "Uniform")):
        out["cdf"] = dist.cdf(value)
        out["icdf"] = dist.icdf(m.tensor(0.3, dtype=m.float64))
        m.manual_seed(4)
        out["rsample"] = dist.rsample((2,))
    m.manual_seed(5)
    out["sample"] = dist.sample((3,))
    total = out["log_prob"].sum() + out["entropy"].sum() + (out["rsample"].sum() if "rsample" in out else 0)
    total.backward()
    out["grads"] = [p.grad for p in ps]
    out["shapes"] = (tuple(dist.batch_shape), tuple(dist.event_shape))
    out["repr"] = repr(dist).replace("torch.", "tapegrad.")
    return out


@pytest.mark.torch
@pytest.mark.parametrize("name", list(FAMILIES))
def test_matches_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = evaluate(tapegrad, name), evaluate(torch, name)
    assert ours["shapes"] == theirs["shapes"] and ours["repr"] == theirs["repr"]
    for key in theirs:
        if key in ("shapes", "repr"):
            continue
        got, want = ours[key], theirs[key]
        pairs = zip(got, want, strict=True) if key == "grads" else [(got, want)]
        for g, w in pairs:
            assert (g is None) == (w is None), key
            if w is not None:
                assert tuple(g.shape) == tuple(w.shape), key
                np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=1e-9, atol=1e-12,
                                           err_msg=key)  # NaN where both are NaN (a Categorical's mean)


@pytest.mark.parametrize("name", [n for n in FAMILIES if "Uniform" not in n])
def test_log_prob_and_entropy_gradients_match_finite_differences(name: str) -> None:
    make, arrays, values = FAMILIES[name]
    value = tapegrad.tensor(np.asarray(values), dtype=tapegrad.int64 if "Categorical" in name else tapegrad.float64)

    def f(*ps: Any) -> Any:
        dist = make(tapegrad, *ps)
        return dist.log_prob(value).sum() + dist.entropy().sum()

    assert gradcheck(f, params(tapegrad, *arrays, grad=True))


def test_rsample_is_differentiable_and_sample_is_not() -> None:
    loc, scale = params(tapegrad, [0.5, 1.0], [1.0, 2.0], grad=True)
    dist = D.Normal(loc, scale)
    assert not dist.sample().requires_grad
    tapegrad.manual_seed(0)
    draw = dist.rsample((4,))
    draw.sum().backward()
    tapegrad.manual_seed(0)
    eps = tapegrad.empty(4, 2, dtype=tapegrad.float64).normal_()
    np.testing.assert_allclose(scale.grad.numpy(), eps.sum(0).numpy())
    assert loc.grad.tolist() == [4.0, 4.0]

    def uniform_draw(low: Any, high: Any) -> Any:
        tapegrad.manual_seed(1)  # the same uniforms for every evaluation
        return D.Uniform(low, high).rsample()

    assert gradcheck(uniform_draw, params(tapegrad, [0.0, -1.0], [1.0, 2.0], grad=True))


@pytest.mark.torch
@pytest.mark.parametrize("pair", ["Normal", "Bernoulli", "Categorical", "Uniform"])
def test_kl_divergence_matches_pytorch(pair: str) -> None:
    torch = pytest.importorskip("torch")
    args = {"Normal": ([0.0, 1.0], [1.0, 0.5], [0.5, -1.0], [2.0, 0.3]),
            "Bernoulli": ([0.3, 0.0, 1.0, 0.5], [0.5, 0.2, 0.4, 0.0]),
            "Categorical": ([[0.2, 0.8, 0.0], [0.3, 0.3, 0.4]], [[0.5, 0.25, 0.25], [0.0, 0.5, 0.5]]),
            "Uniform": ([0.0, 0.0], [1.0, 1.0], [-1.0, 0.5], [2.0, 2.0])}[pair]

    def kl(m: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        ps = params(m, *args, grad=True)
        dists = getattr(m.distributions, pair)
        p, q = (dists(*ps[:2]), dists(*ps[2:])) if pair in ("Normal", "Uniform") else (dists(ps[0]), dists(ps[1]))
        value = m.distributions.kl_divergence(p, q)
        finite = value[value.isfinite()]
        finite.sum().backward()
        return value.detach().numpy(), [x.grad.numpy() for x in ps if x.grad is not None]

    ours, theirs = kl(tapegrad), kl(torch)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    for g, w in zip(ours[1], theirs[1], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_kl_registry_picks_the_most_specific_pair_and_refuses_unknown_pairs() -> None:
    class Wide(D.Normal):
        pass

    @D.register_kl(Wide, D.Normal)
    def _wide(p: Any, q: Any) -> Any:
        return tapegrad.tensor(-1.0)

    assert D.kl_divergence(Wide(0.0, 1.0), D.Normal(0.0, 1.0)).item() == -1.0
    assert D.kl_divergence(D.Normal(0.0, 1.0), Wide(0.0, 1.0)).item() == 0.0  # the Normal-Normal formula
    with pytest.raises(NotImplementedError, match="No KL"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Bernoulli(0.5))
    with pytest.raises(TypeError, match="Distribution subclass"):
        D.register_kl(int, D.Normal)


@pytest.mark.parametrize("call, error, message", [
    (lambda m: m.distributions.Normal(0.0, -1.0), ValueError,
     "Expected parameter scale (Tensor of shape ()) of distribution Normal(loc: 0.0, scale: -1.0) to satisfy the "
     "constraint GreaterThan(lower_bound=0.0), but found invalid values:"),
    (lambda m: m.distributions.Uniform(2.0, 1.0), ValueError,
     "Expected parameter low (Tensor of shape ()) of distribution Uniform(low: 2.0, high: 1.0) to satisfy the "
     "constraint LessThan(upper_bound=1.0), but found invalid values:"),
    (lambda m: m.distributions.Bernoulli(probs=0.3, logits=0.1), ValueError,
     "Either `probs` or `logits` must be specified, but not both."),
    (lambda m: m.distributions.Bernoulli(probs=m.tensor([0.5, 1.5])), ValueError,
     "to satisfy the constraint Interval(lower_bound=0.0, upper_bound=1.0)"),
    (lambda m: m.distributions.Bernoulli(probs=0.25).log_prob(m.tensor([0.5])), ValueError,
     "to be within the support (Boolean()) of the distribution Bernoulli(probs: 0.25)"),
    (lambda m: m.distributions.Categorical(m.tensor([0.2, -0.1])), ValueError,
     "to satisfy the constraint Simplex(), but found invalid values:"),
    (lambda m: m.distributions.Categorical(m.tensor([0.2, 0.3])).log_prob(m.tensor([5])), ValueError,
     "to be within the support (IntegerInterval(lower_bound=0, upper_bound=1)) of the distribution"),
    (lambda m: m.distributions.Uniform(0.0, 1.0).log_prob(m.tensor([2.0])), ValueError,
     "to be within the support (Interval(lower_bound=0.0, upper_bound=1.0)) of the distribution"),
    (lambda m: m.distributions.Normal(m.zeros(2), m.ones(2)).log_prob(m.zeros(3)), ValueError,
     "Value is not broadcastable with batch_shape+event_shape: (3,) vs"),
])
def test_validation_errors(call: Callable[[Any], Any], error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call(tapegrad)


def test_validation_can_be_turned_off() -> None:
    dist = D.Normal(0.0, -1.0, validate_args=False)
    assert dist.log_prob(tapegrad.tensor(0.0)).isnan().item()
    D.Distribution.set_default_validate_args(False)
    try:
        D.Bernoulli(probs=tapegrad.tensor([1.5]))
    finally:
        D.Distribution.set_default_validate_args(True)


def test_categorical_samples_follow_the_probabilities() -> None:
    tapegrad.manual_seed(0)
    dist = D.Categorical(probs=tapegrad.tensor([[0.1, 0.6, 0.3], [0.5, 0.0, 0.5]]))
    draws = dist.sample((4000,))
    assert tuple(draws.shape) == (4000, 2) and draws.dtype == tapegrad.int64
    counts = np.stack([np.bincount(draws.numpy()[:, k], minlength=3) / 4000 for k in range(2)])
    np.testing.assert_allclose(counts, [[0.1, 0.6, 0.3], [0.5, 0.0, 0.5]], atol=0.03)
    assert counts[1, 1] == 0.0
    assert dist.enumerate_support().tolist() == [[0, 0], [1, 1], [2, 2]]


def test_docstring_example() -> None:
    import doctest

    from tapegrad.distributions import kl

    result = doctest.testmod(kl, extraglobs={"tapegrad": tapegrad})
    assert result.attempted and not result.failed

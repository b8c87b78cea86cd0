"""``tapegrad.compile`` records batched and vector products, ``cat``/``stack`` and the max/min
family (``max``, ``amax``, ``argmax``, ``logsumexp``): each replay gives the eager numbers
and gradients, for inputs that change every call (ties and maxima moving between calls
included). Call 1 runs eagerly, call 2 is traced, calls 3+ replay.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as F
from tapegrad.compiler import TraceError

W = np.linspace(-1.0, 1.0, 24).reshape(4, 6)
V = np.linspace(0.5, -0.7, 12).reshape(6, 2)
# Constants the steps capture (a tensor made inside a step from Python numbers is refused).
RAMP14, RAMP3 = tapegrad.arange(14.0, dtype=tapegrad.float64), tapegrad.arange(3.0, dtype=tapegrad.float64)

CASES: dict[str, Callable[[Any, Any, Any], Any]] = {
    "bmm": lambda w, v, x: (w * x).reshape(2, 2, 6).bmm(v.expand(2, 6, 2)).sum(),
    "matmul_broadcast": lambda w, v, x: ((w * x).reshape(2, 2, 6) @ v).square().sum(),
    "linear_3d_no_bias": lambda w, v, x: F.linear((w * x).reshape(2, 2, 6), v.t()).tanh().sum(),
    "mv": lambda w, v, x: (w * x).mv(v[:, 0]).square().sum(),
    "vector_matmul": lambda w, v, x: (x[0] @ (w.t() @ w)).square().sum(),
    "dot": lambda w, v, x: (w[0] * x[0]).dot(w[1]),
    "cat": lambda w, v, x: (tapegrad.cat([w * x, w.square(), (w * x)[:, :2]], 1) * RAMP14).sum(),
    "cat_dim0_mixed_dtype": lambda w, v, x: tapegrad.cat([w * x, w.float()], 0).square().sum(),
    "stack": lambda w, v, x: (tapegrad.stack([w * x, w, x], 1) * RAMP3.reshape(3, 1)).sum(),
    "stack_last": lambda w, v, x: (tapegrad.stack([(w * x)[0], w[1]], -1) * RAMP3[:2]).square().sum(),
    "max_all": lambda w, v, x: (w * x).max() * 2 + (w * x).min(),
    "max_dim": lambda w, v, x: (w * x).max(1).values.sum() + (w * x).min(0, keepdim=True)[0].square().sum(),
    "argmax_transposed": lambda w, v, x: (w * x)[0].sum() * (1 + (w * x).t().argmax() + (w * x).t().argmin(0).sum()),
    "amax_ties": lambda w, v, x: tapegrad.amax((w * x).round(), (0, 1)) + tapegrad.amin(w * x, 1).sum(),
    "logsumexp": lambda w, v, x: tapegrad.logsumexp(w * x, 1).sum() + (w * x).logsumexp((0, 1)),
}


def _step(case: str, dtype: Any) -> tuple[Callable[[Any], Any], list[Any]]:
    w = tapegrad.tensor(W.astype(dtype), requires_grad=True)
    v = tapegrad.tensor(V.astype(dtype), requires_grad=True)
    fn = CASES[case]
    labels = tapegrad.tensor([5, 0, 5, 0])

    def step(x: Any) -> Any:
        w.grad = v.grad = None
        loss = fn(w, v, x)
        loss.backward()
        # Argmax-based accuracy, a count made inside the step as training loops do.
        hits = ((w * x).argmax(1) == labels).float().mean()
        return loss, hits

    return step, [w, v]


def _inputs(dtype: Any) -> list[Any]:
    rng = np.random.default_rng(5)
    return [tapegrad.tensor(rng.uniform(-2, 2, (4, 6)).astype(dtype)) for _ in range(6)]


@pytest.mark.parametrize("case", list(CASES))
def test_products_joins_and_extremes_replay_as_eager(case):
    dtype = np.float64
    eager, eager_params = _step(case, dtype)
    step, params = _step(case, dtype)
    compiled = tapegrad.compile(step)
    for i, x in enumerate(_inputs(dtype)):
        (want, want_hits), (got, got_hits) = eager(x), compiled(x)
        np.testing.assert_allclose(got.item(), want.item(), rtol=1e-12, err_msg=f"loss, call {i}")
        assert got_hits.item() == want_hits.item()
        for p, q in zip(eager_params, params):
            assert (p.grad is None) == (q.grad is None)
            if p.grad is not None:
                np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-12, atol=1e-14,
                                           err_msg=f"gradient, call {i}")
    assert compiled.traces == 1
    nodes = {node.rule.name for node in compiled.tape.nodes}
    assert "extreme" in nodes  # the accuracy's argmax, at least


def test_float32_products_and_extremes_match_in_float32():
    step, _ = _step("matmul_broadcast", np.float32)
    compiled = tapegrad.compile(step)
    eager, _ = _step("matmul_broadcast", np.float32)
    for x in _inputs(np.float32):
        got, want = compiled(x)[0], eager(x)[0]
        assert got.dtype == tapegrad.float32
        np.testing.assert_allclose(got.item(), want.item(), rtol=1e-6)


def test_integer_products_are_still_refused():
    counts = tapegrad.tensor([[1, 2], [3, 4]])

    @tapegrad.compile
    def product(x):
        return (counts @ x).sum()

    x = tapegrad.tensor([[1, 0], [0, 1]])
    product(x)
    with pytest.raises(TraceError, match="integer matrix products"):
        product(x)

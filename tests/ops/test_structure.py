"""Methods and functions of ``tapegrad.ops.structure``: in-place products and shape changes,
``fill_diagonal_``, ``renorm``, diagonal/slice embedding, covariance, windows, integration,
``vander``, ``isin``, ``mode``, ``combinations`` and dtype introspection.

Each case is written once against a module (``tapegrad`` or ``torch``) and run on both: values,
dtypes and the gradients of a fixed weighted sum of the float outputs must agree. Gradients are
also checked by finite differences in float64 without PyTorch.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad.autograd import gradcheck


def data(*shape: int, seed: int = 0, positive: bool = False) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.abs(x) + 0.1 if positive else x


def triangular(n: int, upper: bool, seed: int = 0) -> np.ndarray:
    x = data(n, n, seed=seed) + 3 * np.eye(n)
    return np.triu(x) if upper else np.tril(x)


# name -> (arrays that are differentiated, constant arrays, call(lib, *tensors, *constants))
Case = tuple[list[np.ndarray], list[np.ndarray], Callable[..., Any]]
CASES: dict[str, Case] = {
    # methods over existing functions
    "addmm": ([data(2, 4), data(2, 3, seed=1), data(3, 4, seed=2)], [],
              lambda m, x, a, b: x.addmm(a, b, beta=0.5, alpha=2)),
    "addmm_": ([data(2, 4), data(2, 3, seed=1), data(3, 4, seed=2)], [],
               lambda m, x, a, b: x.clone().addmm_(a, b, alpha=-1)),
    "addmv_": ([data(2), data(2, 3, seed=1), data(3, seed=2)], [],
               lambda m, x, a, b: x.clone().addmv_(a, b, beta=2)),
    "addbmm_": ([data(2, 4), data(3, 2, 5, seed=1), data(3, 5, 4, seed=2)], [],
                lambda m, x, a, b: x.clone().addbmm_(a, b, beta=0)),
    "baddbmm_": ([data(3, 2, 4), data(3, 2, 5, seed=1), data(3, 5, 4, seed=2)], [],
                 lambda m, x, a, b: x.clone().baddbmm_(a, b, alpha=0.5)),
    "addr_": ([data(3, 4), data(3, seed=1), data(4, seed=2)], [],
              lambda m, x, a, b: x.clone().addr_(a, b)),
    "addmm_ view": ([data(3, 4), data(2, 3, seed=1), data(3, 4, seed=2)], [],
                    lambda m, x, a, b: _through_view(x, lambda v: v.addmm_(a, b))),
    "ger": ([data(3), data(4, seed=1)], [], lambda m, x, y: x.ger(y)),
    "lu": ([data(3, 3)], [], lambda m, a: a.lu()[0]),
    "lu_solve": ([data(3, 3), data(3, 2, seed=1)], [], lambda m, a, b: b.lu_solve(*m.linalg.lu_factor(a))),
    "triangular_solve": ([triangular(3, True), data(3, 2, seed=1)], [],
                         lambda m, a, b: b.triangular_solve(a, upper=True, transpose=True).solution),
    "prelu": ([data(2, 3, 4), data(3, seed=1)], [], lambda m, x, w: x.prelu(w)),
    "hardshrink": ([data(3, 4) * 2], [], lambda m, x: x.hardshrink(0.7)),
    "hardshrink default": ([data(3, 4) * 2], [], lambda m, x: x.hardshrink()),
    "dist": ([data(3, 4), data(4, seed=1)], [], lambda m, x, y: x.dist(y)),
    "dist p=1": ([data(3, 4), data(3, 4, seed=1)], [], lambda m, x, y: m.dist(x, y, 1)),
    "dist p=3.5": ([data(3, 4), data(3, 4, seed=1)], [], lambda m, x, y: m.dist(x, y, 3.5)),
    "dist p=0": ([data(3, 4), data(3, 4, seed=1)], [], lambda m, x, y: m.dist(x, y, 0)),
    "dist p=-inf broadcast": ([data(4), data(3, 4, seed=1)], [], lambda m, x, y: m.dist(x, y, float("-inf"))),
    "dist p=inf": ([data(3, 4), data(3, 4, seed=1)], [], lambda m, x, y: m.dist(x, y, float("inf"))),
    "adjoint": ([data(2, 3, 4)], [], lambda m, x: x.adjoint()),
    "adjoint function": ([data(3, 4)], [], lambda m, x: m.adjoint(x)),
    "mH": ([data(2, 3, 4)], [], lambda m, x: x.mH),
    # in-place shape changes
    "t_": ([data(2, 3)], [], lambda m, x: (x * 1).t_()),
    "t_ 1-d": ([data(3)], [], lambda m, x: (x * 1).t_()),
    "transpose_": ([data(2, 3, 4)], [], lambda m, x: (x * 1).transpose_(0, -1)),
    "swapaxes_": ([data(2, 3, 4)], [], lambda m, x: (x * 1).swapaxes_(1, 2)),
    "swapdims_": ([data(2, 3, 4)], [], lambda m, x: (x * 1).swapdims_(-1, 0)),
    "squeeze_": ([data(1, 3, 1)], [], lambda m, x: (x * 1).squeeze_()),
    "squeeze_ dim": ([data(1, 3, 1)], [], lambda m, x: (x * 1).squeeze_(-1)),
    "squeeze_ dims": ([data(1, 3, 1)], [], lambda m, x: (x * 1).squeeze_((0, 2))),
    "unsqueeze_": ([data(2, 3)], [], lambda m, x: (x * 1).unsqueeze_(1)),
    "unsqueeze_ view": ([data(2, 3)], [], lambda m, x: (x * 1)[1].unsqueeze_(0) * 2),
    "shape ops then use": ([data(2, 3)], [], lambda m, x: _shape_chain(x)),
    "tril_": ([data(3, 4)], [], lambda m, x: (x * 1).tril_()),
    "triu_": ([data(2, 3, 4)], [], lambda m, x: (x * 1).triu_(1)),
    "tril_ view": ([data(3, 4)], [], lambda m, x: _through_view(x, lambda v: v.tril_(-1))),
    "fill_diagonal_": ([data(3, 4)], [], lambda m, x: (x * 1).fill_diagonal_(2.5)),
    "fill_diagonal_ tall": ([data(5, 3)], [], lambda m, x: (x * 1).fill_diagonal_(-1)),
    "fill_diagonal_ wrap": ([data(7, 3)], [], lambda m, x: (x * 1).fill_diagonal_(0.5, wrap=True)),
    "fill_diagonal_ wrap 5x3": ([data(5, 3)], [], lambda m, x: (x * 1).fill_diagonal_(0.5, True)),
    "fill_diagonal_ cube": ([data(3, 3, 3)], [], lambda m, x: (x * 1).fill_diagonal_(1)),
    "renorm": ([data(3, 4) * 3], [], lambda m, x: x.renorm(2, 0, 1.5)),
    "renorm p=1 dim 1": ([data(3, 4) * 3], [], lambda m, x: m.renorm(x, 1, 1, 2.0)),
    "renorm 3-d": ([data(2, 3, 4) * 3], [], lambda m, x: m.renorm(x, 3, -1, 1.0)),
    "renorm_": ([data(3, 4) * 3], [], lambda m, x: (x * 1).renorm_(2, 1, 1.0)),
    "renorm p=inf": ([data(3, 4) * 3], [], lambda m, x: m.renorm(x, float("inf"), 0, 1.0)),
    "renorm p=0.5": ([data(3, 4) * 3], [], lambda m, x: m.renorm(x, 0.5, 1, 2.0)),
    # diagonals and embedding
    "diag_embed": ([data(2, 3)], [], lambda m, x: m.diag_embed(x)),
    "diag_embed offset dims": ([data(2, 3)], [], lambda m, x: x.diag_embed(1, 0, 2)),
    "diag_embed negative offset": ([data(2, 2, 3)], [], lambda m, x: m.diag_embed(x, -2, -1, 1)),
    "diagflat": ([data(2, 3)], [], lambda m, x: m.diagflat(x)),
    "diagflat offset": ([data(3)], [], lambda m, x: x.diagflat(-1)),
    "diagonal_scatter": ([data(3, 4), data(3, seed=1)], [], lambda m, x, s: m.diagonal_scatter(x, s, 1)),
    "diagonal_scatter dims": ([data(2, 3, 4), data(3, 2, seed=1)], [],
                              lambda m, x, s: x.diagonal_scatter(s, 0, 0, 2)),
    "select_scatter": ([data(3, 4), data(3, seed=1)], [], lambda m, x, s: m.select_scatter(x, s, 1, -1)),
    "select_scatter method": ([data(2, 3, 4), data(3, 4, seed=1)], [], lambda m, x, s: x.select_scatter(s, 0, 1)),
    "slice_scatter": ([data(5, 3), data(2, 3, seed=1)], [], lambda m, x, s: m.slice_scatter(x, s, 0, -4, 10, 2)),
    "slice_scatter dim": ([data(4, 5), data(4, 2, seed=1)], [], lambda m, x, s: x.slice_scatter(s, 1, 1, 3)),
    "slice_scatter all": ([data(3, 2), data(3, 2, seed=1)], [], lambda m, x, s: m.slice_scatter(x, s)),
    "slice_scatter float32 source": ([data(4, 3), data(2, 3, seed=1)], [],
                                     lambda m, x, s: m.slice_scatter(x, s.float(), 0, 1, 3)),
    "select_scatter of a constant": ([data(3)], [data(2, 3, seed=1)], lambda m, s, x: m.select_scatter(x, s, 0, 1)),
    "diagonal_scatter into a constant": ([data(2)], [data(2, 3, seed=1)],
                                         lambda m, s, x: m.diagonal_scatter(x, s, -1, 1, 0)),
    # covariance and correlation
    "cov": ([data(3, 5)], [], lambda m, x: m.cov(x)),
    "cov method": ([data(3, 5)], [], lambda m, x: x.cov(correction=0)),
    "cov 1-d": ([data(5)], [], lambda m, x: m.cov(x, correction=2)),
    "cov fweights": ([data(3, 5)], [np.array([1, 2, 0, 3, 1])], lambda m, x, f: m.cov(x, fweights=f)),
    "cov aweights": ([data(3, 5), data(5, seed=1, positive=True)], [], lambda m, x, a: m.cov(x, aweights=a)),
    "cov both weights": ([data(2, 5), data(5, seed=1, positive=True)], [np.array([1, 2, 1, 3, 1])],
                         lambda m, x, a, f: m.cov(x, correction=3, fweights=f, aweights=a)),
    "cov both weights unbiased 0": ([data(2, 5), data(5, seed=1, positive=True)], [np.array([1, 2, 1, 3, 1])],
                                    lambda m, x, a, f: m.cov(x, correction=0, fweights=f, aweights=a)),
    "corrcoef": ([data(3, 5)], [], lambda m, x: m.corrcoef(x)),
    "corrcoef method": ([data(2, 4)], [], lambda m, x: x.corrcoef()),
    "corrcoef 1-d": ([data(4)], [], lambda m, x: m.corrcoef(x)),
    # integration
    "trapezoid": ([data(3, 5)], [], lambda m, y: m.trapezoid(y)),
    "trapezoid dx dim": ([data(3, 5)], [], lambda m, y: m.trapezoid(y, dx=0.5, dim=0)),
    "trapezoid x": ([data(3, 5), np.cumsum(data(5, seed=1, positive=True))], [], lambda m, y, x: m.trapezoid(y, x)),
    "trapezoid x same shape": ([data(3, 4), data(3, 4, seed=1)], [], lambda m, y, x: m.trapezoid(y, x, dim=0)),
    "trapz x": ([data(3, 5), data(5, seed=1)], [], lambda m, y, x: m.trapz(y, x)),
    "trapz dx": ([data(3, 5)], [], lambda m, y: m.trapz(y, dx=2.0, dim=0)),
    "cumulative_trapezoid": ([data(3, 5)], [], lambda m, y: m.cumulative_trapezoid(y)),
    "cumulative_trapezoid dx": ([data(3, 5)], [], lambda m, y: m.cumulative_trapezoid(y, dx=0.3, dim=0)),
    "cumulative_trapezoid x": ([data(2, 5), data(5, seed=1)], [],
                               lambda m, y, x: m.cumulative_trapezoid(y, x)),
    "cumulative_trapezoid x same shape": ([data(2, 5), data(2, 5, seed=1)], [],
                                          lambda m, y, x: m.cumulative_trapezoid(y, x, dim=1)),
    # more constructions
    "vander": ([data(4)], [], lambda m, x: m.vander(x)),
    "vander N increasing": ([data(3)], [], lambda m, x: m.vander(x, 5, True)),
    "vander N=1": ([data(3)], [], lambda m, x: m.vander(x, 1)),
    "msort": ([data(4, 3)], [], lambda m, x: m.msort(x)),
    "msort method": ([data(4)], [], lambda m, x: x.msort()),
    "mode distinct": ([data(3, 5)], [], lambda m, x: m.mode(x)),
    "mode dim keepdim": ([data(3, 5)], [], lambda m, x: x.mode(0, True)),
    "mode 0-d": ([data()], [], lambda m, x: m.mode(x)),
    "mode ties": ([np.array([[3., 1, 2, 3, 1, 2], [1., 1, 2, 2, 2, 0]])], [], lambda m, x: m.mode(x)),
    "combinations": ([data(4)], [], lambda m, x: m.combinations(x)),
    "combinations r=3 replacement": ([data(3)], [], lambda m, x: m.combinations(x, 3, True)),
    "combinations r=1": ([data(3)], [], lambda m, x: m.combinations(x, 1)),
}
# Ties make the mode jump under finite differences, a float32 source rounds them away, and a
# constant result has no gradient; the other cases are smooth at their inputs.
NOT_SMOOTH = {"mode ties", "vander N=1", "slice_scatter float32 source"}
# PyTorch 2.x's vander backward refuses to run (its forward changes a saved tensor in place), and
# its dist backward with p=0 returns no tensor, so there the gradients are checked by finite
# differences only.
NO_TORCH_GRADIENT = {"vander", "vander N increasing", "dist p=0"}


def _through_view(x: Any, change: Callable[[Any], Any]) -> Any:
    """An in-place change of a view of a non-leaf copy: the copy's history is a CopySlices."""
    y = x * 1
    change(y[1:])
    return y


def _shape_chain(x: Any) -> Any:
    y = x * 1
    y.t_()
    y.unsqueeze_(0)
    y.transpose_(0, 2)
    return y * y


def outputs(result: Any) -> list[Any]:
    return list(result) if isinstance(result, tuple) else [result]


def run(lib: Any, name: str, dtype: str = "float64") -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """The case's outputs, the gradients of ``sum(output * weights)`` for each input, and the
    outputs' dtype names and requires_grad flags."""
    differentiated, constants, call = CASES[name]
    inputs = [lib.tensor(a, dtype=getattr(lib, dtype), requires_grad=True) for a in differentiated]
    fixed = [lib.tensor(c) if c.dtype.kind in "ib" else lib.tensor(c, dtype=getattr(lib, dtype)) for c in constants]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = outputs(call(lib, *inputs, *fixed))
    floats = [r for r in results if r.is_floating_point() and r.requires_grad]
    if floats and not (lib.__name__ == "torch" and name in NO_TORCH_GRADIENT):
        total = sum((r * lib.tensor(data(*r.shape, seed=9), dtype=r.dtype)).sum() for r in floats)
        total.backward()
    values = [r.detach().numpy() for r in results]
    grads = [x.grad.numpy() if x.grad is not None else np.zeros(x.shape) for x in inputs]
    return values, grads, [f"{str(r.dtype).split('.')[-1]} {r.requires_grad}" for r in results]


@pytest.mark.torch
@pytest.mark.parametrize("name", list(CASES))
def test_matches_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    values, grads, dtypes = run(tapegrad, name)
    expected_values, expected_grads, expected_dtypes = run(torch, name)
    assert dtypes == expected_dtypes
    assert len(values) == len(expected_values)
    if name in NO_TORCH_GRADIENT:
        grads, expected_grads = [], []
    for got, want in zip(values + grads, expected_values + expected_grads, strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-10)


@pytest.mark.torch
@pytest.mark.parametrize("name", list(CASES))
def test_float32_matches_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    values, grads, dtypes = run(tapegrad, name, "float32")
    expected_values, expected_grads, expected_dtypes = run(torch, name, "float32")
    assert dtypes == expected_dtypes
    if name in NO_TORCH_GRADIENT:
        grads, expected_grads = [], []
    for got, want in zip(values + grads, expected_values + expected_grads, strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)


# LU is smooth away from pivot changes, which these inputs avoid; ``dist`` with p=inf has no ties.
@pytest.mark.parametrize("name", [n for n in CASES if n not in NOT_SMOOTH])
def test_gradients_match_finite_differences(name: str) -> None:
    differentiated, constants, call = CASES[name]
    fixed = [tapegrad.tensor(c) if c.dtype.kind in "ib" else tapegrad.tensor(c, dtype=tapegrad.float64)
             for c in constants]

    def f(*inputs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = outputs(call(tapegrad, *inputs, *fixed))
        return tuple(r for r in results if r.is_floating_point() and r.requires_grad)

    inputs = [tapegrad.tensor(a, dtype=tapegrad.float64, requires_grad=True) for a in differentiated]
    if not f(*inputs):
        pytest.fail(f"{name} has no differentiable output")
    assert gradcheck(f, inputs)


# ---------------------------------------------------------------- values without gradients

VALUE_CASES: dict[str, Callable[[Any], Any]] = {
    "logspace": lambda m: m.logspace(0, 3, 5),
    "logspace base": lambda m: m.logspace(-2, 2, 7, 2.0, dtype=m.float64),
    "logspace descending": lambda m: m.logspace(2, 0, 4, base=3.0),
    "logspace one": lambda m: m.logspace(1, 1, 1),
    "logspace empty": lambda m: m.logspace(0, 2, 0),
    "logspace int64": lambda m: m.logspace(0, 3, 4, dtype=m.int64),
    "logspace requires_grad": lambda m: m.logspace(0, 1, 3, requires_grad=True).detach(),
    "unravel_index": lambda m: m.unravel_index(m.tensor([4, -1, 7, 8, -9]), (2, 4)),
    "unravel_index int32 3-d": lambda m: m.unravel_index(m.tensor([[4, 1], [3, 22]], dtype=m.int32), (2, 3, 4)),
    "unravel_index int shape": lambda m: m.unravel_index(m.tensor(3), 5),
    "unravel_index empty shape": lambda m: m.unravel_index(m.tensor(0), ()),
    "isin": lambda m: m.isin(m.tensor([1, 2, 3]), m.tensor([2.0, 3.5])),
    "isin number elements": lambda m: m.isin(2, m.tensor([2.0, 3.5])),
    "isin number tests invert": lambda m: m.isin(m.tensor([[1, 2], [3, 2]]), 2, invert=True),
    "isin empty tests": lambda m: m.isin(m.tensor([1.0, 2.0]), m.tensor([])),
    "isin many pairs": lambda m: m.isin(m.arange(300).reshape(3, 100) % 37, m.arange(0, 500, 3)),
    "isin many pairs mixed dtypes invert": lambda m: m.isin(m.arange(600.0) / 4, m.arange(300) * 2, invert=True),
    "isin many pairs nan": lambda m: m.isin(m.tensor([float("nan"), 1.0] * 200), m.arange(-100.0, 200.0)),
    "isin many pairs 0-d": lambda m: m.isin(m.tensor(7), m.arange(70000)),
    "isin nan": lambda m: m.isin(m.tensor([float("nan"), 1.0]), m.tensor([float("nan"), 1.0]), assume_unique=True),
    "vander int": lambda m: m.vander(m.arange(1, 4)),
    "vander int32": lambda m: m.vander(m.arange(1, 4, dtype=m.int32), 4, True),
    "vander bool": lambda m: m.vander(m.tensor([True, False])),
    "vander N=0": lambda m: m.vander(m.arange(3.0), 0),
    "cov int": lambda m: m.cov(m.arange(4)),
    "cov int aweights": lambda m: m.cov(m.arange(4), aweights=m.tensor([1.0, 2.0, 3.0, 4.0])),
    "cov int fweights": lambda m: m.cov(m.arange(6).reshape(2, 3), fweights=m.tensor([1, 2, 1])),
    "cov float32 aweights of float64": lambda m: m.cov(m.arange(6.0).reshape(2, 3).double(),
                                                        aweights=m.tensor([1.0, 2.0, 1.0])),
    "cov one observation": lambda m: m.cov(m.ones(2, 1)),
    "cov no observations": lambda m: m.cov(m.ones(2, 0)),
    "cov correction too large": lambda m: m.cov(m.arange(6.0).reshape(2, 3), correction=5,
                                                fweights=m.tensor([1, 2, 1])),
    "cov 0-d": lambda m: m.cov(m.tensor(3.0)),
    "corrcoef constant rows": lambda m: m.corrcoef(m.ones(2, 3)),
    "corrcoef one row": lambda m: m.corrcoef(m.tensor([[1.0, 2.0, 3.0]])),
    "trapezoid int": lambda m: m.trapezoid(m.arange(5)),
    "trapezoid empty": lambda m: m.trapezoid(m.ones(3, 0)),
    "cumulative_trapezoid int": lambda m: m.cumulative_trapezoid(m.arange(5)),
    "mode int": lambda m: m.mode(m.tensor([1, 2, 2, 1, 3])),
    "mode empty": lambda m: m.mode(m.ones(0, 2), 1),
    "combinations r=0": lambda m: m.combinations(m.arange(3), 0),
    "combinations r>n": lambda m: m.combinations(m.arange(3), 4),
    "diag_embed int": lambda m: m.diag_embed(m.arange(6).reshape(2, 3), 1, 0, 2),
    "diag_embed 0-d": lambda m: m.diag_embed(m.tensor([2.0])),
    "fill_diagonal_ int": lambda m: m.zeros(7, 3, dtype=m.int64).fill_diagonal_(2.5, wrap=True),
    "fill_diagonal_ bool": lambda m: m.zeros(3, 3, dtype=m.bool).fill_diagonal_(True),
    "tril_ int": lambda m: m.ones(3, 3, dtype=m.int64).tril_(-1),
    "fill_diagonal_ 0-d tensor": lambda m: m.ones(3, 3).fill_diagonal_(m.tensor(2.0)),
    "dist mixed dtypes": lambda m: m.dist(m.ones(3), m.arange(3)),
}
for _length in (0, 1, 2, 5, 6):
    for _periodic in (True, False):
        for _kind in ("hann", "hamming", "blackman", "bartlett", "kaiser"):
            VALUE_CASES[f"{_kind}_window {_length} {_periodic}"] = (
                lambda m, k=_kind, n=_length, p=_periodic: getattr(m, f"{k}_window")(n, p))
            VALUE_CASES[f"{_kind}_window {_length} {_periodic} float64"] = (
                lambda m, k=_kind, n=_length, p=_periodic: getattr(m, f"{k}_window")(n, periodic=p, dtype=m.float64))
VALUE_CASES["hamming_window alpha beta"] = lambda m: m.hamming_window(7, False, 0.5, 0.3)
VALUE_CASES["kaiser_window beta"] = lambda m: m.kaiser_window(7, False, 3.0, dtype=m.float64)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:cov.*degrees of freedom:UserWarning")  # checked on its own below
@pytest.mark.parametrize("name", list(VALUE_CASES))
def test_values_match_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    got, want = VALUE_CASES[name](tapegrad), VALUE_CASES[name](torch)
    got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    assert isinstance(got, tuple) and len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]
        assert tuple(a.shape) == tuple(b.shape) and a.requires_grad == b.requires_grad
        tolerance = 1e-6 if b.dtype == torch.float32 else 1e-12
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=tolerance, atol=tolerance)


@pytest.mark.torch
def test_cov_warns_as_pytorch_when_no_degrees_of_freedom_are_left() -> None:
    torch = pytest.importorskip("torch")
    for lib in (tapegrad, torch):
        with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
            lib.cov(lib.ones(2, 1))
        with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
            lib.cov(lib.ones(2, 3), correction=4, fweights=lib.tensor([1, 1, 1]))


def test_window_and_logspace_options() -> None:
    window = tapegrad.hann_window(4, requires_grad=True, dtype=tapegrad.float64)
    assert window.requires_grad and window.is_leaf and window.dtype is tapegrad.float64
    assert tapegrad.logspace(0, 1, 3, requires_grad=True).requires_grad


# ---------------------------------------------------------------- errors and in-place semantics

def _error(lib: Any, call: Callable[[Any], Any]) -> tuple[type, str]:
    """The exception's type and first line, dtypes named as PyTorch names them; PyTorch's
    description of tensor options (in the window functions' message) is left out."""
    with pytest.raises(Exception) as info:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call(lib)
    message = str(info.value).split("\n")[0].replace("tapegrad.", "torch.")
    return type(info.value), message.split(" got: ")[0]


ERRORS: dict[str, Callable[[Any], Any]] = {
    "adjoint 1-d": lambda m: m.ones(3).adjoint(),
    "mH 1-d": lambda m: m.ones(3).mH,
    "dist shapes": lambda m: m.dist(m.ones(3), m.ones(4)),
    "dist integer": lambda m: m.arange(3).dist(m.arange(3)),
    "t_ 3-d": lambda m: m.ones(2, 3, 4).t_(),
    "transpose_ dim": lambda m: m.ones(2, 3).transpose_(0, 2),
    "squeeze_ dim": lambda m: m.ones(2, 3).squeeze_(5),
    "unsqueeze_ dim": lambda m: m.ones(2, 3).unsqueeze_(-4),
    "t_ leaf": lambda m: m.ones(2, 3, requires_grad=True).t_(),
    "unsqueeze_ view of leaf": lambda m: m.ones(2, 3, requires_grad=True)[0].unsqueeze_(0),
    "tril_ leaf": lambda m: m.ones(2, 3, requires_grad=True).tril_(),
    "tril_ 1-d": lambda m: m.ones(3).tril_(),
    "fill_diagonal_ 1-d": lambda m: m.ones(3).fill_diagonal_(1),
    "fill_diagonal_ unequal": lambda m: m.ones(2, 3, 3).fill_diagonal_(1),
    "renorm p": lambda m: m.ones(3, 3).renorm(0, 0, 1),
    "renorm maxnorm": lambda m: m.ones(3, 3).renorm(2, 0, -1),
    "renorm 1-d": lambda m: m.ones(3).renorm(2, 0, 1),
    "renorm dim": lambda m: m.ones(3, 3).renorm(2, 2, 1),
    "renorm integer": lambda m: m.ones(3, 3, dtype=m.int64).renorm(2, 0, 1),
    "fill_diagonal_ tensor": lambda m: m.ones(2, 3).fill_diagonal_(m.tensor([2.0])),
    "diag_embed same dims": lambda m: m.diag_embed(m.ones(2, 3), 0, 1, 1),
    "diag_embed 0-d": lambda m: m.diag_embed(m.tensor(1.0)),
    "diagonal_scatter size": lambda m: m.diagonal_scatter(m.ones(3, 3), m.ones(2)),
    "select_scatter size": lambda m: m.select_scatter(m.ones(3, 3), m.ones(2), 0, 0),
    "select_scatter index": lambda m: m.select_scatter(m.ones(3, 3), m.ones(3), 0, 5),
    "slice_scatter size": lambda m: m.slice_scatter(m.ones(3, 3), m.ones(3, 2), 0, 0, 2),
    "cov 3-d": lambda m: m.cov(m.ones(2, 2, 2)),
    "cov bool": lambda m: m.cov(m.ones(2, 3, dtype=m.bool)),
    "cov fweights float": lambda m: m.cov(m.ones(2, 3), fweights=m.ones(3)),
    "cov fweights negative": lambda m: m.cov(m.ones(2, 3), fweights=m.tensor([1, -1, 1])),
    "cov fweights numel": lambda m: m.cov(m.ones(2, 3), fweights=m.tensor([1, 1])),
    "cov fweights 2-d": lambda m: m.cov(m.ones(2, 3), fweights=m.ones(1, 3, dtype=m.int64)),
    "cov aweights int": lambda m: m.cov(m.ones(2, 3), aweights=m.tensor([1, 1, 1])),
    "cov aweights negative": lambda m: m.cov(m.ones(2, 3), aweights=m.tensor([1.0, -1.0, 1.0])),
    "corrcoef 3-d": lambda m: m.corrcoef(m.ones(2, 2, 2)),
    "window dtype": lambda m: m.hann_window(3, dtype=m.int64),
    "window length": lambda m: m.kaiser_window(-1),
    "logspace steps": lambda m: m.logspace(0, 1, -1),
    "trapezoid x size": lambda m: m.trapezoid(m.ones(3), m.ones(4)),
    "trapezoid dim": lambda m: m.trapezoid(m.ones(3), dx=2, dim=3),
    "vander 2-d": lambda m: m.vander(m.ones(2, 2)),
    "vander N": lambda m: m.vander(m.arange(3), -1),
    "unravel_index float": lambda m: m.unravel_index(m.tensor([1.0]), (2, 4)),
    "unravel_index negative shape": lambda m: m.unravel_index(m.tensor(3), (2, -4)),
    "isin bool": lambda m: m.isin(m.tensor([1, 2]), m.tensor([True])),
    "mode empty dim": lambda m: m.mode(m.ones(2, 0), 1),
    "mode dim": lambda m: m.mode(m.ones(2, 3), 2),
    "combinations 2-d": lambda m: m.combinations(m.ones(2, 3)),
    "combinations r": lambda m: m.combinations(m.arange(3), -1),
    "addmm_ shape": lambda m: m.ones(2, 3).addmm_(m.ones(2, 2), m.ones(2, 4)),
    "addmm_ broadcast into self": lambda m: m.ones(1, 4).addmm_(m.ones(2, 2), m.ones(2, 4)),
    "addmv_ broadcast into self": lambda m: m.ones(1).addmv_(m.ones(2, 3), m.ones(3)),
    "baddbmm_ broadcast into self": lambda m: m.ones(3, 1, 4).baddbmm_(m.ones(3, 2, 5), m.ones(3, 5, 4)),
    "addmm_ mat sizes": lambda m: m.ones(2, 4).addmm_(m.ones(2, 3), m.ones(2, 4)),
    "addmv_ sizes": lambda m: m.ones(3).addmv_(m.ones(2, 3), m.ones(3)),
    "addr_ sizes": lambda m: m.ones(1, 4).addr_(m.ones(2), m.ones(4)),
    "baddbmm_ sizes": lambda m: m.ones(2, 4).baddbmm_(m.ones(3, 2, 5), m.ones(3, 5, 4)),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_match_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    assert _error(tapegrad, ERRORS[name]) == _error(torch, ERRORS[name])


@pytest.mark.torch
@pytest.mark.parametrize("lib_name", ["tapegrad", "torch"])
def test_in_place_shape_change_keeps_buffer_and_bumps_version(lib_name: str) -> None:
    lib = pytest.importorskip(lib_name)
    x = lib.arange(6.0).reshape(2, 3)
    pointer = x.data_ptr()
    assert x.t_() is x
    assert tuple(x.shape) == (3, 2) and x.stride() == (1, 3) and x.data_ptr() == pointer
    x.unsqueeze_(0)
    x.squeeze_()
    assert tuple(x.shape) == (3, 2) and x.tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    # Without grad mode a leaf that requires grad may change shape; it stays a leaf.
    leaf = lib.ones(2, 3, requires_grad=True)
    with lib.no_grad():
        leaf.transpose_(0, 1)
    assert tuple(leaf.shape) == (3, 2) and leaf.grad_fn is None and leaf.requires_grad


@pytest.mark.torch
def test_saved_tensor_changed_by_shape_change_refuses_backward() -> None:
    torch = pytest.importorskip("torch")
    for lib in (tapegrad, torch):
        y = lib.ones(2, 3, requires_grad=True) * 2
        z = y * y  # saves y
        y.t_()
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.sum().backward()


@pytest.mark.torch
@pytest.mark.parametrize("change", ["t_", "unsqueeze_", "transpose_", "squeeze_"])
def test_views_made_before_a_shape_change_keep_their_gradients(change: str) -> None:
    torch = pytest.importorskip("torch")
    grads = []
    for lib in (tapegrad, torch):
        a = lib.arange(6.0, dtype=lib.float64, requires_grad=True)
        b = a.reshape(2, 3) * 1
        row, flat, swapped = b[1], b.reshape(3, 2), b.t()
        arguments = {"t_": (), "unsqueeze_": (0,), "transpose_": (0, 1), "squeeze_": ()}[change]
        getattr(b, change)(*arguments)
        weights = lib.arange(1.0, 7.0, dtype=lib.float64)
        pairs = weights.reshape(3, 2)
        total = (row * weights[:3]).sum() + (flat * pairs).sum() + (swapped * pairs).sum()
        (total + (b * b).sum()).backward()
        grads.append(a.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])


@pytest.mark.torch
@pytest.mark.parametrize("change", ["t_", "unsqueeze_", "transpose_", "squeeze_", "squeeze_ dims", "two changes"])
@pytest.mark.parametrize("later", ["base changed", "written through an old view", "old view of a view"])
def test_views_made_before_a_shape_change_follow_later_in_place_changes(change: str, later: str) -> None:
    """Views made before the shape change remake their history from the new layout (undoing the
    change) when the storage changes afterwards, through the base or through them."""
    torch = pytest.importorskip("torch")
    grads = []
    for lib in (tapegrad, torch):
        a = lib.arange(1.0, 7.0, dtype=lib.float64, requires_grad=True)
        w = lib.tensor(np.linspace(0.5, 3.0, 6), dtype=lib.float64, requires_grad=True)
        b = a.reshape(1, 2, 3) * 1
        row, column = b[0, 1], b[0].t()[2]
        if change == "two changes":
            b.squeeze_(0)
            b.t_()
        else:
            arguments = {"t_": (), "unsqueeze_": (0,), "transpose_": (1, 2), "squeeze_": (),
                         "squeeze_ dims": ((0, 1),)}[change]
            getattr(b.squeeze_(0) if change == "t_" else b, change.split()[0])(*arguments)
        if later == "base changed":
            b.mul_(w.reshape(b.shape))
        elif later == "written through an old view":
            row.mul_(w[:3])
        else:
            column[0:1].add_(w[0])
        total = (row * lib.arange(1.0, 4.0, dtype=lib.float64)).sum() + (column * 7).sum() + (b * b).sum()
        total.backward()
        grads.append((a.grad.numpy(), w.grad.numpy()))
    for ours, theirs in zip(grads[0], grads[1], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.torch
def test_grad_fn_names_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    calls: list[Callable[[Any], Any]] = [
        lambda y: y.t_(), lambda y: y.transpose_(0, 1), lambda y: y.swapaxes_(0, 1), lambda y: y.squeeze_(),
        lambda y: y.squeeze_(0), lambda y: y.squeeze_((0,)), lambda y: y.unsqueeze_(0), lambda y: y.tril_(),
        lambda y: y.triu_(), lambda y: y.renorm_(2, 0, 0.5), lambda y: y.renorm(1, 1, 0.5), lambda y: y.adjoint(),
        lambda y: y.mH,
        lambda y: y.slice_scatter(y[:, :2], 1, 1), lambda y: y.select_scatter(y[0], 0, 0),
        lambda y: y.diagonal_scatter(y.diagonal()), lambda y: y.mode().values, lambda y: y.msort(),
        lambda y: y.diag_embed(), lambda y: y.lu()[0], lambda y: y.dist(y.flip(1), 3),
    ]
    for call in calls:
        names = [call(lib.ones(1, 3, requires_grad=True) * 1).grad_fn.name() for lib in (tapegrad, torch)]
        assert names[0] == names[1]


@pytest.mark.torch
def test_in_place_products_without_grad_write_the_buffer() -> None:
    torch = pytest.importorskip("torch")
    for lib in (tapegrad, torch):
        x = lib.ones(2, 3, dtype=lib.float64)
        pointer = x.data_ptr()
        out = x.addmm_(lib.ones(2, 2, dtype=lib.float64), lib.ones(2, 3, dtype=lib.float64), beta=2)
        assert out is x and x.data_ptr() == pointer and x.tolist() == [[4.0] * 3] * 2
        assert x._version == 1


# ---------------------------------------------------------------- introspection

DTYPE_NAMES = ["bool", "int32", "int64", "float32", "float64"]


@pytest.mark.torch
def test_dtype_rules_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    for first in DTYPE_NAMES:
        for second in DTYPE_NAMES:
            ours = getattr(tapegrad, first), getattr(tapegrad, second)
            theirs = getattr(torch, first), getattr(torch, second)
            assert str(tapegrad.promote_types(*ours)).split(".")[1] == str(torch.promote_types(*theirs)).split(".")[1]
            assert tapegrad.can_cast(*ours) == torch.can_cast(*theirs)


RESULT_TYPE_OPERANDS: list[Callable[[Any], Any]] = [
    lambda m: m.tensor([1, 2]), lambda m: m.tensor([1, 2], dtype=m.int32), lambda m: m.tensor(1.0, dtype=m.float64),
    lambda m: m.tensor([True]), lambda m: m.tensor(3, dtype=m.int32), lambda m: m.ones(2, dtype=m.float32),
    lambda m: 2, lambda m: 2.5, lambda m: True,
]


@pytest.mark.torch
@pytest.mark.parametrize("first", range(len(RESULT_TYPE_OPERANDS)))
def test_result_type_matches_pytorch(first: int) -> None:
    torch = pytest.importorskip("torch")
    for second in RESULT_TYPE_OPERANDS:
        make = RESULT_TYPE_OPERANDS[first]
        ours = tapegrad.result_type(make(tapegrad), second(tapegrad))
        theirs = torch.result_type(make(torch), second(torch))
        assert str(ours).split(".")[1] == str(theirs).split(".")[1]


@pytest.mark.torch
def test_result_type_follows_default_dtype() -> None:
    torch = pytest.importorskip("torch")
    tapegrad.set_default_dtype(tapegrad.float64)
    try:
        assert tapegrad.result_type(tapegrad.tensor([1]), 1.5) is tapegrad.float64
    finally:
        tapegrad.set_default_dtype(tapegrad.float32)
    assert tapegrad.result_type(tapegrad.tensor([1]), 1.5) is tapegrad.float32
    assert torch.result_type(torch.tensor([1]), 1.5) == torch.float32


INTROSPECTION: dict[str, Callable[[Any], Any]] = {
    "nbytes": lambda m: m.ones(2, 3, dtype=m.float64).nbytes,
    "nbytes view": lambda m: m.ones(2, 3, dtype=m.float64)[:, 0].nbytes,
    "nbytes expanded": lambda m: m.ones(1, dtype=m.int32).expand(5).nbytes,
    "nbytes bool": lambda m: m.ones(3, dtype=m.bool).nbytes,
    "itemsize": lambda m: [m.ones(1, dtype=getattr(m, d)).itemsize for d in DTYPE_NAMES],
    "is_cpu": lambda m: m.ones(2).is_cpu,
    "is_nonzero": lambda m: [m.is_nonzero(m.tensor(v)) for v in ([1.5], [[0]], 0.0, [False], [True])],
    "is_nonzero method": lambda m: m.tensor([[2]]).is_nonzero(),
    "is_same_size": lambda m: [m.is_same_size(m.ones(2), m.ones(1, 2)), m.is_same_size(m.ones(2, 3), m.zeros(2, 3))],
    "is_same_size method": lambda m: m.ones(2).is_same_size(m.ones(2)),
    "is_signed": lambda m: [m.is_signed(m.ones(1, dtype=getattr(m, d))) for d in DTYPE_NAMES],
    "is_signed method": lambda m: [m.ones(1, dtype=getattr(m, d)).is_signed() for d in DTYPE_NAMES],
}


@pytest.mark.torch
@pytest.mark.parametrize("name", list(INTROSPECTION))
def test_introspection_matches_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    assert INTROSPECTION[name](tapegrad) == INTROSPECTION[name](torch)


INTROSPECTION_ERRORS: dict[str, Callable[[Any], Any]] = {
    "is_nonzero many": lambda m: m.is_nonzero(m.ones(2)),
    "is_nonzero empty": lambda m: m.is_nonzero(m.ones(0)),
    "promote_types number": lambda m: m.promote_types(1, m.int32),
    "promote_types second": lambda m: m.promote_types(m.int32, "float"),
    "can_cast number": lambda m: m.can_cast(1, m.int32),
    "result_type list": lambda m: m.result_type([1], m.ones(1)),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", list(INTROSPECTION_ERRORS))
def test_introspection_errors_match_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    assert _error(tapegrad, INTROSPECTION_ERRORS[name]) == _error(torch, INTROSPECTION_ERRORS[name])


# ---------------------------------------------------------------- compiled steps

W = np.linspace(-1.5, 1.5, 24).reshape(4, 6)
COMPILED: dict[str, Callable[[Any, Any], Any]] = {
    "cov and corrcoef": lambda w, x: (tapegrad.cov(w * x, aweights=x[0].abs() + 0.5).square().sum()
                                      + tapegrad.corrcoef(w + x).sum()),
    "integration": lambda w, x: (tapegrad.trapezoid(w * x).sum()
                                 + tapegrad.cumulative_trapezoid(w, x[0]).square().sum()),
    "embedding": lambda w, x: (tapegrad.diag_embed(w * x).square().sum()
                               + tapegrad.slice_scatter(w, x[:2], 0, 1, 3).square().sum()
                               + tapegrad.select_scatter(w, x[0], 0, 1).square().sum()
                               + tapegrad.diagonal_scatter(w, x[0, :4]).square().sum()),
    "in-place products": lambda w, x: (w * 1).addmm_(x, x.t() @ x, beta=0.5).square().sum(),
    "in-place shapes": lambda w, x: ((w * x).t_().unsqueeze_(0).transpose_(0, 2).squeeze_(2) * x).square().sum(),
    "renorm and in-place masks": lambda w, x: ((w * x).renorm(2, 0, 1.0).square().sum()
                                               + (w * x).tril_().fill_diagonal_(0.5).sum()),
    "vander and combinations": lambda w, x: (tapegrad.vander(w[0] * x[0], 3).sum() + tapegrad.dist(w, x, 3)
                                             + tapegrad.combinations(w[1] * x[1]).square().sum()),
}


@pytest.mark.parametrize("case", list(COMPILED))
def test_compiled_steps_replay_as_eager(case: str) -> None:
    def make() -> tuple[Callable[[Any], Any], Any]:
        w = tapegrad.tensor(W, requires_grad=True)

        def step(x: Any) -> Any:
            w.grad = None
            loss = COMPILED[case](w, x)
            loss.backward()
            return loss

        return step, w

    (eager, eager_w), (step, w) = make(), make()
    compiled = tapegrad.compile(step)
    rng = np.random.default_rng(3)
    for call in range(4):
        x = tapegrad.tensor(rng.uniform(-2, 2, (4, 6)))
        want, got = eager(x), compiled(x)
        np.testing.assert_allclose(got.item(), want.item(), rtol=1e-12, err_msg=f"loss, call {call}")
        np.testing.assert_allclose(w.grad.numpy(), eager_w.grad.numpy(), rtol=1e-11, atol=1e-13)
    assert compiled.traces == 1


def test_mode_is_refused_in_a_compiled_step() -> None:
    @tapegrad.compile
    def step(x: Any) -> Any:
        return tapegrad.mode(x, 0).values.sum()

    x = tapegrad.tensor([[1.0, 2.0], [1.0, 3.0]])
    assert step(x).item() == 3.0  # the first call runs eagerly
    with pytest.raises(Exception, match="does not record mode"):
        step(x)


def test_second_order_gradients_through_scatters_and_shape_changes() -> None:
    x = tapegrad.tensor(data(3, 4), dtype=tapegrad.float64, requires_grad=True)
    s = tapegrad.tensor(data(2, 4, seed=1), dtype=tapegrad.float64, requires_grad=True)

    def f(x: Any, s: Any) -> Any:
        y = tapegrad.slice_scatter(x * x, s * s, 0, 1)
        return (y * 1).t_().unsqueeze_(0) * 3

    assert tapegrad.autograd.gradgradcheck(f, (x, s))
    assert tapegrad.autograd.gradgradcheck(lambda x: x.renorm(2, 0, 1.0), (x,))
    assert tapegrad.autograd.gradgradcheck(lambda x, s: tapegrad.dist(x[:2], s, 3), (x, s))
    assert tapegrad.autograd.gradgradcheck(lambda x, s: tapegrad.diagonal_scatter(x * x, s[0, :3] * s[1, :3]), (x, s))
    grads = tapegrad.autograd.grad(f(x, s).sum(), (x, s), create_graph=True)
    second = tapegrad.autograd.grad(sum(g.sum() for g in grads), (x, s))
    np.testing.assert_allclose(second[0].numpy(), np.where(np.arange(3)[:, None] < 1, 6.0, 0.0) * np.ones((3, 4)))
    np.testing.assert_allclose(second[1].numpy(), np.full((2, 4), 6.0))

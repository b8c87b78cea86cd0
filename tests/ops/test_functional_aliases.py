"""The ``torch.*`` forms of ``nn.functional`` ops (``torch.conv2d``, ``torch.max_pool2d`` with
``stride=[]``, ``torch.batch_norm`` with the affine parameters first, ``torch.embedding(weight,
indices)``, losses taking ATen's integer reduction) and the older matrix functions
(``torch.lu``, ``lu_unpack``, ``lu_solve``, ``triangular_solve``, ``ger``, ``chain_matmul``,
``frobenius_norm``, ``nuclear_norm``, ``linalg.lu``).

Each case is written once against a module (``tapegrad`` or ``torch``) and run on both: values
and the gradients of a fixed weighted sum of the outputs must agree. Gradients are also checked
by finite differences in float64 without PyTorch.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad.autograd import gradcheck
from tapegrad.ops import matrix_functions


def data(*shape: int, seed: int = 0, positive: bool = False) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.abs(x) + 0.1 if positive else x


def triangular(n: int, upper: bool, seed: int = 0) -> np.ndarray:
    x = data(n, n, seed=seed) + 3 * np.eye(n)
    return np.triu(x) if upper else np.tril(x)


def unpacked(lib: Any, A: Any) -> Any:
    return lib.cat([t.flatten(-2) for t in lib.lu_unpack(*lib.linalg.lu_factor(A))], -1)


# name -> (arrays that are differentiated, constant arrays, call(lib, *tensors, *constants))
Case = tuple[list[np.ndarray], list[np.ndarray], Callable[..., Any]]
INDICES = np.array([[0, 2, 4], [3, 0, 1]])
CASES: dict[str, Case] = {
    "conv1d": ([data(2, 3, 7), data(4, 3, 3, seed=1)], [], lambda m, x, w: m.conv1d(x, w, None, 2, 1)),
    "conv2d": ([data(1, 2, 5, 5), data(3, 2, 3, 3, seed=1), data(3, seed=2)], [],
               lambda m, x, w, b: m.conv2d(x, w, b, 1, 1)),
    "conv_transpose2d": ([data(1, 2, 3, 3), data(2, 3, 2, 2, seed=1)], [],
                         lambda m, x, w: m.conv_transpose2d(x, w, None, 2)),
    "max_pool1d": ([data(2, 3, 8)], [], lambda m, x: m.max_pool1d(x, 3)),
    "max_pool2d": ([data(1, 2, 6, 6)], [], lambda m, x: m.max_pool2d(x, 2, [], 1)),
    "max_pool3d": ([data(1, 1, 4, 4, 4)], [], lambda m, x: m.max_pool3d(x, (2, 2, 2), (1, 2, 2))),
    "max_pool1d_with_indices": ([data(1, 2, 9)], [], lambda m, x: m.max_pool1d_with_indices(x, 3, 2)),
    "adaptive_max_pool1d": ([data(2, 2, 7)], [], lambda m, x: m.adaptive_max_pool1d(x, 3)),
    "avg_pool1d": ([data(2, 2, 7)], [], lambda m, x: m.avg_pool1d(x, 3, 2, 1)),
    "batch_norm": ([data(4, 3, 2), data(3, seed=1), data(3, seed=2)], [],
                   lambda m, x, w, b: m.batch_norm(x, w, b, None, None, True, 0.1, 1e-5, False)),
    "batch_norm eval": ([data(4, 3), data(3, seed=1), data(3, seed=2)],
                        [data(3, seed=3), data(3, seed=4, positive=True)],
                        lambda m, x, w, b, mean, var: m.batch_norm(x, w, b, mean, var, False, 0.1, 1e-5, False)),
    "instance_norm": ([data(2, 3, 5), data(3, seed=1), data(3, seed=2)], [],
                      lambda m, x, w, b: m.instance_norm(x, w, b, None, None, True, 0.1, 1e-5, False)),
    "layer_norm": ([data(2, 3, 4), data(4, seed=1), data(4, seed=2)], [],
                   lambda m, x, w, b: m.layer_norm(x, [4], w, b, 1e-5, False)),
    "group_norm": ([data(2, 4, 3), data(4, seed=1), data(4, seed=2)], [],
                   lambda m, x, w, b: m.group_norm(x, 2, w, b, 1e-5, False)),
    "dropout eval": ([data(3, 4)], [], lambda m, x: m.dropout(x, 0.5, False)),
    "feature_dropout eval": ([data(2, 3, 4)], [], lambda m, x: m.feature_dropout(x, 0.5, False)),
    "alpha_dropout eval": ([data(3, 4)], [], lambda m, x: m.alpha_dropout(x, 0.5, False)),
    "embedding": ([data(5, 3)], [INDICES], lambda m, w, i: m.embedding(w, i.long())),
    "embedding padding_idx": ([data(5, 3)], [INDICES], lambda m, w, i: m.embedding(w, i.long(), 0)),
    "rrelu eval": ([data(3, 4)], [], lambda m, x: m.rrelu(x, 0.1, 0.3, False)),
    "threshold": ([data(3, 4)], [], lambda m, x: m.threshold(x, 0.2, -1.0)),
    "constant_pad_nd": ([data(2, 3)], [], lambda m, x: m.constant_pad_nd(x, [1, 2, 0, 1], 0.5)),
    "pixel_shuffle": ([data(1, 8, 2, 3)], [], lambda m, x: m.pixel_shuffle(x, 2)),
    "channel_shuffle": ([data(1, 6, 2, 2)], [], lambda m, x: m.channel_shuffle(x, 3)),
    "prelu": ([data(2, 3, 4), data(3, seed=1)], [], lambda m, x, w: m.prelu(x, w)),
    "bilinear": ([data(4, 3), data(4, 2, seed=1), data(5, 3, 2, seed=2)], [],
                 lambda m, x, y, w: m.bilinear(x, y, w, None)),
    "pdist": ([data(4, 3)], [], lambda m, x: m.pdist(x)),
    "cosine_similarity": ([data(3, 4), data(3, 4, seed=1)], [], lambda m, x, y: m.cosine_similarity(x, y)),
    "kl_div none": ([data(3, 4)], [data(3, 4, seed=1, positive=True)], lambda m, x, t: m.kl_div(x, t, 0)),
    "kl_div default": ([data(3, 4)], [data(3, 4, seed=1)], lambda m, x, t: m.kl_div(x, t, log_target=True)),
    "kl_div mean": ([data(3, 4)], [data(3, 4, seed=1, positive=True)], lambda m, x, t: m.kl_div(x, t, 1)),
    "bce_with_logits sum": ([data(3, 4)], [np.random.default_rng(1).random((3, 4))],
                            lambda m, x, t: m.binary_cross_entropy_with_logits(x, t, None, None, 2)),
    "cosine_embedding_loss": ([data(3, 4), data(3, 4, seed=1)], [np.array([1.0, -1.0, 1.0])],
                              lambda m, x, y, t: m.cosine_embedding_loss(x, y, t, 0.1, 0)),
    "hinge_embedding_loss": ([data(3, 4)], [np.sign(data(3, 4, seed=1))],
                             lambda m, x, t: m.hinge_embedding_loss(x, t, 0.5, 2)),
    "margin_ranking_loss": ([data(5), data(5, seed=1)], [np.sign(data(5, seed=2))],
                            lambda m, x, y, t: m.margin_ranking_loss(x, y, t, 0.2)),
    "triplet_margin_loss": ([data(3, 4), data(3, 4, seed=1), data(3, 4, seed=2)], [],
                            lambda m, a, p, n: m.triplet_margin_loss(a, p, n, 1.0, 2, 1e-6, True, 0)),
    "poisson_nll_loss": ([data(3, 4)], [data(3, 4, seed=1, positive=True)],
                         lambda m, x, t: m.poisson_nll_loss(x, t, True, True, 1e-8, 1)),
    "ctc_loss": ([data(6, 2, 4)], [np.array([[1, 2], [3, 3]])],
                 lambda m, x, t: m.ctc_loss(x.log_softmax(2), t.long(), [6, 5], [2, 2])),
    "ctc_loss mean": ([data(6, 2, 4)], [np.array([[1, 2], [3, 1]])],
                      lambda m, x, t: m.ctc_loss(x.log_softmax(2), t.long(), [6, 6], [2, 1], 0, 1)),
    # the older matrix functions
    "lu": ([data(3, 3)], [], lambda m, a: m.lu(a)[0]),
    "lu_unpack": ([data(2, 4, 3)], [], lambda m, a: unpacked(m, a)),
    "lu_unpack wide": ([data(3, 5)], [], lambda m, a: unpacked(m, a)),
    "linalg.lu": ([data(4, 4)], [], lambda m, a: m.cat([t.flatten() for t in m.linalg.lu(a)])),
    "lu_solve": ([data(3, 3), data(3, 2, seed=1)], [], lambda m, a, b: m.lu_solve(b, *m.linalg.lu_factor(a))),
    "triangular_solve": ([triangular(3, True), data(3, 2, seed=1)], [],
                         lambda m, a, b: m.triangular_solve(b, a).solution),
    "triangular_solve transpose": ([triangular(3, False), data(3, 2, seed=1)], [],
                                   lambda m, a, b: m.triangular_solve(b, a, False, True, False).solution),
    "triangular_solve unit": ([triangular(3, True), data(2, 3, 2, seed=1)], [],
                              lambda m, a, b: m.triangular_solve(b, a, unitriangular=True)[0]),
    "ger": ([data(3), data(4, seed=1)], [], lambda m, x, y: m.ger(x, y)),
    "chain_matmul": ([data(2, 3), data(3, 4, seed=1), data(4, 2, seed=2)], [],
                     lambda m, a, b, c: m.chain_matmul(a, b, c)),
    "frobenius_norm": ([data(2, 3, 4)], [], lambda m, x: m.frobenius_norm(x, (0, 2), True)),
    "nuclear_norm": ([data(4, 3)], [], lambda m, x: m.nuclear_norm(x)),
    "nuclear_norm dim": ([data(2, 3, 4)], [], lambda m, x: m.nuclear_norm(x, (0, 2))),
}


def outputs(result: Any) -> list[Any]:
    return list(result) if isinstance(result, tuple) else [result]


def run(lib: Any, name: str, dtype: str = "float64") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The case's float outputs and the gradients of ``sum(output * weights)`` for each input."""
    differentiated, constants, call = CASES[name]
    inputs = [lib.tensor(a, dtype=getattr(lib, dtype), requires_grad=True) for a in differentiated]
    fixed = [lib.tensor(c) if c.dtype.kind == "i" else lib.tensor(c, dtype=getattr(lib, dtype)) for c in constants]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = outputs(call(lib, *inputs, *fixed))
    floats = [r for r in results if r.is_floating_point()]
    total = sum((r * lib.tensor(data(*r.shape, seed=9), dtype=r.dtype)).sum() for r in floats)
    total.backward()
    values = [r.detach().numpy() for r in results]
    return values, [x.grad.numpy() if x.grad is not None else np.zeros(x.shape) for x in inputs]


@pytest.mark.torch
@pytest.mark.parametrize("name", list(CASES))
def test_matches_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    values, grads = run(tapegrad, name)
    expected_values, expected_grads = run(torch, name)
    assert len(values) == len(expected_values)
    for got, want in zip(values + grads, expected_values + expected_grads, strict=True):
        assert got.shape == want.shape  # the losses' left-out reduction is "none" in both
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)


# Pools and LU are checked below on inputs with no ties or pivot changes; the padding row of an
# embedding gets no gradient by definition, so finite differences do not apply to it.
@pytest.mark.parametrize("name", [n for n in CASES
                                  if not n.startswith(("max_pool", "adaptive_max", "lu", "embedding padding"))])
def test_gradients_match_finite_differences(name: str) -> None:
    differentiated, constants, call = CASES[name]
    fixed = [tapegrad.tensor(c) if c.dtype.kind == "i" else tapegrad.tensor(c, dtype=tapegrad.float64)
             for c in constants]

    def f(*inputs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call(tapegrad, *inputs, *fixed)

    inputs = [tapegrad.tensor(a, dtype=tapegrad.float64, requires_grad=True) for a in differentiated]
    assert gradcheck(f, inputs)


@pytest.mark.parametrize("name", ["max_pool2d", "lu_unpack", "linalg.lu", "lu_solve"])
def test_max_and_lu_gradients_match_finite_differences(name: str) -> None:
    """Pools and LU are smooth away from ties and pivot changes; the inputs here have none."""
    differentiated, _, call = CASES[name]
    inputs = [tapegrad.tensor(a, dtype=tapegrad.float64, requires_grad=True) for a in differentiated]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert gradcheck(lambda *xs: call(tapegrad, *xs), inputs)


def test_lu_unpack_reconstructs_and_can_skip_parts() -> None:
    A = tapegrad.tensor(data(2, 5, 3))
    P, L, U = tapegrad.lu_unpack(*tapegrad.linalg.lu_factor(A))
    np.testing.assert_allclose((P @ L @ U).numpy(), A.numpy(), atol=1e-12)
    assert P.shape == (2, 5, 5) and L.shape == (2, 5, 3) and U.shape == (2, 3, 3)
    P, L, U = tapegrad.lu_unpack(*tapegrad.linalg.lu_factor(A), unpack_data=False)
    assert L.numel() == 0 and U.numel() == 0 and P.shape == (2, 5, 5)
    P, L, U = tapegrad.lu_unpack(*tapegrad.linalg.lu_factor(A), unpack_pivots=False)
    assert P.numel() == 0 and L.shape == (2, 5, 3)


def test_lu_get_infos_and_triangular_solve_copy() -> None:
    A = tapegrad.tensor(triangular(3, True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LU, pivots, infos = tapegrad.lu(A, get_infos=True)
        solution, copy = tapegrad.triangular_solve(tapegrad.ones(3, 1), A)
    assert infos.tolist() == 0 and pivots.dtype == tapegrad.int32
    assert copy is not A and np.array_equal(copy.numpy(), A.numpy())


@pytest.mark.parametrize("name, call", [
    ("lu", lambda: tapegrad.lu(tapegrad.eye(2))),
    ("lu_solve", lambda: tapegrad.lu_solve(tapegrad.ones(2, 1), *tapegrad.linalg.lu_factor(tapegrad.eye(2)))),
    ("triangular_solve", lambda: tapegrad.triangular_solve(tapegrad.ones(2, 1), tapegrad.eye(2))),
    ("chain_matmul", lambda: tapegrad.chain_matmul(tapegrad.eye(2), tapegrad.eye(2))),
    ("frobenius_norm", lambda: tapegrad.frobenius_norm(tapegrad.eye(2))),
    ("nuclear_norm", lambda: tapegrad.nuclear_norm(tapegrad.eye(2))),
])
def test_deprecated_names_warn_once(name: str, call: Callable[[], Any]) -> None:
    matrix_functions._warned.discard(name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
        call()
    assert len(caught) == 1 and issubclass(caught[0].category, UserWarning)
    assert name in str(caught[0].message)


def test_max_pool_stride_defaults_to_kernel() -> None:
    x = tapegrad.arange(16.0).reshape(1, 1, 4, 4)
    assert tapegrad.max_pool2d(x, 2).tolist() == [[[[5.0, 7.0], [13.0, 15.0]]]]
    assert tapegrad.max_pool2d(x, 2, []).shape == (1, 1, 2, 2)


def test_dropout_trains_and_in_place_forms_modify_their_input() -> None:
    tapegrad.manual_seed(0)
    x = tapegrad.ones(1000)
    y = tapegrad.dropout(x, 0.5, True)
    kept = y.numpy() != 0
    assert 0.4 < kept.mean() < 0.6 and np.allclose(y.numpy()[kept], 2.0)
    z = tapegrad.ones(1000)
    assert tapegrad.dropout_(z, 0.5, True) is z and (z.numpy() == 0).any()
    c = tapegrad.ones(2, 50, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # unlike dropout2d, no warning for a 3-D input
        tapegrad.feature_dropout_(c, 0.5, True)
    per_channel = c.numpy().reshape(2, 50, 3)
    assert all(len(set(row)) == 1 for row in per_channel.reshape(100, 3).tolist())


@pytest.mark.parametrize("call, error, words", [
    (lambda: tapegrad.kl_div(tapegrad.zeros(2), tapegrad.zeros(2), 3), ValueError, "3 is not a valid value"),
    (lambda: tapegrad.rrelu(tapegrad.zeros(2), generator=tapegrad.Generator()), NotImplementedError, "generator"),
    (lambda: tapegrad.conv2d(tapegrad.zeros(1, 2, 3, 3), tapegrad.zeros(1, 3, 1, 1)), RuntimeError, "channels"),
    (lambda: tapegrad.ger(tapegrad.zeros(2, 2), tapegrad.zeros(2)), RuntimeError, "Expected 1-D argument self"),
    (lambda: tapegrad.outer(tapegrad.zeros(2), tapegrad.zeros(())), RuntimeError, "argument vec2, but got 0-D"),
    (lambda: tapegrad.feature_dropout(tapegrad.zeros(2, 2), 1.5, True), ValueError, "between 0 and 1"),
])
def test_bad_input_is_refused(call: Callable[[], Any], error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        call()


@pytest.mark.parametrize("function", [tapegrad.lu_unpack, tapegrad.linalg.lu])
def test_docstring_examples(function: Callable[..., Any]) -> None:
    import doctest

    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(function, globs={"tapegrad": tapegrad}):
        runner.run(test)
    assert runner.tries and not runner.failures

"""The LU and Cholesky part of ``tapegrad.linalg`` (and ``tapegrad.det``, ``logdet``, ``inverse``,
``cholesky_solve``, ... with their Tensor methods) against PyTorch: values and gradients in
float64 and float32, batched and not; ``gradcheck``/``gradgradcheck``; LU factors and pivots
equal to PyTorch's; PyTorch's errors (type and message) for singular, indefinite, misshapen and
integer inputs; determinants of singular matrices and their gradients."""
from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import scipy.linalg

import tapegrad
from tapegrad.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")

TOL = {"float64": {"rtol": 1e-9, "atol": 1e-10}, "float32": {"rtol": 2e-4, "atol": 2e-5}}
EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)
BATCHES = [(), (3,), (2, 2)]


# ---------------------------------------------------------------- inputs and comparison

def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def general(batch: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """Well-conditioned square matrices: random entries plus n times the identity."""
    return _rng(seed).standard_normal(batch + (n, n)) + n * np.eye(n)


def spd(batch: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """Symmetric positive-definite matrices B B^T + n I."""
    b = _rng(seed).standard_normal(batch + (n, n))
    return b @ np.swapaxes(b, -1, -2) + n * np.eye(n)


def lower(batch: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """Cholesky factors of ``spd`` matrices."""
    return np.linalg.cholesky(spd(batch, n, seed))


def plain(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return _rng(seed).standard_normal(shape)


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def compare_with_torch(fn: Callable[..., Any], arrays: list[np.ndarray], dtype: str, grad: bool = True) -> None:
    """``fn(lib, *tensors)`` in tapegrad and PyTorch: equal values and, for a random output
    gradient, equal input gradients (``fn`` returns a tensor, or a tuple whose last one is used)."""
    tol = TOL[dtype]
    ours = [tapegrad.tensor(a.astype(dtype), requires_grad=grad) for a in arrays]
    theirs = [torch.tensor(a.astype(dtype), requires_grad=grad) for a in arrays]
    out, ref = fn(tapegrad, *ours), fn(torch, *theirs)
    if isinstance(ref, tuple):
        for o, r in zip(out, ref):
            assert o.dtype.name == str(r.dtype).split(".")[-1]
            np.testing.assert_allclose(_numpy(o), _numpy(r), **tol)
        out, ref = out[-1], ref[-1]
    assert tuple(out.shape) == tuple(ref.shape)
    assert out.dtype.name == str(ref.dtype).split(".")[-1]
    np.testing.assert_allclose(_numpy(out), _numpy(ref), **tol)
    if not grad:
        return
    seed = plain(tuple(ref.shape), 99).astype(dtype)
    out.backward(tapegrad.tensor(seed))
    ref.backward(torch.tensor(seed))
    for a, b in zip(ours, theirs):
        assert (a.grad is None) == (b.grad is None)
        if b.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **tol)


_LIB_NAMES = [("torch.Size", "tapegrad.Size"), ("torch.int32", "tapegrad.int32")]


def raises_as_torch(call: Callable[[Any], Any]) -> None:
    """``call(lib)`` raises the same exception (torch.linalg.LinAlgError read as
    tapegrad.linalg.LinAlgError) with the same message in PyTorch and tapegrad."""
    with pytest.raises(Exception) as theirs:
        call(torch)
    expected_type = tapegrad.linalg.LinAlgError if isinstance(theirs.value, torch.linalg.LinAlgError) \
        else type(theirs.value)
    with pytest.raises(Exception) as ours:
        call(tapegrad)
    assert type(ours.value) is expected_type, (type(ours.value), type(theirs.value), str(ours.value))
    expected = str(theirs.value).split("\n[")[0]
    for theirs_name, ours_name in _LIB_NAMES:
        expected = expected.replace(theirs_name, ours_name)
    assert str(ours.value) == expected


# ---------------------------------------------------------------- values and gradients against PyTorch

def _solve_cases() -> list[tuple[str, Callable[..., Any], Callable[[tuple[int, ...], int], list[np.ndarray]]]]:
    return [
        ("solve matrix", lambda lib, A, B: lib.linalg.solve(A, B), lambda b, n: [general(b, n), plain(b + (n, 2), 1)]),
        ("solve vector", lambda lib, A, B: lib.linalg.solve(A, B), lambda b, n: [general(b, n), plain(b + (n,), 1)]),
        ("solve 1-d vector", lambda lib, A, B: lib.linalg.solve(A, B), lambda b, n: [general(b, n), plain((n,), 1)]),
        ("solve left=False", lambda lib, A, B: lib.linalg.solve(A, B, left=False),
         lambda b, n: [general(b, n), plain(b + (3, n), 1)]),
        ("solve broadcast", lambda lib, A, B: lib.linalg.solve(A, B),
         lambda b, n: [general(b, n), plain((2,) + b + (n, 3), 1)]),
        ("solve broadcast A", lambda lib, A, B: lib.linalg.solve(A, B),
         lambda b, n: [general((2,) + b, n), plain((1,) * len(b) + (n, 3), 1)]),
    ]


def _matrix_norm(ord: Any) -> Callable[..., Any]:
    return lambda lib, A: lib.linalg.matrix_norm(A, ord)


def _matrix_power(k: int) -> Callable[..., Any]:
    return lambda lib, A: lib.linalg.matrix_power(A, k)


CASES = [
    ("det", lambda lib, A: lib.linalg.det(A), lambda b, n: [general(b, n)]),
    ("slogdet", lambda lib, A: tuple(lib.linalg.slogdet(A)), lambda b, n: [general(b, n) * [1, -1][b == ()]]),
    ("inv", lambda lib, A: lib.linalg.inv(A), lambda b, n: [general(b, n)]),
    ("inv_ex", lambda lib, A: lib.linalg.inv_ex(A).inverse, lambda b, n: [general(b, n)]),
    ("inv of a transposed view", lambda lib, A: lib.linalg.inv(A.mT), lambda b, n: [general(b, n)]),
    ("cholesky", lambda lib, A: lib.linalg.cholesky(A), lambda b, n: [spd(b, n)]),
    ("cholesky upper", lambda lib, A: lib.linalg.cholesky(A, upper=True), lambda b, n: [spd(b, n)]),
    ("cholesky_ex", lambda lib, A: lib.linalg.cholesky_ex(A).L, lambda b, n: [spd(b, n)]),
    ("lu_factor", lambda lib, A: lib.linalg.lu_factor(A).LU, lambda b, n: [general(b, n) - n * np.eye(n)]),
    ("lu_factor wide", lambda lib, A: lib.linalg.lu_factor(A).LU, lambda b, n: [plain(b + (n - 1, n + 1))]),
    ("lu_factor tall", lambda lib, A: lib.linalg.lu_factor(A).LU, lambda b, n: [plain(b + (n + 2, n))]),
    ("lu_solve", lambda lib, A, B: lib.linalg.lu_solve(*lib.linalg.lu_factor(A), B),
     lambda b, n: [general(b, n), plain(b + (n, 2), 1)]),
    ("lu_solve adjoint", lambda lib, A, B: lib.linalg.lu_solve(*lib.linalg.lu_factor(A), B, adjoint=True),
     lambda b, n: [general(b, n), plain(b + (n, 2), 1)]),
    ("lu_solve left=False", lambda lib, A, B: lib.linalg.lu_solve(*lib.linalg.lu_factor(A), B, left=False),
     lambda b, n: [general(b, n), plain(b + (2, n), 1)]),
    ("solve_triangular upper", lambda lib, A, B: lib.linalg.solve_triangular(A, B, upper=True),
     lambda b, n: [general(b, n), plain(b + (n, 2), 1)]),
    ("solve_triangular lower right unit",
     lambda lib, A, B: lib.linalg.solve_triangular(A, B, upper=False, left=False, unitriangular=True),
     lambda b, n: [general(b, n), plain(b + (2, n), 1)]),
    *_solve_cases(),
    *[(f"matrix_norm {o}", _matrix_norm(o), lambda b, n: [plain(b + (n, n + 1))])
      for o in ["fro", 1, -1, float("inf"), -float("inf")]],
    ("matrix_norm dims keepdim", lambda lib, A: lib.linalg.matrix_norm(A, 1, dim=(-1, 0), keepdim=True),
     lambda b, n: [plain((2,) + b + (n,))]),
    *[(f"matrix_power {k}", _matrix_power(k), lambda b, n: [general(b, n) / n]) for k in [0, 1, 2, 3, 6, -1, -3]],
    ("torch.det", lambda lib, A: lib.det(A), lambda b, n: [general(b, n)]),
    ("torch.logdet", lambda lib, A: lib.logdet(A), lambda b, n: [spd(b, n)]),
    ("torch.slogdet", lambda lib, A: tuple(lib.slogdet(A)), lambda b, n: [general(b, n)]),
    ("torch.inverse", lambda lib, A: lib.inverse(A), lambda b, n: [general(b, n)]),
    ("torch.cholesky upper", lambda lib, A: lib.cholesky(A, upper=True), lambda b, n: [spd(b, n)]),
    ("torch.cholesky_solve", lambda lib, L, B: lib.cholesky_solve(B, L),
     lambda b, n: [lower(b, n), plain(b + (n, 2), 1)]),
    ("torch.cholesky_solve upper", lambda lib, U, B: lib.cholesky_solve(B, U, upper=True),
     lambda b, n: [np.swapaxes(lower(b, n), -1, -2), plain((2,) + b + (n, 2), 1)]),
    ("torch.cholesky_inverse", lambda lib, L: lib.cholesky_inverse(L), lambda b, n: [lower(b, n)]),
    ("torch.cholesky_inverse upper", lambda lib, U: lib.cholesky_inverse(U, upper=True),
     lambda b, n: [np.swapaxes(lower(b, n), -1, -2)]),
    ("Tensor methods", lambda lib, A: A.det() + A.logdet() + A.slogdet()[1] + A.inverse().sum((-2, -1))
     + A.cholesky().sum((-2, -1)) + A.matrix_power(2).sum((-2, -1)), lambda b, n: [spd(b, n)]),
]


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:torch.cholesky is deprecated")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", BATCHES, ids=str)
@pytest.mark.parametrize("name, fn, make", CASES, ids=[c[0] for c in CASES])
def test_values_and_gradients_match_torch(name: str, fn: Callable[..., Any], make: Callable[..., Any], batch: tuple,
                                          dtype: str) -> None:
    compare_with_torch(fn, make(batch, 4), dtype)


@pytest.mark.torch
@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_sizes_match_torch(n: int) -> None:
    for fn, make in [(lambda lib, A: lib.linalg.det(A), general), (lambda lib, A: lib.linalg.inv(A), general),
                     (lambda lib, A: lib.linalg.cholesky(A), spd),
                     (lambda lib, A: tuple(lib.linalg.slogdet(A)), general)]:
        compare_with_torch(fn, [make((2,), n, seed=n)], "float64")


@pytest.mark.torch
@pytest.mark.parametrize("shapes", [[(3, 4), (4, 5)], [(4,), (4, 2), (2, 6), (6,)], [(2, 3), (3, 7), (7, 1), (1, 5)],
                                    [(5,), (5, 1), (1, 6), (6, 2), (2, 3)], [(3, 2), (2, 5), (5,)]], ids=str)
def test_multi_dot_matches_torch(shapes: list[tuple[int, ...]]) -> None:
    compare_with_torch(lambda lib, *ts: lib.linalg.multi_dot(list(ts)), [plain(s, k) for k, s in enumerate(shapes)],
                       "float64")


NORMS = [((3, 4), {}), ((3, 4), {"ord": 1}), ((3, 4), {"ord": -float("inf")}), ((3, 4), {"ord": "fro"}),
         ((5,), {"ord": 3}), ((5,), {}), ((2, 3, 4), {}), ((2, 3, 4), {"dim": (1, 2)}),
         ((2, 3, 4), {"ord": 1, "dim": 1}), ((2, 3, 4), {"ord": float("inf"), "dim": (2, 0), "keepdim": True}),
         ((3, 4), {"keepdim": True}), ((3, 4), {"ord": "fro", "dim": (0, 1), "dtype": "float64"})]


@pytest.mark.torch
@pytest.mark.parametrize("shape, kwargs", NORMS, ids=str)
def test_norm_dispatches_as_torch(shape: tuple[int, ...], kwargs: dict) -> None:
    def fn(lib: Any, A: Any) -> Any:
        given = dict(kwargs)
        if "dtype" in given:
            given["dtype"] = getattr(lib, given["dtype"])
        return lib.linalg.norm(A, **given)

    compare_with_torch(fn, [plain(shape)], "float32")


# ---------------------------------------------------------------- gradcheck and gradgradcheck

def _sym(x: Any) -> Any:
    return (x + x.mT) * 0.5


GRADCHECKS = [
    ("det", lambda A: tapegrad.linalg.det(A), lambda: [general((2,), 3)]),
    ("slogdet", lambda A: tapegrad.linalg.slogdet(A).logabsdet, lambda: [general((2,), 3) * -1]),
    ("inv", lambda A: tapegrad.linalg.inv(A), lambda: [general((2,), 3)]),
    ("solve", lambda A, B: tapegrad.linalg.solve(A, B), lambda: [general((2,), 3), plain((2, 3, 2), 1)]),
    ("solve vector broadcast", lambda A, B: tapegrad.linalg.solve(A, B), lambda: [general((2,), 3), plain((3,), 1)]),
    ("solve left=False", lambda A, B: tapegrad.linalg.solve(A, B, left=False),
     lambda: [general((2,), 3), plain((2, 2, 3), 1)]),
    ("cholesky", lambda A: tapegrad.linalg.cholesky(_sym(A)), lambda: [spd((2,), 3)]),
    ("cholesky upper", lambda A: tapegrad.linalg.cholesky(_sym(A), upper=True), lambda: [spd((), 3)]),
    ("matrix_norm fro", lambda A: tapegrad.linalg.matrix_norm(A), lambda: [plain((2, 3, 4))]),
    ("matrix_norm 1", lambda A: tapegrad.linalg.matrix_norm(A, 1), lambda: [plain((2, 3, 4))]),
    ("matrix_norm -inf", lambda A: tapegrad.linalg.matrix_norm(A, -float("inf")), lambda: [plain((2, 3, 4))]),
    ("matrix_power -2", lambda A: tapegrad.linalg.matrix_power(A, -2), lambda: [general((), 3)]),
    ("lu_factor", lambda A: tapegrad.linalg.lu_factor(A).LU, lambda: [general((2,), 3) - 3 * np.eye(3)]),
    ("lu_factor wide", lambda A: tapegrad.linalg.lu_factor(A).LU, lambda: [plain((2, 4))]),
    ("lu_factor tall", lambda A: tapegrad.linalg.lu_factor(A).LU, lambda: [plain((4, 2))]),
    ("lu_solve", lambda LU, B: tapegrad.linalg.lu_solve(LU, _PIVOTS, B),
     lambda: [tapegrad.linalg.lu_factor(tapegrad.tensor(general((), 3))).LU.numpy(), plain((3, 2), 1)]),
    ("solve_triangular", lambda A, B: tapegrad.linalg.solve_triangular(A, B, upper=True),
     lambda: [general((2,), 3), plain((3, 2), 1)]),
    ("cholesky_solve", lambda L, B: tapegrad.cholesky_solve(B, L.tril()), lambda: [lower((2,), 3), plain((3, 2), 1)]),
    ("cholesky_inverse", lambda L: tapegrad.cholesky_inverse(L.tril()), lambda: [lower((), 3)]),
    ("multi_dot", lambda a, b, c: tapegrad.linalg.multi_dot([a, b, c]),
     lambda: [plain((3,)), plain((3, 4), 1), plain((4, 2), 2)]),
]
_PIVOTS = tapegrad.linalg.lu_factor(tapegrad.tensor(general((), 3))).pivots


@pytest.mark.parametrize("name, fn, make", GRADCHECKS, ids=[c[0] for c in GRADCHECKS])
def test_gradcheck_and_gradgradcheck(name: str, fn: Callable[..., Any], make: Callable[[], list[np.ndarray]]) -> None:
    inputs = tuple(tapegrad.tensor(a, dtype=tapegrad.float64, requires_grad=True) for a in make())
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


def test_gradcheck_fails_for_a_wrong_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks above can fail: a det gradient off by a factor is caught."""
    from tapegrad.ops import linalg_ops

    rule = linalg_ops.DET.rule
    monkeypatch.setattr(linalg_ops.DET, "rule", lambda step, g: tuple(x * 1.01 for x in rule(step, g)))
    A = tapegrad.tensor(general((), 3), requires_grad=True)
    assert not gradcheck(tapegrad.linalg.det, (A,), raise_exception=False)


# ---------------------------------------------------------------- LU factors and pivots

@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(5, 5), (3, 6, 6), (2, 3, 4, 4), (4, 7), (7, 4), (2, 1, 3), (0, 3, 3), (8, 8)],
                         ids=str)
def test_lu_factor_pivots_and_factors_equal_torchs(shape: tuple[int, ...], dtype: str) -> None:
    a = plain(shape, 3).astype(dtype)
    LU, pivots, info = tapegrad.linalg.lu_factor_ex(tapegrad.tensor(a))
    ref = torch.linalg.lu_factor_ex(torch.tensor(a))
    assert pivots.dtype == tapegrad.int32 and tuple(pivots.shape) == tuple(ref.pivots.shape)
    np.testing.assert_array_equal(pivots.numpy(), ref.pivots.numpy())
    np.testing.assert_array_equal(info.numpy(), ref.info.numpy())
    np.testing.assert_allclose(LU.numpy(), ref.LU.numpy(), **TOL[dtype])


@pytest.mark.torch
def test_lu_of_singular_and_special_matrices_equals_torchs() -> None:
    cases = [np.arange(1.0, 10.0).reshape(3, 3), np.zeros((3, 3)), np.array([[0.0, 1.0], [1.0, 0.0]]),
             np.array([[1.0, 2.0], [2.0, 4.0]]), np.array([[2.0, 1.0, 1.0], [2.0, 1.0, 1.0], [1.0, 1.0, 3.0]])]
    for a in cases:
        LU, pivots, info = tapegrad.linalg.lu_factor_ex(tapegrad.tensor(a))
        ref = torch.linalg.lu_factor_ex(torch.tensor(a))
        np.testing.assert_array_equal(pivots.numpy(), ref.pivots.numpy())
        np.testing.assert_array_equal(info.numpy(), ref.info.numpy())
        np.testing.assert_allclose(LU.numpy(), ref.LU.numpy(), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- singular matrices

SINGULAR = [np.array([[1.0, 2.0], [2.0, 4.0]]), np.arange(1.0, 10.0).reshape(3, 3), np.zeros((3, 3)),
            np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])]


@pytest.mark.torch
@pytest.mark.parametrize("index", range(len(SINGULAR)))
def test_det_of_singular_matrices_and_its_gradients_match_torch(index: int) -> None:
    a = SINGULAR[index]
    ours, theirs = tapegrad.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    d, ref = tapegrad.linalg.det(ours), torch.linalg.det(theirs)
    # The determinant is exactly 0, and so is ours: both libraries factor A^T, and ours rounds each
    # product before its subtraction, as reference LAPACK does, which leaves an exactly zero pivot
    # in these matrices. PyTorch's LAPACK (MKL) fuses multiply-adds on some CPUs, and then leaves a
    # rounding residue in the last pivot instead: its determinant is 0 to within n eps of the
    # entries' scale (Hadamard's bound, the product of the rows' norms).
    assert d.item() == 0.0
    assert abs(ref.item()) <= a.shape[0] * EPS64 * np.prod(np.linalg.norm(a, axis=1))
    # Without a graph: det(A) A^{-T} through the factorization with zero pivots nudged, zero for
    # an exactly zero det. (Where PyTorch's det is a residue, its own det(A) A^{-T} is not zero but
    # approaches the cofactor matrix: the two agree only where PyTorch's det is exactly 0 too.)
    g, = tapegrad.autograd.grad(d, [ours])
    g_ref, = torch.autograd.grad(ref, theirs)
    np.testing.assert_array_equal(g.numpy(), np.zeros_like(a))
    if ref.item() == 0.0:
        np.testing.assert_allclose(g.numpy(), g_ref.numpy(), atol=1e-12)
    # With a graph: the cofactor matrix, and its own gradient where PyTorch's is finite.
    g, = tapegrad.autograd.grad(tapegrad.linalg.det(ours), [ours], create_graph=True)
    g_ref, = torch.autograd.grad(torch.linalg.det(theirs), theirs, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), g_ref.detach().numpy(), atol=1e-12)
    h, = tapegrad.autograd.grad((g * g).sum(), [ours])
    h_ref, = torch.autograd.grad((g_ref * g_ref).sum(), theirs)
    if np.isfinite(h_ref.numpy()).all():
        np.testing.assert_allclose(h.numpy(), h_ref.numpy(), atol=1e-10)


def test_second_derivative_of_det_at_a_singular_matrix_is_exact() -> None:
    """d/dA sum(cofactors(A)) for det = ad - bc at the zero matrix is [[1, -1], [-1, 1]] (PyTorch's
    SVD formula gives NaN there)."""
    A = tapegrad.zeros(2, 2, dtype=tapegrad.float64, requires_grad=True)
    g, = tapegrad.autograd.grad(tapegrad.linalg.det(A), [A], create_graph=True)
    h, = tapegrad.autograd.grad(g.sum(), [A])
    np.testing.assert_array_equal(h.numpy(), [[1.0, -1.0], [-1.0, 1.0]])


@pytest.mark.torch
def test_mixed_batch_of_singular_and_regular_matrices_matches_torch() -> None:
    a = np.stack([SINGULAR[0], general((), 2, seed=4)])
    ours, theirs = tapegrad.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    g, = tapegrad.autograd.grad(tapegrad.linalg.det(ours).sum(), [ours], create_graph=True)
    g_ref, = torch.autograd.grad(torch.linalg.det(theirs).sum(), theirs, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), g_ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    h, = tapegrad.autograd.grad((g ** 2).sum(), [ours])
    h_ref, = torch.autograd.grad((g_ref ** 2).sum(), theirs)
    np.testing.assert_allclose(h.numpy(), h_ref.numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.torch
def test_slogdet_logdet_and_inv_ex_of_singular_matrices_match_torch() -> None:
    a = np.stack([np.eye(3), SINGULAR[1], SINGULAR[2]])
    sign, logabsdet = tapegrad.linalg.slogdet(tapegrad.tensor(a))
    ref = torch.linalg.slogdet(torch.tensor(a))
    np.testing.assert_array_equal(sign.numpy(), ref.sign.numpy())
    np.testing.assert_array_equal(logabsdet.numpy(), ref.logabsdet.numpy())
    np.testing.assert_array_equal(tapegrad.logdet(tapegrad.tensor(a)).numpy(), torch.logdet(torch.tensor(a)).numpy())
    negative = np.diag([-1.0, 2.0, 3.0])
    assert np.isnan(tapegrad.logdet(tapegrad.tensor(negative)).item())
    inverse, info = tapegrad.linalg.inv_ex(tapegrad.tensor(a))
    ref_inverse, ref_info = torch.linalg.inv_ex(torch.tensor(a))
    np.testing.assert_array_equal(info.numpy(), ref_info.numpy())
    assert info.dtype == tapegrad.int32
    # The same infinities and NaNs as PyTorch's substitution leaves.
    np.testing.assert_array_equal(np.isnan(inverse.numpy()), np.isnan(ref_inverse.numpy()))
    np.testing.assert_array_equal(np.isinf(inverse.numpy()), np.isinf(ref_inverse.numpy()))


@pytest.mark.torch
def test_slogdet_sign_has_no_gradient_as_in_torch() -> None:
    a = general((), 3)
    ours, theirs = tapegrad.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    sign, ref_sign = tapegrad.linalg.slogdet(ours).sign, torch.linalg.slogdet(theirs).sign
    assert sign.requires_grad and ref_sign.requires_grad
    assert sign.grad_fn.name() == ref_sign.grad_fn.name()
    sign.sum().backward()
    ref_sign.sum().backward()
    assert ours.grad is None and theirs.grad is None


@pytest.mark.torch
def test_cholesky_ex_reports_the_failing_minor_as_torch() -> None:
    a = np.stack([spd((), 3), np.arange(1.0, 10.0).reshape(3, 3), -np.eye(3), np.diag([1.0, 1.0, -1.0])])
    for upper in (False, True):
        L, info = tapegrad.linalg.cholesky_ex(tapegrad.tensor(a), upper=upper)
        ref = torch.linalg.cholesky_ex(torch.tensor(a), upper=upper)
        np.testing.assert_array_equal(info.numpy(), ref.info.numpy())
        np.testing.assert_allclose(L.numpy()[0], ref.L.numpy()[0], rtol=1e-12)
        # What is left of the failed factorizations is LAPACK's too.
        np.testing.assert_allclose(L.numpy(), ref.L.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- errors

_S = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]
# A singular matrix whose LU factorization is exact (pivots and multipliers powers of 2, entries
# small integers): every LAPACK finds the same pivots and an exactly zero U[3,3], with or without
# fused multiply-adds. In _S, whether the last pivot comes out exactly 0 depends on the rounding,
# so PyTorch's errors for it depend on the CPU its LAPACK (MKL) runs on; _S serves the tests that
# do not compare with PyTorch.
_S_EXACT = [[1.0, 2.0, 3.0], [4.0, 4.0, 8.0], [2.0, 4.0, 6.0]]


def _batch_with_singular(lib: Any, singular: list[list[float]] = _S_EXACT) -> Any:
    return lib.stack([lib.eye(3), lib.tensor(singular), lib.zeros(3, 3)])


ERRORS = {
    # singular and indefinite inputs
    "inv singular": lambda lib: lib.linalg.inv(lib.tensor([[1.0, 2.0], [2.0, 4.0]])),
    "inv zero": lambda lib: lib.linalg.inv(lib.zeros(3, 3)),
    "inv batch": lambda lib: lib.linalg.inv(_batch_with_singular(lib)),
    "inv batch of one": lambda lib: lib.linalg.inv(lib.zeros(1, 2, 2)),
    "inv 4-d batch": lambda lib: lib.linalg.inv(_batch_with_singular(lib).reshape(1, 3, 3, 3)),
    "inv_ex check_errors": lambda lib: lib.linalg.inv_ex(_batch_with_singular(lib), check_errors=True),
    "inverse": lambda lib: lib.inverse(lib.tensor(_S_EXACT)),
    "matrix_power -1 singular": lambda lib: lib.linalg.matrix_power(lib.tensor(_S_EXACT), -2),
    "solve singular": lambda lib: lib.linalg.solve(lib.tensor(_S_EXACT), lib.ones(3)),
    "solve batch singular": lambda lib: lib.linalg.solve(_batch_with_singular(lib), lib.ones(3)),
    "cholesky": lambda lib: lib.linalg.cholesky(lib.tensor(_S)),
    "cholesky -I": lambda lib: lib.linalg.cholesky(-lib.eye(3)),
    "cholesky upper": lambda lib: lib.linalg.cholesky(lib.tensor(_S), upper=True),
    "cholesky batch": lambda lib: lib.linalg.cholesky(lib.stack([lib.eye(2), -lib.eye(2)])),
    "cholesky_ex check_errors": lambda lib: lib.linalg.cholesky_ex(lib.tensor(_S), check_errors=True),
    "torch.cholesky": lambda lib: lib.cholesky(lib.stack([lib.eye(2), -lib.eye(2)])),
    "lu_factor": lambda lib: lib.linalg.lu_factor(_batch_with_singular(lib)),
    "lu_factor wide": lambda lib: lib.linalg.lu_factor(lib.zeros(2, 3)),
    "lu_factor_ex check_errors": lambda lib: lib.linalg.lu_factor_ex(lib.tensor(_S_EXACT), check_errors=True),
    "cholesky_inverse": lambda lib: lib.cholesky_inverse(lib.tensor([[1.0, 0.0], [1.0, 0.0]])),
    "cholesky_inverse batch": lambda lib: lib.cholesky_inverse(lib.stack([lib.eye(2), lib.zeros(2, 2)]), upper=True),
    # shapes
    "det 1-d": lambda lib: lib.linalg.det(lib.ones(3)),
    "det not square": lambda lib: lib.linalg.det(lib.ones(2, 3)),
    "slogdet not square": lambda lib: lib.linalg.slogdet(lib.ones(2, 3)),
    "inv 1-d": lambda lib: lib.linalg.inv(lib.ones(3)),
    "inv_ex not square": lambda lib: lib.linalg.inv_ex(lib.ones(2, 3)),
    "cholesky not square": lambda lib: lib.linalg.cholesky(lib.ones(2, 3)),
    "torch.cholesky 1-d": lambda lib: lib.cholesky(lib.ones(3)),
    "logdet not square": lambda lib: lib.logdet(lib.ones(2, 3)),
    "logdet 1-d": lambda lib: lib.logdet(lib.ones(3)),
    "lu_factor 1-d": lambda lib: lib.linalg.lu_factor(lib.ones(3)),
    "lu_factor no pivoting": lambda lib: lib.linalg.lu_factor(lib.eye(3), pivot=False),
    "matrix_power 1-d": lambda lib: lib.linalg.matrix_power(lib.ones(3), 2),
    "matrix_power not square": lambda lib: lib.linalg.matrix_power(lib.ones(2, 3), 2),
    "matrix_power float n": lambda lib: lib.linalg.matrix_power(lib.eye(2), 2.0),
    "cholesky_inverse not square": lambda lib: lib.cholesky_inverse(lib.ones(2, 3)),
    "solve A 1-d": lambda lib: lib.linalg.solve(lib.ones(3), lib.ones(3)),
    "solve A not square": lambda lib: lib.linalg.solve(lib.ones(2, 3), lib.ones(2)),
    "solve vector mismatch": lambda lib: lib.linalg.solve(lib.eye(3), lib.ones(4)),
    "solve matrix mismatch": lambda lib: lib.linalg.solve(lib.eye(3), lib.ones(4, 2)),
    "solve rows": lambda lib: lib.linalg.solve(lib.eye(3), lib.ones(2, 3)),
    "solve batch mismatch": lambda lib: lib.linalg.solve(lib.eye(3).expand(2, 3, 3), lib.ones(3, 3, 3)),
    "solve left=False vector": lambda lib: lib.linalg.solve(lib.eye(3), lib.ones(3), left=False),
    "solve left=False mismatch": lambda lib: lib.linalg.solve(lib.eye(3), lib.ones(3, 2), left=False),
    "solve B 0-d": lambda lib: lib.linalg.solve(lib.eye(3), lib.tensor(1.0)),
    "solve dtypes": lambda lib: lib.linalg.solve(lib.eye(3), lib.eye(3, dtype=lib.float64)),
    "lu_solve B 1-d": lambda lib: lib.linalg.lu_solve(*lib.linalg.lu_factor(lib.eye(3)), lib.ones(3)),
    "lu_solve mismatch": lambda lib: lib.linalg.lu_solve(*lib.linalg.lu_factor(lib.eye(3)), lib.ones(2, 3)),
    "lu_solve dtypes": lambda lib: lib.linalg.lu_solve(*lib.linalg.lu_factor(lib.eye(3)), lib.ones(3, 3).double()),
    "lu_solve pivots dtype": lambda lib: lib.linalg.lu_solve(lib.eye(3), lib.ones(3, dtype=lib.int64), lib.ones(3, 3)),
    "lu_solve pivots count": lambda lib: lib.linalg.lu_solve(lib.eye(3), lib.ones(2, dtype=lib.int32), lib.ones(3, 3)),
    "solve_triangular mismatch": lambda lib: lib.linalg.solve_triangular(lib.eye(3), lib.ones(2, 2), upper=True),
    "solve_triangular right": lambda lib: lib.linalg.solve_triangular(lib.eye(3), lib.ones(3, 2), upper=True,
                                                                      left=False),
    "solve_triangular not square": lambda lib: lib.linalg.solve_triangular(lib.ones(2, 3), lib.ones(3, 2), upper=True),
    "cholesky_solve b 1-d": lambda lib: lib.cholesky_solve(lib.ones(3), lib.eye(2)),
    "cholesky_solve u 1-d": lambda lib: lib.cholesky_solve(lib.ones(2, 2), lib.ones(2)),
    "cholesky_solve mismatch": lambda lib: lib.cholesky_solve(lib.ones(3, 2), lib.eye(2)),
    "cholesky_solve not square": lambda lib: lib.cholesky_solve(lib.ones(3, 2), lib.ones(2, 3)),
    "cholesky_solve dtypes": lambda lib: lib.cholesky_solve(lib.ones(2, 2), lib.eye(2, dtype=lib.float64)),
    "cholesky_solve batch": lambda lib: lib.cholesky_solve(lib.ones(3, 2, 2), lib.eye(2).expand(2, 2, 2)),
    "multi_dot one": lambda lib: lib.linalg.multi_dot([lib.eye(2)]),
    "multi_dot none": lambda lib: lib.linalg.multi_dot([]),
    "multi_dot 3-d last": lambda lib: lib.linalg.multi_dot([lib.eye(2), lib.ones(2, 2, 2)]),
    "multi_dot 3-d first": lambda lib: lib.linalg.multi_dot([lib.ones(2, 2, 2), lib.eye(2)]),
    "multi_dot 1-d middle": lambda lib: lib.linalg.multi_dot([lib.eye(3), lib.ones(3), lib.eye(3)]),
    "multi_dot mismatch": lambda lib: lib.linalg.multi_dot([lib.eye(3), lib.ones(2, 2)]),
    "multi_dot dtypes": lambda lib: lib.linalg.multi_dot([lib.ones(2, 2).long(), lib.ones(2, 2)]),
    "matrix_norm order": lambda lib: lib.linalg.matrix_norm(lib.ones(2, 2), 3),
    "matrix_norm half order": lambda lib: lib.linalg.matrix_norm(lib.ones(2, 2), 0.5),
    "matrix_norm string order": lambda lib: lib.linalg.matrix_norm(lib.ones(2, 2), "abc"),
    "matrix_norm 1-d": lambda lib: lib.linalg.matrix_norm(lib.ones(3)),
    "matrix_norm one dim": lambda lib: lib.linalg.matrix_norm(lib.ones(2, 3, 4), dim=(0,)),
    "matrix_norm three dims": lambda lib: lib.linalg.matrix_norm(lib.ones(2, 3, 4), dim=(0, 1, 2)),
    "matrix_norm same dims": lambda lib: lib.linalg.matrix_norm(lib.ones(2, 3, 4), dim=(1, -2)),
    "matrix_norm dim range": lambda lib: lib.linalg.matrix_norm(lib.ones(2, 3, 4), dim=(5, 1)),
    "matrix_norm dtype": lambda lib: lib.linalg.matrix_norm(lib.ones(2, 2), dtype=lib.int64),
    "matrix_norm narrowing": lambda lib: lib.linalg.matrix_norm(lib.ones(2, 2, dtype=lib.float64), dtype=lib.float32),
    "norm 3-d with ord": lambda lib: lib.linalg.norm(lib.ones(2, 3, 4), 1),
    "norm three dims": lambda lib: lib.linalg.norm(lib.ones(2, 3, 4), dim=(0, 1, 2)),
    "norm fro of a vector": lambda lib: lib.linalg.norm(lib.ones(3), "fro"),
    "norm fro one dim": lambda lib: lib.linalg.norm(lib.ones(2, 3, 4), "fro", dim=1),
    "norm matrix order": lambda lib: lib.linalg.norm(lib.ones(3, 4), 3),
}

INTEGER_ERRORS = {
    "det": lambda lib, A: lib.linalg.det(A),
    "slogdet": lambda lib, A: lib.linalg.slogdet(A),
    "inv": lambda lib, A: lib.linalg.inv(A),
    "inv_ex": lambda lib, A: lib.linalg.inv_ex(A),
    "cholesky": lambda lib, A: lib.linalg.cholesky(A),
    "cholesky_ex": lambda lib, A: lib.linalg.cholesky_ex(A),
    "matrix_norm": lambda lib, A: lib.linalg.matrix_norm(A),
    "matrix_norm 1": lambda lib, A: lib.linalg.matrix_norm(A, 1),
    "norm": lambda lib, A: lib.linalg.norm(A),
    "norm 1": lambda lib, A: lib.linalg.norm(A, 1),
    "vector_norm": lambda lib, A: lib.linalg.vector_norm(A),
    "lu_factor": lambda lib, A: lib.linalg.lu_factor(A),
    "lu_factor_ex": lambda lib, A: lib.linalg.lu_factor_ex(A),
    "solve": lambda lib, A: lib.linalg.solve(A, A),
    "solve float A": lambda lib, A: lib.linalg.solve(A.float(), A),
    "solve integer A": lambda lib, A: lib.linalg.solve(A, A.float()),
    "matrix_power -1": lambda lib, A: lib.linalg.matrix_power(A, -1),
    "torch.det": lambda lib, A: lib.det(A),
    "torch.logdet": lambda lib, A: lib.logdet(A),
    "torch.slogdet": lambda lib, A: lib.slogdet(A),
    "torch.inverse": lambda lib, A: lib.inverse(A),
    "torch.cholesky": lambda lib, A: lib.cholesky(A),
    "torch.cholesky_solve": lambda lib, A: lib.cholesky_solve(A, A),
    "torch.cholesky_inverse": lambda lib, A: lib.cholesky_inverse(A),
}


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:torch.cholesky is deprecated")
@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_match_torchs(name: str) -> None:
    raises_as_torch(ERRORS[name])


def _exact_det(m: list[list[float]]) -> Fraction:
    """The determinant in exact arithmetic (Laplace expansion along the first row)."""
    if len(m) == 1:
        return Fraction(m[0][0])
    return sum(((-1) ** j * Fraction(m[0][j]) * _exact_det([row[:j] + row[j + 1:] for row in m[1:]])
                for j in range(len(m))), Fraction(0))


def _unpack(lu: np.ndarray, pivots: np.ndarray) -> np.ndarray:
    """P L U of one LU factorization, the 1-based row swaps applied in reverse."""
    n = lu.shape[-1]
    product = (np.tril(lu, -1) + np.eye(n)) @ np.triu(lu)
    for k in reversed(range(n)):
        product[[k, pivots[k] - 1]] = product[[pivots[k] - 1, k]]
    return product


# The singular-input errors, as (call, how the message names the zero pivot: "diagonal", "U", or
# "" where it does not).
SINGULAR_ERRORS: list[tuple[Callable[[Any], Any], str]] = [
    (lambda A: tapegrad.linalg.inv(A), "diagonal"),
    (lambda A: tapegrad.linalg.inv_ex(A, check_errors=True), "diagonal"),
    (lambda A: tapegrad.linalg.solve(A, tapegrad.ones(3)), ""),
    (lambda A: tapegrad.linalg.lu_factor(A), "U"),
    (lambda A: tapegrad.linalg.lu_factor_ex(A, check_errors=True), "U"),
]


@pytest.mark.filterwarnings("ignore:Diagonal number 3 is exactly zero")  # SciPy's, for the singular matrix
@pytest.mark.parametrize("singular", [_S, _S_EXACT], ids=["rounding-dependent", "exact"])
def test_singular_errors_name_the_zero_pivot_of_our_own_factorization(singular: list[list[float]]) -> None:
    """The batch element and diagonal element a singular-input error names are the first matrix
    whose LU (tapegrad's, a valid P L U of it) has an exactly zero pivot, and that pivot; that
    matrix is singular in exact arithmetic. The numbers PyTorch names depend on its LAPACK's
    rounding (see _S_EXACT), so here they are checked against tapegrad's own factorization."""
    batch = _batch_with_singular(tapegrad, singular)
    LU, pivots, info = (x.numpy() for x in tapegrad.linalg.lu_factor_ex(batch))
    for b in range(batch.shape[0]):
        # a factorization of the matrix, to float32's rounding of entries up to 9 in size
        np.testing.assert_allclose(_unpack(LU[b], pivots[b]), batch[b].numpy(), rtol=0, atol=3 * 9 * EPS32)
        zeros = np.flatnonzero(np.diagonal(LU[b]) == 0)
        assert info[b] == (zeros[0] + 1 if zeros.size else 0)
    if singular is _S_EXACT:
        # An exact factorization: LAPACK's, as SciPy computes it, is the same, with U[3,3] = 0.
        lu, piv = scipy.linalg.lu_factor(np.asarray(singular, np.float32), check_finite=False)
        np.testing.assert_array_equal(LU[1], lu)
        np.testing.assert_array_equal(pivots[1], piv + 1)
        assert info.tolist() == [0, 3, 1]
    first = int(np.flatnonzero(info)[0])
    assert _exact_det(batch[first].tolist()) == 0
    zero = str(info[first])
    for call, names in SINGULAR_ERRORS:
        for matrix, where in ((batch, f"(Batch element {first})"), (batch[first], None)):
            with pytest.raises(Exception) as error:
                call(matrix)
            message = str(error.value)
            found = re.search(r"\(Batch element \d+\)", message)
            assert (found and found.group(0)) == where, message
            if names == "diagonal":
                assert re.search(r"The diagonal element (\d+) is zero", message).group(1) == zero, message
            elif names == "U":
                assert re.search(r"U\[(\d+),(\d+)\] is zero", message).groups() == (zero, zero), message


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:torch.cholesky is deprecated")
@pytest.mark.parametrize("dtype", ["int64", "int32"])
@pytest.mark.parametrize("name", list(INTEGER_ERRORS))
def test_integer_inputs_are_refused_as_by_torch(name: str, dtype: str) -> None:
    raises_as_torch(lambda lib: INTEGER_ERRORS[name](lib, lib.ones(3, 3, dtype=getattr(lib, dtype))))


@pytest.mark.torch
@pytest.mark.parametrize("fn", [lambda lib, A: lib.linalg.matrix_power(A, 0),
                                lambda lib, A: lib.linalg.matrix_power(A, 3),
                                lambda lib, A: lib.linalg.multi_dot([A, A, A])])
def test_integer_powers_and_products_match_torch(fn: Callable[..., Any]) -> None:
    a = np.arange(9).reshape(3, 3) - 4
    out, ref = fn(tapegrad, tapegrad.tensor(a)), fn(torch, torch.tensor(a))
    assert out.dtype == tapegrad.int64
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


# ---------------------------------------------------------------- the rest of the surface

@pytest.mark.torch
def test_empty_matrices_match_torch() -> None:
    for shape in [(0, 0), (2, 0, 0), (0, 3, 3)]:
        for fn in [lambda lib, A: lib.linalg.det(A), lambda lib, A: lib.linalg.inv(A),
                   lambda lib, A: lib.linalg.cholesky(A), lambda lib, A: lib.linalg.slogdet(A).logabsdet]:
            out, ref = fn(tapegrad, tapegrad.zeros(*shape)), fn(torch, torch.zeros(*shape))
            assert tuple(out.shape) == tuple(ref.shape)
            np.testing.assert_array_equal(out.numpy(), ref.numpy())


@pytest.mark.torch
def test_result_types_and_grad_fn_names_match_torch() -> None:
    a = general((), 3)
    ours, theirs = tapegrad.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    pairs = [(tapegrad.linalg.slogdet(ours), torch.linalg.slogdet(theirs)),
             (tapegrad.slogdet(ours), torch.slogdet(theirs)),
             (tapegrad.linalg.inv_ex(ours), torch.linalg.inv_ex(theirs)),
             (tapegrad.linalg.cholesky_ex(ours), torch.linalg.cholesky_ex(theirs)),
             (tapegrad.linalg.lu_factor(ours), torch.linalg.lu_factor(theirs)),
             (tapegrad.linalg.lu_factor_ex(ours), torch.linalg.lu_factor_ex(theirs))]
    for out, ref in pairs:
        assert type(out).__name__ == type(ref).__name__
        for field, r in zip(out._fields, ref):
            assert getattr(ref, field) is r
        for o, r in zip(out, ref):
            assert o.requires_grad == r.requires_grad
            assert (o.grad_fn and o.grad_fn.name()) == (r.grad_fn and r.grad_fn.name())
    for name in ["det", "inv", "cholesky"]:
        assert getattr(tapegrad.linalg, name)(ours).grad_fn.name() == getattr(torch.linalg, name)(theirs).grad_fn.name()
    assert tapegrad.linalg.solve(ours, ours).grad_fn.name() == torch.linalg.solve(theirs, theirs).grad_fn.name()


def test_torch_cholesky_warns_that_it_is_deprecated() -> None:
    from tapegrad.ops import matrix_functions

    matrix_functions._warned.discard("cholesky")
    with pytest.warns(UserWarning, match="torch.cholesky is deprecated"):
        tapegrad.cholesky(tapegrad.eye(2))


def test_compiled_steps_refuse_factorizations() -> None:
    from tapegrad.compiler import TraceError

    @tapegrad.compile
    def step(x):
        return tapegrad.linalg.det(x * 2.0)

    x = tapegrad.eye(3)
    with pytest.raises(TraceError, match="does not record linalg.det"):
        for _ in range(3):
            step(x)

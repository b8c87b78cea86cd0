"""The spectral part of ``tapegrad.linalg``: ``qr``, ``eigh``/``eigvalsh``, ``svd``/``svdvals``,
``pinv``, ``lstsq``, ``matrix_rank``, ``cond``, ``matrix_exp``, the nuclear and spectral matrix
norms, and ``torch.svd``/``qr``/``pinverse``/``matrix_exp`` with their Tensor methods.

Gradients are checked by finite differences (float64, first and second order) and against
PyTorch; values against PyTorch in float32 and float64, batched and not. Eigenvectors and
singular vectors are unique only up to sign, so they are compared through quantities that do
not depend on it (``V * V``, ``U @ Vh``), and checked to be orthonormal and to reconstruct the
input; QR's factors are unique, and compared as they are.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad.autograd import gradcheck, gradgradcheck

linalg = tapegrad.linalg
TOL = {"float64": {"rtol": 1e-9, "atol": 1e-10}, "float32": {"rtol": 5e-4, "atol": 5e-5}}


def plain(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def sym(x: Any) -> Any:
    return x + x.mT


def svd_invariants(lib: Any, A: Any, full: bool = False) -> Any:
    """``U @ Vh`` (the first k columns and rows when full) and S: unchanged by the vectors' signs."""
    U, S, Vh = lib.linalg.svd(A, full_matrices=full)
    k = S.shape[-1]
    return lib.cat([(U[..., :, :k] @ Vh[..., :k, :]).flatten(-2), S], -1)


def eigh_invariants(lib: Any, A: Any, UPLO: str = "L") -> Any:
    L, V = lib.linalg.eigh(A, UPLO=UPLO)
    return lib.cat([L, (V * V).flatten(-2)], -1)


# Functions of one matrix, each with the input shapes it is checked on.
FUNCTIONS: list[tuple[str, Callable[..., Any], list[tuple[int, ...]]]] = [
    ("qr", lambda lib, A: lib.cat([lib.linalg.qr(A).Q.flatten(-2), lib.linalg.qr(A).R.flatten(-2)], -1),
     [(4, 3), (3, 3), (2, 3, 5)]),
    ("qr complete", lambda lib, A: lib.linalg.qr(A, mode="complete").Q, [(3, 5), (2, 3, 3)]),
    ("eigh", lambda lib, A: eigh_invariants(lib, sym(A)), [(4, 4), (2, 3, 3)]),
    ("eigh upper", lambda lib, A: eigh_invariants(lib, A.triu() + A.triu(1).mT, "U"), [(3, 3)]),
    ("eigvalsh", lambda lib, A: lib.linalg.eigvalsh(sym(A)), [(4, 4), (2, 3, 3)]),
    ("svd", lambda lib, A: svd_invariants(lib, A), [(5, 3), (3, 5), (2, 4, 4)]),
    ("svd full", lambda lib, A: svd_invariants(lib, A, True), [(5, 3), (2, 3, 4)]),
    ("svdvals", lambda lib, A: lib.linalg.svdvals(A), [(5, 3), (2, 3, 4)]),
    ("pinv", lambda lib, A: lib.linalg.pinv(A), [(5, 3), (3, 5), (2, 3, 3)]),
    ("pinv hermitian", lambda lib, A: lib.linalg.pinv(sym(A), hermitian=True), [(4, 4)]),
    ("matrix_exp", lambda lib, A: lib.linalg.matrix_exp(A), [(3, 3), (2, 4, 4)]),
    ("matrix_exp large", lambda lib, A: lib.linalg.matrix_exp(A * 3.0), [(3, 3)]),
    ("matrix_norm nuc", lambda lib, A: lib.linalg.matrix_norm(A, "nuc"), [(4, 3), (2, 3, 4)]),
    ("matrix_norm 2", lambda lib, A: lib.linalg.matrix_norm(A, 2, dim=(0, -1), keepdim=True), [(4, 2, 3)]),
    ("matrix_norm -2", lambda lib, A: lib.linalg.matrix_norm(A, -2), [(3, 4)]),
    ("norm nuc", lambda lib, A: lib.linalg.norm(A, "nuc"), [(3, 4)]),
    ("torch.norm nuc", lambda lib, A: lib.norm(A, p="nuc", dim=(0, 2), keepdim=True), [(2, 3, 4)]),
    ("Tensor.norm nuc", lambda lib, A: A.norm(p="nuc"), [(3, 4)]),
    ("Tensor.norm fro of matrices", lambda lib, A: A.norm(p="fro", dim=(-1, -2)), [(2, 3, 4)]),
    ("cond", lambda lib, A: lib.linalg.cond(A), [(4, 3), (2, 3, 3)]),
    ("cond fro", lambda lib, A: lib.linalg.cond(A, "fro"), [(3, 3)]),
    ("cond -2", lambda lib, A: lib.linalg.cond(A, -2), [(3, 3)]),
    ("torch.svd", lambda lib, A: lib.svd(A).U @ lib.svd(A).V.mT, [(4, 3)]),
    ("pinverse", lambda lib, A: A.pinverse(), [(4, 3)]),
    ("Tensor.matrix_exp", lambda lib, A: A.matrix_exp(), [(3, 3)]),
]
CASES = [(name, fn, shape) for name, fn, shapes in FUNCTIONS for shape in shapes]
# PyTorch's own backward of cond(A, 'fro') raises (its cond overwrites inv's output in place):
# values only against PyTorch, gradients by finite differences.
NO_TORCH_GRADIENT = {"cond fro"}
CASE_IDS = [f"{name}-{shape}" for name, _, shape in CASES]


@pytest.mark.parametrize("name, fn, shape", CASES, ids=CASE_IDS)
def test_gradients_match_finite_differences(name: str, fn: Callable[..., Any], shape: tuple[int, ...]) -> None:
    A = tapegrad.tensor(plain(shape, 1), requires_grad=True)
    assert gradcheck(lambda A: fn(tapegrad, A), (A,))


@pytest.mark.parametrize("name", ["qr", "eigvalsh", "svd", "svdvals", "pinv", "matrix_exp"])
def test_second_derivatives_match_finite_differences(name: str) -> None:
    fn, shape = next((fn, shapes[0]) for n, fn, shapes in FUNCTIONS if n == name)
    A = tapegrad.tensor(plain(shape, 2), requires_grad=True)
    assert gradgradcheck(lambda A: fn(tapegrad, A), (A,))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, fn, shape", CASES, ids=CASE_IDS)
def test_values_and_gradients_match_torch(name: str, fn: Callable[..., Any], shape: tuple[int, ...],
                                          dtype: str) -> None:
    torch = pytest.importorskip("torch")
    a = plain(shape, 3).astype(dtype)
    ours = tapegrad.tensor(a, requires_grad=True)
    theirs = torch.tensor(a, requires_grad=True)
    out, ref = fn(tapegrad, ours), fn(torch, theirs)
    assert tuple(out.shape) == tuple(ref.shape) and out.dtype.name == dtype
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), **TOL[dtype])
    if name in NO_TORCH_GRADIENT:
        return
    seed = plain(tuple(ref.shape), 99).astype(dtype)
    out.backward(tapegrad.tensor(seed))
    ref.backward(torch.tensor(seed))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), **TOL[dtype])


# ---------------------------------------------------------------- the factors themselves

@pytest.mark.parametrize("dtype", [tapegrad.float64, tapegrad.float32])
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4), (1, 1), (6, 1)], ids=str)
def test_svd_factors_are_orthonormal_and_reconstruct(shape: tuple[int, ...], dtype: Any) -> None:
    A = tapegrad.tensor(plain(shape, 4), dtype=dtype)
    eps = 1e-12 if dtype == tapegrad.float64 else 2e-5
    for full in (True, False):
        U, S, Vh = linalg.svd(A, full_matrices=full)
        m, n = shape[-2:]
        k = min(m, n)
        assert tuple(U.shape[-2:]) == ((m, m) if full else (m, k))
        assert tuple(Vh.shape[-2:]) == ((n, n) if full else (k, n))
        for Q in (U, Vh.mT):
            eye = np.eye(Q.shape[-1])
            np.testing.assert_allclose((Q.mT @ Q).numpy(), np.broadcast_to(eye, tuple(Q.shape[:-2]) + eye.shape),
                                       atol=eps * 10)
        assert (S[..., :-1] >= S[..., 1:]).all()
        rebuilt = (U[..., :, :k] * S.unsqueeze(-2)) @ Vh[..., :k, :]
        np.testing.assert_allclose(rebuilt.numpy(), A.numpy(), atol=eps * 10)


def test_rank_deficient_svd_still_has_orthonormal_singular_vectors() -> None:
    a = plain((5, 4), 5)
    a[:, 3] = a[:, 0] - a[:, 1]
    a[:, 2] = 0.0
    U, S, Vh = linalg.svd(tapegrad.tensor(a))
    np.testing.assert_allclose((U.mT @ U).numpy(), np.eye(5), atol=1e-12)
    np.testing.assert_allclose((Vh @ Vh.mT).numpy(), np.eye(4), atol=1e-12)
    assert S[2] < 1e-14 and S[3] == 0
    np.testing.assert_allclose(np.linalg.svd(a, compute_uv=False), S.numpy(), atol=1e-13)
    U, S, Vh = linalg.svd(tapegrad.zeros(3, 2))
    np.testing.assert_array_equal(S.numpy(), [0.0, 0.0])
    np.testing.assert_allclose((U.mT @ U).numpy(), np.eye(3), atol=1e-7)


@pytest.mark.parametrize("dtype", [tapegrad.float64, tapegrad.float32])
def test_eigh_is_accurate_across_scales_and_repeated_values(dtype: Any) -> None:
    q, _ = np.linalg.qr(plain((5, 5), 6))
    values = np.array([-1e6, -1.0, 1e-6, 1.0, 1e6])
    a = (q * values) @ q.T
    L, V = linalg.eigh(tapegrad.tensor(a, dtype=dtype))
    rel = 1e-12 if dtype == tapegrad.float64 else 1e-5
    np.testing.assert_allclose(L.numpy(), values, atol=rel * 1e6)
    np.testing.assert_allclose((V.mT @ V).numpy(), np.eye(5), atol=rel * 10)
    L, V = linalg.eigh(tapegrad.eye(3, dtype=dtype) * 2.0)
    np.testing.assert_array_equal(L.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(V.numpy(), np.eye(3))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_qr_factors_equal_torch(dtype: str) -> None:
    torch = pytest.importorskip("torch")
    for shape in [(5, 3), (3, 5), (2, 4, 4)]:
        a = plain(shape, 7).astype(dtype)
        for mode in ("reduced", "complete", "r"):
            ours, theirs = linalg.qr(tapegrad.tensor(a), mode), torch.linalg.qr(torch.tensor(a), mode)
            for o, t in zip(ours, theirs):
                assert tuple(o.shape) == tuple(t.shape)
                np.testing.assert_allclose(o.numpy(), t.numpy(), **TOL[dtype])


@pytest.mark.torch
def test_unused_outputs_contribute_no_gradient_at_repeated_values() -> None:
    torch = pytest.importorskip("torch")
    for fn in (lambda lib, A: lib.linalg.eigvalsh(A).square().sum(),
               lambda lib, A: lib.linalg.svdvals(A).sum(),
               lambda lib, A: lib.linalg.matrix_norm(A, 2)):
        a = np.diag([2.0, 2.0, 3.0])
        ours, theirs = tapegrad.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        fn(tapegrad, ours).backward()
        fn(torch, theirs).backward()
        assert np.isfinite(ours.grad.numpy()).all()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-12)


# ---------------------------------------------------------------- lstsq, matrix_rank, pinv's tolerances

@pytest.mark.torch
@pytest.mark.parametrize("driver", [None, "gels", "gelsy", "gelsd", "gelss"])
@pytest.mark.parametrize("shapes", [((5, 3), (5, 2)), ((5, 3), (5,)), ((3, 1, 4, 3), (1, 2, 4, 2)), ((3, 5), (3, 2))],
                         ids=str)
def test_lstsq_matches_torch(shapes: tuple[tuple[int, ...], tuple[int, ...]], driver: str | None) -> None:
    torch = pytest.importorskip("torch")
    a, b = plain(shapes[0], 8), plain(shapes[1], 9)
    ours = linalg.lstsq(tapegrad.tensor(a), tapegrad.tensor(b), driver=driver)
    theirs = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
    for field in ("solution", "residuals", "rank", "singular_values"):
        o, t = getattr(ours, field), getattr(theirs, field)
        assert tuple(o.shape) == tuple(t.shape), field
        assert o.dtype.name == str(t.dtype).split(".")[-1], field
        np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-9, atol=1e-10, err_msg=field)


@pytest.mark.torch
def test_lstsq_rank_deficient_and_gradients_match_torch() -> None:
    torch = pytest.importorskip("torch")
    a = plain((6, 4), 10)
    a[:, 3] = a[:, 0] + a[:, 1]
    b = plain((6, 2), 11)
    for driver in ("gelsy", "gelsd"):
        ours = linalg.lstsq(tapegrad.tensor(a), tapegrad.tensor(b), driver=driver)
        theirs = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
        np.testing.assert_allclose(ours.solution.numpy(), theirs.solution.numpy(), atol=1e-10)
        assert ours.rank.item() == theirs.rank.item() == 3
        assert ours.residuals.numel() == 0 and theirs.residuals.numel() == 0
    a = plain((6, 4), 12)
    A, B = tapegrad.tensor(a, requires_grad=True), tapegrad.tensor(b, requires_grad=True)
    tA, tB = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    linalg.lstsq(A, B).solution.square().sum().backward()
    torch.linalg.lstsq(tA, tB).solution.square().sum().backward()
    np.testing.assert_allclose(A.grad.numpy(), tA.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(B.grad.numpy(), tB.grad.numpy(), atol=1e-10)


@pytest.mark.torch
def test_matrix_rank_and_pinv_tolerances_match_torch() -> None:
    torch = pytest.importorskip("torch")
    a = plain((3, 5, 4), 13)
    a[1, :, 3] = a[1, :, 0] * 2.0
    a[2] = np.outer(np.arange(5.0), np.ones(4)) * 1e-3
    calls = [{}, {"hermitian": True}, {"atol": 0.5}, {"rtol": 0.3}, {"atol": 0.1, "rtol": 0.2}, {"tol": 0.7}]
    for kwargs in calls:
        x = a @ np.swapaxes(a, -1, -2) if kwargs.get("hermitian") else a
        ours = linalg.matrix_rank(tapegrad.tensor(x), **kwargs)
        theirs = torch.linalg.matrix_rank(torch.tensor(x), **kwargs)
        assert ours.dtype == tapegrad.int64
        assert ours.tolist() == theirs.tolist(), kwargs
        if "tol" not in kwargs:
            np.testing.assert_allclose(linalg.pinv(tapegrad.tensor(x), **kwargs).numpy(),
                                       torch.linalg.pinv(torch.tensor(x), **kwargs).numpy(), atol=1e-9)
    atol = np.array([0.1, 5.0, 0.0])
    ours = linalg.matrix_rank(tapegrad.tensor(a), atol=tapegrad.tensor(atol))
    theirs = torch.linalg.matrix_rank(torch.tensor(a), atol=torch.tensor(atol))
    assert ours.tolist() == theirs.tolist()
    np.testing.assert_allclose(tapegrad.pinverse(tapegrad.tensor(a[1]), rcond=0.1).numpy(),
                               torch.pinverse(torch.tensor(a[1]), rcond=0.1).numpy(), atol=1e-10)


# ---------------------------------------------------------------- the older torch.* forms

@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:torch.qr is deprecated")
def test_torch_svd_and_qr_match_torch() -> None:
    torch = pytest.importorskip("torch")
    a = plain((2, 4, 3), 14)
    for some in (True, False):
        ours, theirs = tapegrad.svd(tapegrad.tensor(a), some=some), torch.svd(torch.tensor(a), some=some)
        for o, t in zip(ours, theirs):
            assert tuple(o.shape) == tuple(t.shape)
        np.testing.assert_allclose(ours.S.numpy(), theirs.S.numpy(), atol=1e-12)
    ours, theirs = tapegrad.svd(tapegrad.tensor(a), compute_uv=False), torch.svd(torch.tensor(a), compute_uv=False)
    for o, t in zip(ours, theirs):
        assert tuple(o.shape) == tuple(t.shape)
        np.testing.assert_allclose(o.numpy(), t.numpy(), atol=1e-12)
    from tapegrad.ops import matrix_functions

    matrix_functions._warned.discard("qr")
    with pytest.warns(UserWarning, match="torch.qr is deprecated"):
        ours = tapegrad.qr(tapegrad.tensor(a), some=False)
    theirs = torch.linalg.qr(torch.tensor(a), mode="complete")
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.numpy(), t.numpy(), atol=1e-12)
    for o, t in zip(tapegrad.tensor(a).qr(), torch.tensor(a).qr()):
        np.testing.assert_allclose(o.numpy(), t.numpy(), atol=1e-12)
    assert tuple(tapegrad.tensor(a).svd().V.shape) == (2, 3, 3)


@pytest.mark.torch
def test_grad_fn_names_match_torch() -> None:
    torch = pytest.importorskip("torch")
    a = plain((4, 3), 15)
    ours, theirs = tapegrad.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    s = a.T @ a
    pairs = [(linalg.qr(ours), torch.linalg.qr(theirs)), (linalg.svd(ours), torch.linalg.svd(theirs)),
             (linalg.eigh(tapegrad.tensor(s, requires_grad=True)), torch.linalg.eigh(torch.tensor(s, requires_grad=True))),
             ((linalg.svdvals(ours), linalg.pinv(ours)), (torch.linalg.svdvals(theirs), torch.linalg.pinv(theirs)))]
    for o, t in pairs:
        assert [x.grad_fn.name() for x in o] == [x.grad_fn.name() for x in t]


# ---------------------------------------------------------------- errors

ERRORS: list[tuple[str, Callable[[Any], Any]]] = [
    ("eigh not square", lambda lib: lib.linalg.eigvalsh(lib.ones(2, 3))),
    ("eigh UPLO", lambda lib: lib.linalg.eigh(lib.eye(2), UPLO="X")),
    ("eigh integer", lambda lib: lib.linalg.eigh(lib.ones(2, 2, dtype=lib.int64))),
    ("svd 1-D", lambda lib: lib.linalg.svd(lib.ones(2))),
    ("svd integer", lambda lib: lib.linalg.svd(lib.ones(2, 2, dtype=lib.int64))),
    ("svdvals integer", lambda lib: lib.linalg.svdvals(lib.ones(2, 2, dtype=lib.int64))),
    ("svd driver", lambda lib: lib.linalg.svd(lib.eye(2), driver="gesvd")),
    ("qr integer", lambda lib: lib.linalg.qr(lib.ones(2, 2, dtype=lib.int64))),
    ("qr mode", lambda lib: lib.linalg.qr(lib.eye(2), mode="x")),
    ("qr 1-D", lambda lib: lib.linalg.qr(lib.ones(2))),
    ("matrix_exp not square", lambda lib: lib.linalg.matrix_exp(lib.ones(2, 3))),
    ("matrix_exp integer", lambda lib: lib.linalg.matrix_exp(lib.ones(2, 2, dtype=lib.int64))),
    ("pinv 1-D", lambda lib: lib.linalg.pinv(lib.ones(2))),
    ("pinv integer", lambda lib: lib.linalg.pinv(lib.ones(2, 2, dtype=lib.int64))),
    ("cond fro not square", lambda lib: lib.linalg.cond(lib.ones(2, 3), "fro")),
    ("cond order", lambda lib: lib.linalg.cond(lib.eye(2), 3)),
    ("matrix_rank 1-D", lambda lib: lib.linalg.matrix_rank(lib.ones(2))),
    ("lstsq rows", lambda lib: lib.linalg.lstsq(lib.ones(3, 2), lib.ones(4, 1))),
    ("lstsq dims", lambda lib: lib.linalg.lstsq(lib.ones(2, 4, 3), lib.ones(4, 2))),
    ("lstsq dtype", lambda lib: lib.linalg.lstsq(lib.ones(3, 2), lib.ones(3, 1, dtype=lib.float64))),
    ("lstsq driver", lambda lib: lib.linalg.lstsq(lib.ones(3, 2), lib.ones(3, 1), driver="foo")),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, call", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name: str, call: Callable[[Any], Any]) -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(type(theirs.value)) as ours:
        call(tapegrad)
    expected = str(theirs.value).split(" (Triggered internally")[0].replace("torch.int64", "tapegrad.int64")
    assert str(ours.value).replace("_cpu\"", "\"") == expected.replace("_cpu\"", "\"")


@pytest.mark.torch
def test_qr_backward_errors_match_torch() -> None:
    torch = pytest.importorskip("torch")
    a = plain((4, 3), 16)
    for mode in ("r", "complete"):
        theirs = torch.tensor(a, requires_grad=True)
        with pytest.raises(RuntimeError) as expected:
            torch.linalg.qr(theirs, mode=mode).R.sum().backward()
        ours = tapegrad.tensor(a, requires_grad=True)
        with pytest.raises(RuntimeError) as got:
            linalg.qr(ours, mode=mode).R.sum().backward()
        assert str(got.value) == str(expected.value)


def test_compiled_steps_refuse_spectral_factorizations() -> None:
    from tapegrad.compiler import TraceError

    for fn in (lambda x: linalg.qr(x * 2.0).R, lambda x: linalg.eigvalsh(x * 2.0), lambda x: linalg.svdvals(x * 2.0)):
        step = tapegrad.compile(fn)
        with pytest.raises(TraceError, match="tapegrad.compile does not record linalg"):
            for _ in range(3):  # the first calls run eagerly; a later one traces
                step(tapegrad.eye(3))


def test_empty_matrices() -> None:
    for shape in [(0, 3, 3), (3, 0, 0), (0, 2)]:
        A = tapegrad.zeros(shape)
        U, S, Vh = linalg.svd(A)
        assert tuple(S.shape) == shape[:-2] + (min(shape[-2:]),)
        assert tuple(linalg.qr(A).R.shape) == shape[:-2] + (min(shape[-2:]), shape[-1])
        if shape[-1] == shape[-2]:
            assert tuple(linalg.eigvalsh(A).shape) == shape[:-1]
            assert tuple(linalg.matrix_exp(A).shape) == shape
        assert tuple(linalg.pinv(A).shape) == shape[:-2] + (shape[-1], shape[-2])


def test_norm_of_matrices_needs_two_dims() -> None:
    x = tapegrad.ones(2, 3, 4)
    for call in (lambda: x.norm(p="nuc"), lambda: tapegrad.norm(x, p="fro", dim=(0, 1, 2))):
        with pytest.raises(RuntimeError, match="linalg.matrix_norm: dim must be a 2-tuple. Got 0 1 2"):
            call()

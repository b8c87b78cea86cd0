"""adaptive_max_pool1d/2d and their modules: gradients by finite differences (float64), values,
indices and gradients against PyTorch (ties, NaN, overlapping windows, more cells than
positions, empty batches), module reprs and PyTorch's errors; the same for adaptive_avg_pool3d
(and interpolate's 5-D area mode)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.autograd import gradcheck, gradgradcheck


def _data(shape: tuple[int, ...], seed: int, ties: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-2, 3, shape).astype(np.float64) if ties else rng.standard_normal(shape)


@pytest.mark.parametrize("size", [(2, 3), (5, 7), (3, None), 4, (7, 2)])
def test_adaptive_max_pool2d_gradcheck(size: Any) -> None:
    x = tapegrad.tensor(_data((2, 5, 7), 1), requires_grad=True)
    assert gradcheck(lambda x: F.adaptive_max_pool2d(x, size), (x,))
    assert gradgradcheck(lambda x: F.adaptive_max_pool2d(x, size), (x,))


def test_adaptive_max_pool1d_gradcheck() -> None:
    x = tapegrad.tensor(_data((2, 3, 7), 2), requires_grad=True)
    assert gradcheck(lambda x: F.adaptive_max_pool1d(x, 3), (x,))
    assert gradcheck(lambda x: F.adaptive_max_pool1d(x, 9), (x,))


POOL_CASES: list[tuple[str, tuple[int, ...], Any]] = [
    ("2d", (2, 3, 5, 7), (2, 3)), ("2d_unbatched", (3, 4, 4), (4, 4)), ("2d_more_cells", (1, 2, 5, 3), (7, 2)),
    ("2d_global", (2, 1, 6, 6), 1), ("2d_keep", (1, 1, 5, 5), (3, None)), ("2d_empty_batch", (0, 1, 3, 3), 2),
    ("2d_no_cells", (1, 3, 3), 0), ("1d", (2, 3, 7), 3), ("1d_unbatched", (3, 5), 7),
]


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("name, shape, size", POOL_CASES, ids=[c[0] for c in POOL_CASES])
def test_values_indices_and_gradients_match_torch(name: str, shape: tuple, size: Any, ties: bool, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    data = _data(shape, 3, ties).astype(dtype)
    fn = "adaptive_max_pool1d" if name.startswith("1d") else "adaptive_max_pool2d"
    a, b = tapegrad.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    (values, indices) = getattr(F, fn)(a, size, return_indices=True)
    (expected, expected_indices) = getattr(torch.nn.functional, fn)(b, size, return_indices=True)
    np.testing.assert_array_equal(values.detach().numpy(), expected.detach().numpy())
    np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())
    assert indices.dtype == tapegrad.int64
    weights = _data(tuple(expected.shape), 4).astype(dtype)
    (values * tapegrad.tensor(weights)).sum().backward()
    if name == "2d_no_cells":  # PyTorch's backward refuses an output without cells; no input gets a gradient
        np.testing.assert_array_equal(a.grad.numpy(), np.zeros(shape))
        return
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.torch
def test_nan_is_the_maximum_as_in_torch() -> None:
    torch = pytest.importorskip("torch")
    data = np.array([[[1.0, np.nan, 2.0, -np.inf], [3.0, 3.0, 0.0, -np.inf]]])
    ours = F.adaptive_max_pool2d(tapegrad.tensor(data), (1, 3), return_indices=True)
    theirs = torch.nn.functional.adaptive_max_pool2d(torch.tensor(data), (1, 3), return_indices=True)
    np.testing.assert_array_equal(ours[0].numpy(), theirs[0].numpy())
    np.testing.assert_array_equal(ours[1].numpy(), theirs[1].numpy())


@pytest.mark.torch
def test_modules_match_torch() -> None:
    torch = pytest.importorskip("torch")
    x = _data((2, 3, 6, 5), 5)
    for ours, theirs in ((nn.AdaptiveMaxPool2d((2, None)), torch.nn.AdaptiveMaxPool2d((2, None))),
                         (nn.AdaptiveMaxPool2d(3, return_indices=True), torch.nn.AdaptiveMaxPool2d(3, True)),
                         (nn.AdaptiveMaxPool1d(4), torch.nn.AdaptiveMaxPool1d(4))):
        assert repr(ours) == repr(theirs)
        data = x[0] if isinstance(ours, nn.AdaptiveMaxPool1d) else x
        out, expected = ours(tapegrad.tensor(data)), theirs(torch.tensor(data))
        for got, want in zip(out if isinstance(out, tuple) else (out,),
                             expected if isinstance(expected, tuple) else (expected,)):
            np.testing.assert_array_equal(got.numpy(), want.numpy())


ERRORS: list[tuple[Callable[[Any], Any], type]] = [
    (lambda L: L.nn.functional.adaptive_max_pool2d(L.ones(3, 3), 2), RuntimeError),
    (lambda L: L.nn.functional.adaptive_max_pool2d(L.ones(1, 0, 3), 2), RuntimeError),
    (lambda L: L.nn.functional.adaptive_max_pool2d(L.ones(1, 3, 3), (2, -1)), RuntimeError),
    (lambda L: L.nn.functional.adaptive_max_pool2d(L.ones(1, 3, 3, dtype=L.int64), 2), NotImplementedError),
    (lambda L: L.nn.functional.adaptive_max_pool2d(L.ones(1, 1, 3, 3), (1, 2, 3)), RuntimeError),
    (lambda L: L.nn.functional.adaptive_max_pool2d(L.ones(1, 3, 3), [2, 2, 2]), ValueError),
    (lambda L: L.nn.functional.adaptive_max_pool1d(L.ones(3), 2), RuntimeError),
    (lambda L: L.nn.functional.adaptive_max_pool1d(L.ones(1, 3), (2, 3)), RuntimeError),
    (lambda L: L.nn.functional.adaptive_max_pool1d(L.ones(1, 0), 2), RuntimeError),
    (lambda L: L.nn.functional.adaptive_max_pool1d(L.ones(2, 0, 3), 2), RuntimeError),
    (lambda L: L.nn.functional.adaptive_max_pool1d(L.ones(1, 3), -1), RuntimeError),
    (lambda L: L.nn.functional.adaptive_max_pool1d(L.ones(1, 3, dtype=L.int32), 2), NotImplementedError),
]


@pytest.mark.torch
@pytest.mark.parametrize("call, error", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torch(call: Callable[[Any], Any], error: type) -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(error) as ours:
        call(tapegrad)
    with pytest.raises(error) as theirs:
        call(torch)
    assert str(ours.value) == str(theirs.value)


def test_docstring_examples_run() -> None:
    import doctest

    from tapegrad.nn import conv
    from tapegrad.ops import adaptive_max

    for module in (adaptive_max, conv):
        result = doctest.testmod(module, extraglobs={"tapegrad": tapegrad, "nn": nn, "F": F})
        assert result.attempted and not result.failed, module.__name__


# ================================================================ adaptive average pooling in 3-d

AVG3D: list[tuple[tuple[int, ...], Any]] = [((1, 2, 3, 4, 5), (2, 3, None)), ((2, 3, 5, 4), (3, 2, 5)),
                                            ((1, 1, 4, 4, 4), 1), ((1, 1, 3, 5, 2), (4, 7, 3))]


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, size", AVG3D, ids=[str(c[1]) for c in AVG3D])
def test_adaptive_avg_pool3d_matches_torch(shape: tuple, size: Any, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-13)
    data, upstream = _data(shape, 6).astype(dtype), None
    results = []
    for lib in (tapegrad, torch):
        x = lib.tensor(data, requires_grad=True)
        out = lib.nn.functional.adaptive_avg_pool3d(x, size)
        upstream = _data(tuple(out.shape), 7).astype(dtype) if upstream is None else upstream
        (out * lib.tensor(upstream)).sum().backward()
        results.append((out, x.grad, out.grad_fn.name()))
    (out, grad, name), (expected, expected_grad, expected_name) = results
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), **tol)
    np.testing.assert_allclose(grad.numpy(), expected_grad.numpy(), **tol)
    assert name == expected_name
    if len(shape) == 5:  # interpolate's area mode is the same pooling
        np.testing.assert_allclose(F.interpolate(tapegrad.tensor(data), size=tuple(out.shape[2:]), mode="area").numpy(),
                                   out.detach().numpy(), rtol=1e-12)


def test_adaptive_avg_pool3d_gradcheck_and_module() -> None:
    x = tapegrad.tensor(_data((1, 2, 3, 4, 3), 8), requires_grad=True)
    assert gradcheck(lambda x: F.adaptive_avg_pool3d(x, (2, 3, 4)), (x,))
    assert gradgradcheck(lambda x: F.adaptive_avg_pool3d(x, (2, 1, 2)), (x,))
    pool = nn.AdaptiveAvgPool3d((2, None, 1))
    assert repr(pool) == "AdaptiveAvgPool3d(output_size=(2, None, 1))"
    assert tuple(pool(x).shape) == (1, 2, 2, 4, 1)


AVG3D_ERRORS: list[tuple[Callable[[Any], Any], type]] = [
    (lambda L: L.nn.functional.adaptive_avg_pool3d(L.ones(3, 3, 3), 2), RuntimeError),
    (lambda L: L.nn.functional.adaptive_avg_pool3d(L.ones(1, 1, 3, 3, 3), (1, 2)), RuntimeError),
    (lambda L: L.nn.functional.adaptive_avg_pool3d(L.ones(1, 0, 3, 3, 3), 2), RuntimeError),
    (lambda L: L.nn.functional.adaptive_avg_pool3d(L.ones(1, 1, 3, 3, 3, dtype=L.int64), 2), NotImplementedError),
    (lambda L: L.nn.functional.adaptive_avg_pool3d(L.ones(1, 1, 3, 3, 3), -1), RuntimeError),
]


@pytest.mark.torch
@pytest.mark.parametrize("call, error", AVG3D_ERRORS, ids=range(len(AVG3D_ERRORS)))
def test_adaptive_avg_pool3d_errors_match_torch(call: Callable[[Any], Any], error: type) -> None:
    test_errors_match_torch(call, error)

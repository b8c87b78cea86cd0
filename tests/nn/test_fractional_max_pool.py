"""Fractional max pooling, functions and modules: values, indices, gradients and grad_fn names
against PyTorch (the same seed draws the same windows), window starts in float32 and float64,
ties and NaNs, empty shapes, finite differences and PyTorch's errors."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from torch_errors import raises_as_torch

import tapegrad
import tapegrad.nn.functional as F
from tapegrad import nn
from tapegrad.autograd import gradcheck, gradgradcheck
from tapegrad.ops.fractional_pool import _intervals

NAN, INF = float("nan"), float("inf")


def _data(shape: tuple[int, ...], seed: int, dtype: Any = np.float64) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _ties(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Small integers (many equal maxima), NaNs, infinities and a plane corner of -inf."""
    x = np.random.default_rng(seed).integers(-2, 3, shape).astype(np.float64)
    flat = x.reshape(-1)
    flat[[1, 7, 8, 30, 31, 50]] = NAN
    flat[[3, 12, 60, 61, 62, 63]] = -INF
    flat[20] = INF
    return x


def _compare(fn: Callable[..., Any], array: np.ndarray, seed: int | None = 0) -> None:
    """``fn(lib, input)`` in both libraries after ``manual_seed(seed)``: equal shapes, values,
    indices (where it returns a pair), grad_fn names and input gradients, and (when seeded) the
    generators left at the same place."""
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tapegrad, torch):
        if seed is not None:
            lib.manual_seed(seed)
        x = lib.tensor(array, requires_grad=True)
        out = fn(lib, x)
        outs = list(out) if isinstance(out, tuple) else [out]
        (outs[0] * lib.tensor(_data(tuple(outs[0].shape), 9, array.dtype))).sum().backward()
        after = [lib.rand(3, dtype=lib.float64).numpy()] if seed is not None else []
        results.append([outs[0].grad_fn.name(), *[o.detach().numpy() for o in outs], x.grad.numpy(), *after])
    ours, theirs = results
    assert ours[0] == theirs[0]
    for a, b in zip(ours[1:], theirs[1:], strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)  # the same elements are chosen: exact, NaNs included


POOL2D = [((2, 3, 9, 11), 2, {"output_size": (4, 5)}), ((2, 3, 9, 11), (3, 2), {"output_size": 5}),
          ((3, 17, 13), 3, {"output_size": (6, 4)}), ((2, 2, 10, 7), 2, {"output_ratio": (0.5, 0.7)}),
          ((4, 8, 8), (1, 2), {"output_size": (8, 7)}), ((1, 2, 6, 6), 2, {"output_size": 1})]
POOL3D = [((2, 2, 7, 9, 8), 2, {"output_size": (3, 4, 2)}), ((2, 5, 6, 7), (1, 2, 3), {"output_size": (2, 3, 3)}),
          ((1, 2, 8, 6, 9), (2, 1, 2), {"output_ratio": 0.5}), ((3, 4, 4, 5), 2, {"output_ratio": (0.7, 0.5, 0.5)})]


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape, kernel, options", POOL2D, ids=str)
def test_fractional_max_pool2d_draws_and_pools_as_torch(shape: tuple[int, ...], kernel: Any, options: dict,
                                                        dtype: Any) -> None:
    x = _data(shape, 1, dtype)
    _compare(lambda L, x: L.nn.functional.fractional_max_pool2d(x, kernel, return_indices=True, **options), x)
    _compare(lambda L, x: L.nn.functional.fractional_max_pool2d(x, kernel, **options), x, seed=5)
    _compare(lambda L, x: L.nn.functional.fractional_max_pool2d_with_indices(x, kernel, **options), x, seed=6)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape, kernel, options", POOL3D, ids=str)
def test_fractional_max_pool3d_draws_and_pools_as_torch(shape: tuple[int, ...], kernel: Any, options: dict,
                                                        dtype: Any) -> None:
    x = _data(shape, 2, dtype)
    _compare(lambda L, x: L.nn.functional.fractional_max_pool3d(x, kernel, return_indices=True, **options), x)
    _compare(lambda L, x: L.nn.functional.fractional_max_pool3d(x, kernel, **options), x, seed=5)
    _compare(lambda L, x: L.nn.functional.fractional_max_pool3d_with_indices(x, kernel, **options), x, seed=6)


@pytest.mark.torch
def test_given_samples_place_the_windows_as_in_torch() -> None:
    """Samples of every kind, with more rows than the batch, for batched and unbatched inputs;
    samples outside [0, 1) too, which PyTorch takes without a check."""
    rng = np.random.default_rng(3)
    for samples in (rng.random((4, 3, 2)), np.zeros((2, 3, 2)), np.full((2, 3, 2), 0.999999), np.full((2, 3, 2), 1.5),
                    np.full((2, 3, 2), -0.5)):
        def fn(L: Any, x: Any, samples: np.ndarray = samples) -> Any:
            return L.nn.functional.fractional_max_pool2d(x, (2, 3), (5, 4), return_indices=True,
                                                         _random_samples=L.tensor(samples))
        _compare(fn, _data((2, 3, 9, 8), 4), seed=None)
        _compare(fn, _data((3, 9, 8), 5), seed=None)
    samples = rng.random((3, 2, 3))
    _compare(lambda L, x: L.nn.functional.fractional_max_pool3d(x, (2, 1, 2), (3, 5, 2), return_indices=True,
                                                                _random_samples=L.tensor(samples)),
             _data((2, 2, 5, 6, 4), 6), seed=None)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("size, cells, sample", [(17, 14, 0.1333332359790802), (21, 18, 0.8421044945716858),
                                                 (25, 13, 0.6956522464752197)])
def test_window_starts_follow_the_float_type_of_the_input(size: int, cells: int, sample: float, dtype: Any) -> None:
    """For these samples the starts in float32 and in float64 differ; each dtype must give the
    starts PyTorch computes in that dtype."""
    u32 = np.array([sample], np.float32)
    assert not np.array_equal(_intervals(u32, size, cells, 2), _intervals(u32.astype(np.float64), size, cells, 2))
    samples = np.array([[[sample, 0.5]]], dtype)
    x = np.tile(np.arange(size, dtype=dtype), (1, size, 1))  # each row counts its columns up
    _compare(lambda L, x: L.nn.functional.fractional_max_pool2d(x, (1, 2), (1, cells), return_indices=True,
                                                                _random_samples=L.tensor(samples)), x, seed=None)
    samples3 = np.array([[[0.5, 0.5, sample]]], dtype)
    _compare(lambda L, x: L.nn.functional.fractional_max_pool3d(x, (1, 1, 2), (1, 1, cells), return_indices=True,
                                                                _random_samples=L.tensor(samples3)),
             np.tile(x, (1, 2, 1, 1)), seed=None)  # PyTorch's 3-d output must be smaller than the input


@pytest.mark.torch
def test_ties_nans_and_infinities_choose_the_element_torch_chooses() -> None:
    x = _ties((2, 3, 9, 8), 7)
    for seed in range(3):
        _compare(lambda L, x: L.nn.functional.fractional_max_pool2d(x, (2, 3), (5, 4), return_indices=True), x, seed)
    _compare(lambda L, x: L.nn.functional.fractional_max_pool3d(x.reshape(1, 3, 4, 4, 9), 2, (2, 2, 4),
                                                                return_indices=True), x)
    all_minus_inf = np.full((1, 2, 5, 5), -INF)  # PyTorch reports each window's first position
    _compare(lambda L, x: L.nn.functional.fractional_max_pool2d(x, 2, 3, return_indices=True), all_minus_inf)


@pytest.mark.torch
def test_empty_batches_and_empty_outputs_match_torch() -> None:
    _compare(lambda L, x: L.nn.functional.fractional_max_pool2d(x, 2, (3, 2), return_indices=True),
             np.zeros((0, 3, 7, 6)))
    _compare(lambda L, x: L.nn.functional.fractional_max_pool2d(x, 2, (0, 2), return_indices=True),
             _data((2, 3, 7, 6), 1))
    _compare(lambda L, x: L.nn.functional.fractional_max_pool3d(x, 2, (0, 2, 1), return_indices=True),
             _data((3, 5, 7, 6), 1))
    _compare(lambda L, x: L.nn.functional.fractional_max_pool3d(x, 2, (2, 2, 1), return_indices=True),
             np.zeros((0, 3, 5, 7, 6)))


def test_gradients_pass_finite_difference_checks() -> None:
    samples2 = tapegrad.tensor(np.random.default_rng(0).random((2, 2, 2)))
    samples3 = tapegrad.tensor(np.random.default_rng(1).random((1, 2, 3)))
    x2 = tapegrad.tensor(_data((2, 2, 7, 6), 3), requires_grad=True)
    x3 = tapegrad.tensor(_data((2, 5, 4, 6), 4), requires_grad=True)

    def pool2d(x: tapegrad.Tensor) -> tapegrad.Tensor:
        return F.fractional_max_pool2d(x, (2, 3), (4, 3), _random_samples=samples2)

    def pool3d(x: tapegrad.Tensor) -> tapegrad.Tensor:
        return F.fractional_max_pool3d(x, 2, (3, 2, 3), _random_samples=samples3)

    for fn, x in ((pool2d, x2), (pool3d, x3)):
        assert gradcheck(fn, (x,))
        assert gradgradcheck(fn, (x,))


def test_overlapping_windows_add_up_their_gradients() -> None:
    """A kernel wider than the step makes windows share their maximum: its gradient is the sum."""
    x = tapegrad.tensor([[[0., 0., 0., 0., 0.], [0., 0., 9., 0., 0.], [0., 0., 0., 0., 0.]]], requires_grad=True)
    out = F.fractional_max_pool2d(x, (3, 3), (1, 3), _random_samples=tapegrad.tensor([[[0.5, 0.5]]]).float())
    assert out.tolist() == [[[9.0, 9.0, 9.0]]]
    out.sum().backward()
    assert x.grad[0, 1, 2].item() == 3.0 and x.grad.sum().item() == 3.0


@pytest.mark.torch
@pytest.mark.parametrize("dims", [2, 3])
def test_modules_match_torch(dims: int) -> None:
    torch = pytest.importorskip("torch")
    name = f"FractionalMaxPool{dims}d"
    shape = (2, 3, 9, 8) if dims == 2 else (2, 3, 6, 7, 8)
    x = _data(shape, 8)
    _compare(lambda L, x: getattr(L.nn, name)(2, output_ratio=0.5, return_indices=True)(x), x)
    _compare(lambda L, x: getattr(L.nn, name)((2,) * dims, output_size=(4,) * dims)(x), x, seed=3)
    samples = np.random.default_rng(2).random((2, 3, dims))
    _compare(lambda L, x: getattr(L.nn, name)(3, output_size=3, _random_samples=L.tensor(samples))(x), x, seed=None)
    ours, theirs = getattr(nn, name)(3, output_ratio=0.5), getattr(torch.nn, name)(3, output_ratio=0.5)
    assert repr(ours) == repr(theirs)
    for attribute in ("kernel_size", "output_size", "output_ratio", "return_indices"):
        assert getattr(ours, attribute) == getattr(theirs, attribute)
    assert ours.state_dict() == {} and list(ours.buffers()) == []
    given = getattr(nn, name)(3, output_size=2, _random_samples=tapegrad.tensor(samples))
    assert list(given.state_dict()) == ["_random_samples"]


def test_a_compiled_step_refuses_fractional_pooling() -> None:
    from tapegrad.compiler.trace import TraceError

    samples = tapegrad.rand(1, 2, 2)

    @tapegrad.compile
    def step(x: tapegrad.Tensor) -> tapegrad.Tensor:
        return F.fractional_max_pool2d(x, 2, 2, _random_samples=samples).sum()

    x = tapegrad.randn(1, 2, 5, 5, requires_grad=True)
    step(x)  # the first call runs eagerly
    with pytest.raises(TraceError, match="fractional_max_pool2d"):
        step(x)


X2, X3 = _data((2, 3, 7, 6), 0), _data((2, 3, 5, 7, 6), 0)


def _pool2d(L: Any, x: np.ndarray = X2, *args: Any, **kwargs: Any) -> Any:
    return L.nn.functional.fractional_max_pool2d(L.tensor(x), *args, **kwargs)


def _pool3d(L: Any, x: np.ndarray = X3, *args: Any, **kwargs: Any) -> Any:
    return L.nn.functional.fractional_max_pool3d(L.tensor(x), *args, **kwargs)


ERRORS: list[Callable[[Any], Any]] = [
    lambda L: _pool2d(L, X2, 2),
    lambda L: _pool2d(L, X2, 2, output_ratio=0.5),  # PyTorch's len() of a float ratio
    lambda L: _pool2d(L, X2, 2, output_ratio=(0.5, 0.5, 0.5)),
    lambda L: _pool2d(L, X2, 2, output_ratio=(0.5,)),
    lambda L: _pool2d(L, X2, 2, output_ratio=(1.5, 0.5)),
    lambda L: _pool2d(L, X2, 2, output_size=7),
    lambda L: _pool2d(L, X2, 2, output_size=(6, 6)),
    lambda L: _pool2d(L, X2, 2, output_size=(6, 5, 3)),
    lambda L: _pool2d(L, X2, 2, output_size=[3]),
    lambda L: _pool2d(L, X2, (2, 2, 2), output_size=(6, 5)),
    lambda L: _pool2d(L, X2, 2, output_size=(-1, 5)),
    lambda L: _pool2d(L, X2, 2.5, output_size=2),
    lambda L: _pool2d(L, X2, 2, output_size=2.5),
    lambda L: _pool2d(L, X2[0, 0], 2, output_size=2),
    lambda L: _pool2d(L, X2[0, 0, 0], 2, output_ratio=(0.5, 0.5)),
    lambda L: _pool2d(L, X2[None], 2, output_size=2),
    lambda L: _pool2d(L, X2[:, :0], 2, output_size=2),
    lambda L: L.nn.functional.fractional_max_pool2d(L.tensor(X2).long(), 2, 2),
    lambda L: L.nn.functional.fractional_max_pool2d(L.tensor(X2).long(), 2, 2,
                                                    _random_samples=L.zeros(2, 3, 2, dtype=L.int64)),
    lambda L: _pool2d(L, X2, 2, 2, _random_samples=L.rand(2, 3, 2)),
    lambda L: _pool2d(L, X2, 2, 2, _random_samples=L.rand(2, 3, dtype=L.float64)),
    lambda L: _pool2d(L, X2, 2, 2, _random_samples=L.rand(1, 3, 2, dtype=L.float64)),
    lambda L: _pool2d(L, X2, 2, 2, _random_samples=L.rand(2, 2, 2, dtype=L.float64)),
    lambda L: _pool2d(L, X2, 2, 2, _random_samples=L.rand(2, 3, 3, dtype=L.float64)),
    lambda L: _pool2d(L, X2[0], 2, 2, _random_samples=L.rand(1, 2, 2, dtype=L.float64)),
    lambda L: _pool3d(L, X3, 2),
    lambda L: _pool3d(L, X3, 2, output_ratio=(0.5, 0.5)),
    lambda L: _pool3d(L, X3, 2, output_size=(4, 2, 2)),  # 3-d wants output + kernel - 1 < input
    lambda L: _pool3d(L, X3, 2, output_size=(3, 6, 5)),
    lambda L: _pool3d(L, X3, 2, output_size=(3, 6, 4)),
    lambda L: _pool3d(L, X3, (6, 1, 1), output_size=(0, 2, 2)),
    lambda L: _pool3d(L, X3, 2, output_size=(3, 2)),
    lambda L: _pool3d(L, X3, (2, 2), output_size=(3, 2, 2)),
    lambda L: _pool3d(L, X3, 2, output_size=(-1, 2, 2)),
    lambda L: _pool3d(L, X3[0, 0], 2, output_size=2),
    lambda L: _pool3d(L, X3[None], 2, output_size=2),
    lambda L: _pool3d(L, X3[:, :, :0], 2, output_size=2),
    lambda L: _pool3d(L, X3, 2, output_size=2, _random_samples=L.rand(2, 3, 2, dtype=L.float64)),
    lambda L: L.nn.FractionalMaxPool2d(2),
    lambda L: L.nn.FractionalMaxPool2d(2, output_size=2, output_ratio=0.5),
    lambda L: L.nn.FractionalMaxPool2d(2, output_ratio=(0.5, 1.0)),
    lambda L: L.nn.FractionalMaxPool2d(2, output_ratio=(0.5,)),
    lambda L: L.nn.FractionalMaxPool3d(2),
    lambda L: L.nn.FractionalMaxPool3d((2, 0, 2), output_size=2),
    lambda L: L.nn.FractionalMaxPool3d(0, output_size=2),
    lambda L: L.nn.FractionalMaxPool3d(2, output_ratio=(0.5, 0.5, 0)),
]


@pytest.mark.torch
@pytest.mark.parametrize("call", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torch(call: Callable[[Any], Any]) -> None:
    raises_as_torch(call)


def test_a_kernel_size_below_one_is_refused() -> None:
    """PyTorch 2.13 pools such a kernel into -inf with positions outside the input; its later
    versions refuse it with this message."""
    with pytest.raises(RuntimeError, match=r"kernel size should be greater than zero, but got 0x2"):
        F.fractional_max_pool2d(tapegrad.tensor(X2), (0, 2), 2)
    with pytest.raises(RuntimeError, match=r"kernel size should be greater than zero, but got 2x2x-1"):
        F.fractional_max_pool3d(tapegrad.tensor(X3), (2, 2, -1), 2)


def test_docstring_examples_run() -> None:
    import doctest

    from tapegrad.ops import fractional_pool

    result = doctest.testmod(fractional_pool, extraglobs={"tapegrad": tapegrad, "nn": nn, "F": F})
    assert result.attempted and not result.failed

"""``F.affine_grid`` and ``F.grid_sample``: values and gradients against PyTorch (float64) for every
mode, padding mode and ``align_corners``, 4-D and 5-D, on grids with points outside [-1, 1] and
exactly on pixel centres, pixel edges and borders (where PyTorch's clipping zeroes the grid's
gradient); second derivatives; finite differences; grad_fn names; the ``align_corners`` warning;
PyTorch's errors."""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as F
from tapegrad.autograd import gradcheck, gradgradcheck
from torch_errors import raises_as_torch

MODES = ["bilinear", "nearest", "bicubic"]
PADDINGS = ["zeros", "border", "reflection"]
INPUT_SHAPES = {2: (2, 2, 3, 4), 3: (2, 2, 2, 3, 4)}
GRID_SHAPES = {2: (2, 4, 5), 3: (2, 2, 3, 4)}


def _normalized(positions: np.ndarray, size: int, align_corners: bool) -> np.ndarray:
    """Grid coordinates of pixel ``positions`` along a dim of ``size`` (grid_sample's inverse map)."""
    if align_corners:
        return positions * 2.0 / max(size - 1, 1) - 1.0
    return (positions * 2.0 + 1.0) / size - 1.0


def _special(size: int, align_corners: bool) -> np.ndarray:
    """Grid coordinates where sampling has kinks: pixel centres, half-way points (nearest's ties),
    the corner pixels' outer edges, one round trip of reflection away, and -1, 1 themselves."""
    positions = np.concatenate([np.arange(-2, size + 2), np.arange(-2, size + 2) + 0.5, [2 * size - 0.5, -size - 1.0]])
    return np.concatenate([_normalized(positions, size, align_corners), [-1.0, 1.0, 0.0]])


def _grid(dims: int, align_corners: bool, seed: int) -> np.ndarray:
    """A grid for ``INPUT_SHAPES[dims]``: about half its coordinates at kinks (each component's
    own), the rest uniform in [-2.5, 2.5] (outside the input too)."""
    rng = np.random.default_rng(seed)
    shape = GRID_SHAPES[dims] + (dims,)
    grid = rng.uniform(-2.5, 2.5, shape)
    for component in range(dims):
        size = INPUT_SHAPES[dims][-1 - component]  # x reads the last dim
        special = _special(size, align_corners)
        picks = rng.random(shape[:-1]) < 0.5
        grid[..., component][picks] = rng.choice(special, int(picks.sum()))
    return grid


def _data(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _both(fn: Callable[..., Any], arrays: list[np.ndarray], dtype: str = "float64") -> list[list[Any]]:
    """``fn(lib, *tensors)`` in tapegrad and PyTorch: [output, gradient of each input] for a
    random output gradient, and the output's grad_fn name."""
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tapegrad, torch):
        inputs = [lib.tensor(a, dtype=getattr(lib, dtype), requires_grad=True) for a in arrays]
        out = fn(lib, *inputs)
        seed = lib.tensor(_data(tuple(out.shape), 9), dtype=getattr(lib, dtype))
        (out * seed).sum().backward()
        results.append([out.detach().numpy(), *[x.grad.numpy() for x in inputs], out.grad_fn.name()])
    return results


def _assert_same(results: list[list[Any]], rtol: float = 1e-10, atol: float = 1e-12) -> None:
    ours, theirs = results
    assert ours[-1] == theirs[-1]  # grad_fn names
    for k, (a, b) in enumerate(zip(ours[:-1], theirs[:-1], strict=True)):
        assert a.dtype == b.dtype and a.shape == b.shape, (k, a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"result {k} (0: values, 1: input, 2: grid)")


def _cases() -> list[Any]:
    return [pytest.param(mode, padding, align, dims, id=f"{mode}-{padding}-{'align' if align else 'edges'}-{dims + 2}d")
            for dims in (2, 3) for mode in MODES for padding in PADDINGS for align in (True, False)
            if not (mode == "bicubic" and dims == 3)]


@pytest.mark.torch
@pytest.mark.parametrize("mode, padding_mode, align_corners, dims", _cases())
def test_grid_sample_values_and_gradients_match_torch(mode: str, padding_mode: str, align_corners: bool,
                                                      dims: int) -> None:
    arrays = [_data(INPUT_SHAPES[dims], 1), _grid(dims, align_corners, 2)]
    results = _both(lambda L, x, g: L.nn.functional.grid_sample(x, g, mode, padding_mode, align_corners), arrays)
    _assert_same(results)
    if mode == "nearest":  # PyTorch's gradient to the grid is zeros (and ours is not None)
        assert not results[0][2].any()


@pytest.mark.torch
@pytest.mark.parametrize("mode, dims", [("bilinear", 2), ("nearest", 2), ("bicubic", 2), ("bilinear", 3)])
@pytest.mark.parametrize("padding_mode", PADDINGS)
def test_non_finite_input_values_reach_only_the_points_that_read_them(mode: str, dims: int,
                                                                      padding_mode: str) -> None:
    # Neighbours outside the input (a linear upper neighbour on the far border, with every padding
    # mode) read 0 in PyTorch, not some input value times a zero weight: NaN * 0 would be NaN.
    x = _data(INPUT_SHAPES[dims], 15)
    x.reshape(-1)[::5] = np.nan
    _assert_same(_both(lambda L, x, g: L.nn.functional.grid_sample(x, g, mode, padding_mode, True),
                       [x, _grid(dims, True, 16)]))


@pytest.mark.torch
@pytest.mark.parametrize("mode", MODES)
def test_float32_matches_torch(mode: str) -> None:
    arrays = [_data((1, 3, 4, 3), 3), _grid(2, False, 4)[:1, :, :3] * 0.7]
    _assert_same(_both(lambda L, x, g: L.nn.functional.grid_sample(x, g, mode, "border", False), arrays, "float32"),
                 rtol=2e-5, atol=2e-5)


@pytest.mark.torch
@pytest.mark.parametrize("mode, dims", [("bilinear", 2), ("bicubic", 2), ("bilinear", 3), ("nearest", 3)])
def test_second_derivatives_match_torch(mode: str, dims: int) -> None:
    # The gradient of a function of the first gradients, with respect to the input and to the grid.
    torch = pytest.importorskip("torch")
    x_data = _data((1, 2) + (3,) * dims, 5)
    grid_data = np.random.default_rng(6).uniform(-1.3, 1.3, (1, 2, 3) + (1,) * (dims - 2) + (dims,))
    results = []
    for lib in (tapegrad, torch):
        x, grid = lib.tensor(x_data, requires_grad=True), lib.tensor(grid_data, requires_grad=True)
        out = lib.nn.functional.grid_sample(x, grid, mode=mode, padding_mode="reflection", align_corners=False)
        first = lib.autograd.grad((out * out).sum(), (x, grid), create_graph=True)
        total = sum((g * g).sum() for g in first if g.requires_grad)
        second = lib.autograd.grad(total, (x, grid), allow_unused=True)
        results.append([g.numpy() if g is not None else np.zeros_like(t.detach().numpy())
                        for g, t in zip(second, (x, grid))])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-11)


def _smooth_grid(shape: tuple[int, ...], sizes: tuple[int, ...], align_corners: bool, seed: int) -> np.ndarray:
    """Grid points at least 0.1 pixel from integer and half-integer positions (kinks of every mode
    and padding), inside and outside the input."""
    rng = np.random.default_rng(seed)
    grid = np.empty(shape + (len(sizes),))
    for component, size in enumerate(sizes):
        whole = rng.integers(-2, size + 2, shape)
        part = rng.uniform(0.1, 0.4, shape) + 0.5 * rng.integers(0, 2, shape)
        grid[..., component] = _normalized(whole + part, size, align_corners)
    return grid


@pytest.mark.parametrize("mode, padding_mode, align_corners, dims",
                         [("bilinear", "zeros", False, 2), ("bicubic", "reflection", True, 2),
                          ("bicubic", "border", False, 2), ("bilinear", "reflection", False, 3),
                          ("nearest", "border", True, 3)], ids=str)
def test_gradcheck_and_gradgradcheck(mode: str, padding_mode: str, align_corners: bool, dims: int) -> None:
    spatial = (3, 4) if dims == 2 else (2, 3, 3)
    x = tapegrad.tensor(_data((1, 2) + spatial, 7), requires_grad=True)
    grid = tapegrad.tensor(_smooth_grid((1, 2, 3) + (1,) * (dims - 2), spatial[::-1], align_corners, 8),
                           requires_grad=True)

    def sample(x: Any, grid: Any) -> Any:
        return F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)

    assert gradcheck(sample, (x, grid))
    assert gradgradcheck(sample, (x, grid))


@pytest.mark.torch
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (1, 2, 1, 3), (2, 1, 3, 2, 4), (1, 1, 2, 1, 3)], ids=str)
@pytest.mark.parametrize("align_corners", [True, False])
def test_affine_grid_values_and_theta_gradients_match_torch(size: tuple[int, ...], align_corners: bool) -> None:
    dims = len(size) - 2
    theta = _data((size[0], dims, dims + 1), 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unit sizes with align_corners warn (tested below)
        _assert_same(_both(lambda L, t: L.nn.functional.affine_grid(t, size, align_corners), [theta]),
                     rtol=1e-12, atol=1e-14)


@pytest.mark.torch
@pytest.mark.parametrize("dims", [2, 3])
def test_affine_grid_feeds_grid_sample_as_in_torch(dims: int) -> None:
    # A spatial transformer: the gradient reaches theta through the grid.
    shape = INPUT_SHAPES[dims]

    def transform(L: Any, x: Any, theta: Any) -> Any:
        grid = L.nn.functional.affine_grid(theta, shape[:2] + tuple(s + 1 for s in shape[2:]), align_corners=False)
        return L.nn.functional.grid_sample(x, grid, padding_mode="border", align_corners=False)

    theta = np.eye(dims, dims + 1)[None] + 0.3 * _data((2, dims, dims + 1), 11)
    _assert_same(_both(transform, [_data(shape, 12), theta]))


@pytest.mark.torch
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("input_shape, grid_shape", [((0, 2, 3, 4), (0, 2, 2, 2)), ((2, 0, 3, 4), (2, 2, 2, 2)),
                                                     ((2, 3, 3, 4), (2, 0, 2, 2))], ids=str)
def test_empty_batch_channels_and_grids(mode: str, input_shape: tuple, grid_shape: tuple) -> None:
    _assert_same(_both(lambda L, x, g: L.nn.functional.grid_sample(x, g, mode, align_corners=False),
                       [_data(input_shape, 13), _data(grid_shape, 14)]))


def _warnings_of(call: Callable[[Any], Any], lib: Any) -> list[tuple[type, str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(lib)
    return [(w.category, str(w.message)) for w in caught]


@pytest.mark.torch
@pytest.mark.parametrize("call", [
    lambda L: L.nn.functional.grid_sample(L.zeros(1, 1, 2, 2), L.zeros(1, 1, 1, 2)),
    lambda L: L.nn.functional.grid_sample(L.zeros(1, 1, 2, 2), L.zeros(1, 1, 1, 2), "bicubic", "reflection"),
    lambda L: L.nn.functional.affine_grid(L.zeros(1, 2, 3), (1, 1, 2, 2)),
    lambda L: L.nn.functional.affine_grid(L.zeros(1, 3, 4), (1, 1, 1, 2, 2), align_corners=True),
    lambda L: L.nn.functional.affine_grid(L.zeros(1, 3, 4), (1, 1, 2, 2, 2), align_corners=False),
    lambda L: L.nn.functional.grid_sample(L.zeros(1, 1, 2, 2), L.zeros(1, 1, 1, 2), align_corners=True),
], ids=["grid_sample", "grid_sample_bicubic", "affine_grid", "affine_grid_unit_size", "affine_grid_quiet",
        "grid_sample_quiet"])
def test_warnings_match_torch(call: Callable[[Any], Any]) -> None:
    torch = pytest.importorskip("torch")
    theirs = _warnings_of(call, torch)
    assert _warnings_of(call, tapegrad) == theirs


def test_the_align_corners_warning_names_the_callers_line() -> None:
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0") as caught:
        F.grid_sample(tapegrad.zeros(1, 1, 2, 2), tapegrad.zeros(1, 1, 1, 2))
    assert caught[0].filename == __file__


def _sample(x: tuple, grid: tuple, *args: Any, x_dtype: str = "float32", grid_dtype: str = "float32",
            **kwargs: Any) -> Callable[[Any], Any]:
    return lambda L: L.nn.functional.grid_sample(L.zeros(x, dtype=getattr(L, x_dtype)),
                                                 L.zeros(grid, dtype=getattr(L, grid_dtype)), *args, **kwargs)


@pytest.mark.torch
@pytest.mark.parametrize("call", [
    _sample((2, 3, 4, 5), (2, 3, 3, 2), mode="bilinea", align_corners=False),
    _sample((2, 3, 4, 5), (2, 3, 3, 2), mode=None, align_corners=False),
    _sample((2, 3, 4, 5), (2, 3, 3, 2), mode="linear", padding_mode="reflect"),
    _sample((2, 3, 4, 5), (2, 3, 3, 2), padding_mode="replicate", align_corners=False),
    _sample((2, 3, 4, 5), (1, 3, 3, 2), align_corners=False),
    _sample((2, 3, 4, 5), (2, 3, 3, 3), align_corners=False),
    _sample((2, 3, 4, 5), (2, 3, 2, 2, 3), align_corners=False),
    _sample((2, 3, 4, 5, 2), (2, 3, 3, 2), align_corners=False),
    _sample((2, 3, 4, 5, 2), (2, 3, 3, 2, 3), mode="bicubic", align_corners=False),
    _sample((2, 3, 4, 5, 1), (2, 3, 4, 5, 2), mode="bicubic", align_corners=False),
    _sample((2, 3, 4, 5, 1), (2, 3, 5, 3), mode="bicubic", align_corners=True),
    _sample((2, 3, 0, 5), (2, 3, 3, 2), align_corners=False),
    _sample((2, 3, 0, 5), (1, 3, 3, 2), align_corners=False),
    _sample((2, 3, 4), (2, 3, 1), align_corners=False),
    _sample((2, 3, 4), (2, 3, 2), align_corners=False),
    _sample((3, 4, 5), (3, 3, 2), align_corners=False),
    _sample((2, 3, 4, 5, 6, 7), (2, 3, 4, 5, 6, 4), align_corners=False),
    _sample((2,), (2,), align_corners=False),
    _sample((), (), align_corners=False),
    _sample((2, 3, 4, 5), (2, 3, 3, 2), x_dtype="float32", grid_dtype="float64", align_corners=False),
    _sample((2, 3, 4, 5, 6), (2, 3, 3, 2, 3), x_dtype="float64", grid_dtype="float32", mode="nearest",
            align_corners=True),
    _sample((2, 3, 4, 5), (2, 3, 3, 2), x_dtype="int64", grid_dtype="int64", align_corners=False),
    _sample((2, 3, 4, 5), (2, 3, 3, 2), x_dtype="int32", grid_dtype="float32", align_corners=False),
    _sample((2, 3, 4, 5, 6), (2, 3, 3, 2, 3), x_dtype="int64", grid_dtype="int64", align_corners=False),
    _sample((2, 3, 4, 5), (2, 3, 3, 2), x_dtype="float32", grid_dtype="int64", align_corners=False),
    _sample((2, 3, 4, 5), (1, 3, 3, 2), x_dtype="int64", grid_dtype="float64", align_corners=False),
    _sample((2, 3, 4, 5), (2, 3, 3, 2), align_corners=1),
    _sample((2, 3, 4, 5), (2, 3, 3, 2), align_corners="yes"),
    lambda L: L.nn.functional.grid_sample(L.zeros(2, 3, 4, 5), [1.0, 2.0], align_corners=False),
    lambda L: L.nn.functional.grid_sample([[1.0]], L.zeros(2, 3, 4, 2), align_corners=False),
], ids=lambda call: "")
def test_grid_sample_errors_match_torch(call: Callable[[Any], Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raises_as_torch(call)


@pytest.mark.torch
@pytest.mark.parametrize("theta, size, align_corners", [
    ((2, 2, 3), (2, 3, 4, 5, 6), False), ((2, 3, 4), (2, 3, 4, 5), False), ((2, 2, 4), (2, 3, 4, 5), False),
    ((2, 3), (2, 3, 4, 5), False), ((2, 3, 3), (2, 3, 4, 5, 6), True), ((2, 2, 3), (2, 3, 4), False),
    ((2, 2, 3), (2, 3, 4, 5, 6, 7), None), ((2, 2, 3), (2, 0, 4, 5), False), ((2, 2, 3), (2, 0, 4, 5), True),
    ((2, 2, 3), (2, 3, 1, 0), True), ((2, 2, 3), (2, 3, -1, 1), True), ((2, 2, 3), (3, 3, 4, 5), False),
    ((2, 3, 4), (1, 3, 4, 5, 6), True), ((2, 2, 3), (2, 3, 4.0, 5), False), ((2, 2, 3), (2, 3, 4, 5), 1),
    ((1, 2, 3), (-1, 3, 1, 1), True), ((0, 2, 3), (2, 3, 1, 2), True),
], ids=str)
def test_affine_grid_errors_match_torch(theta: tuple, size: tuple, align_corners: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raises_as_torch(lambda L: L.nn.functional.affine_grid(L.zeros(theta), size, align_corners))


@pytest.mark.torch
def test_affine_grid_refuses_integer_theta_as_torch() -> None:
    # PyTorch's message names its dtype, which reads tapegrad.int64 here.
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError) as theirs:
        torch.nn.functional.affine_grid(torch.zeros(2, 2, 3, dtype=torch.int64), (2, 3, 4, 5), False)
    with pytest.raises(ValueError) as ours:
        F.affine_grid(tapegrad.zeros(2, 2, 3, dtype=tapegrad.int64), (2, 3, 4, 5), False)
    assert str(ours.value) == str(theirs.value).replace("torch.", "tapegrad.")

"""3-d convolutions and poolings, max unpooling and power-average pooling, functions and modules:
values, indices and gradients against PyTorch (float64), grad_fn names, reprs, initial
parameters, finite differences and PyTorch's errors."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.autograd import gradcheck, gradgradcheck
from torch_errors import raises_as_torch

NAN, INF = float("nan"), float("inf")


def _data(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _ties(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Small integers (many equal maxima), a few NaNs and infinities."""
    x = np.random.default_rng(seed).integers(-2, 3, shape).astype(np.float64)
    flat = x.reshape(-1)
    flat[[1, 7, 8, 30]] = NAN
    flat[[3, 12]] = -INF
    flat[20] = INF
    return x


def _compare(fn: Callable[..., Any], arrays: list[np.ndarray], constants: tuple[np.ndarray, ...] = (),
             same_name: bool = True) -> None:
    """``fn(lib, *tensors, *constants)`` in both libraries: equal grad_fn names (unless not
    ``same_name``), values (and indices, where it returns a pair) and gradients of the floating
    inputs."""
    torch = pytest.importorskip("torch")
    results, names = [], []
    for lib in (tapegrad, torch):
        inputs = [lib.tensor(a, requires_grad=True) for a in arrays]
        out = fn(lib, *inputs, *[lib.tensor(c) for c in constants])
        outs = list(out) if isinstance(out, tuple) else [out]
        (outs[0] * lib.tensor(_data(tuple(outs[0].shape), 9))).sum().backward()
        names.append(outs[0].grad_fn.name())
        results.append([*outs, *[x.grad for x in inputs]])
    assert names[0] == names[1] or not same_name
    for ours, theirs in zip(*results, strict=True):
        assert tuple(ours.shape) == tuple(theirs.shape)
        ours, theirs = ours.detach().numpy(), theirs.detach().numpy()
        if theirs.dtype.kind == "i":
            np.testing.assert_array_equal(ours, theirs)
        else:
            np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12, equal_nan=True)


# ================================================================ convolutions

CONV3D = [dict(), dict(stride=2), dict(stride=(1, 2, 1), padding=(1, 0, 2)), dict(padding=1, dilation=(2, 1, 1)),
          dict(padding="same", dilation=(1, 2, 1)), dict(padding="same"), dict(padding="valid", stride=(2, 1, 1)),
          dict(groups=2, padding=(0, 1, 0)), dict(groups=2, stride=(2, 2, 1), dilation=2, padding=2)]


@pytest.mark.torch
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("options", CONV3D, ids=str)
def test_conv3d_matches_torch(options: dict, bias: bool) -> None:
    groups = options.get("groups", 1)
    arrays = [_data((2, 4, 5, 4, 6), 1), _data((2 * groups, 4 // groups, 2, 3, 2), 2)] + ([_data((2 * groups,), 3)]
                                                                                       if bias else [])
    _compare(lambda L, *a: L.nn.functional.conv3d(*a, **options), arrays)


@pytest.mark.torch
def test_conv3d_of_an_unbatched_input_and_an_empty_batch_match_torch() -> None:
    _compare(lambda L, x, w, b: L.nn.functional.conv3d(x, w, b, padding=(1, 0, 1)),
             [_data((3, 4, 3, 2), 1), _data((2, 3, 3, 2, 2), 2), _data((2,), 3)])
    _compare(lambda L, x, w: L.nn.functional.conv3d(x, w), [_data((0, 3, 4, 3, 2), 1), _data((2, 3, 3, 2, 2), 2)])


CONV_TRANSPOSE3D = [dict(), dict(stride=2), dict(stride=(2, 1, 3), padding=(1, 0, 1), output_padding=(1, 0, 2)),
                    dict(dilation=(2, 1, 2), padding=1), dict(stride=2, dilation=3, output_padding=(2, 1, 0)),
                    dict(groups=2, stride=(1, 2, 1), padding=(0, 1, 0)), dict(stride=3, padding=2)]


@pytest.mark.torch
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("options", CONV_TRANSPOSE3D, ids=str)
def test_conv_transpose3d_matches_torch(options: dict, bias: bool) -> None:
    groups = options.get("groups", 1)
    arrays = [_data((2, 4, 3, 4, 2), 1), _data((4, 3, 3, 2, 2), 2)] + ([_data((3 * groups,), 3)] if bias else [])
    _compare(lambda L, *a: L.nn.functional.conv_transpose3d(*a, **options), arrays)


@pytest.mark.torch
def test_conv_transpose3d_of_an_unbatched_input_matches_torch() -> None:
    _compare(lambda L, x, w, b: L.nn.functional.conv_transpose3d(x, w, b, stride=2, output_padding=1),
             [_data((3, 2, 3, 2), 1), _data((3, 2, 2, 2, 3), 2), _data((2,), 3)])


# ================================================================ poolings

MAX_POOL3D = [dict(kernel_size=2), dict(kernel_size=(3, 2, 2), stride=1, padding=(1, 1, 0)),
              dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
              dict(kernel_size=(2, 3, 2), stride=(1, 2, 2), dilation=(2, 1, 2), padding=(1, 1, 1)),
              dict(kernel_size=(1, 2, 3), stride=(2, 1, 1)), dict(kernel_size=2, stride=(3, 1, 2), ceil_mode=True)]


@pytest.mark.torch
@pytest.mark.parametrize("make", [_data, _ties], ids=["random", "ties_nans_infinities"])
@pytest.mark.parametrize("options", MAX_POOL3D, ids=str)
def test_max_pool3d_values_indices_and_gradient_match_torch(options: dict, make: Callable) -> None:
    _compare(lambda L, x: L.nn.functional.max_pool3d(x, return_indices=True, **options), [make((2, 2, 5, 4, 6), 1)])
    _compare(lambda L, x: L.nn.functional.max_pool3d_with_indices(x, **options), [make((2, 5, 4, 6), 2)])
    _compare(lambda L, x: L.nn.functional.max_pool3d(x, **options), [make((1, 3, 5, 4, 6), 3)])


@pytest.mark.torch
def test_max_pool3d_of_a_window_of_minus_infinities_points_where_torch_does() -> None:
    x = np.full((1, 1, 3, 3, 3), -INF)
    _compare(lambda L, x: L.nn.functional.max_pool3d(x, 2, stride=1, padding=1, return_indices=True), [x])


AVG_POOL3D = [dict(kernel_size=2), dict(kernel_size=(3, 2, 2), stride=1, padding=(1, 1, 0)),
              dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
              dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
              dict(kernel_size=(2, 3, 2), stride=(2, 1, 3), padding=(1, 1, 1), divisor_override=5),
              dict(kernel_size=(2, 1, 3), stride=(3, 1, 2), padding=(1, 0, 1), ceil_mode=True,
                   count_include_pad=False),
              dict(kernel_size=2, stride=(3, 2, 1), ceil_mode=True, divisor_override=-3)]


@pytest.mark.torch
@pytest.mark.parametrize("options", AVG_POOL3D, ids=str)
def test_avg_pool3d_matches_torch(options: dict) -> None:
    _compare(lambda L, x: L.nn.functional.avg_pool3d(x, **options), [_data((2, 2, 5, 4, 6), 1)])
    _compare(lambda L, x: L.nn.functional.avg_pool3d(x, **options), [_data((3, 5, 4, 6), 2)])


@pytest.mark.torch
@pytest.mark.parametrize("make", [_data, _ties], ids=["random", "ties_nans_infinities"])
@pytest.mark.parametrize("size", [2, (3, 4, 5), (5, None, 2), (4, 1, 7), 1], ids=str)
def test_adaptive_max_pool3d_matches_torch(size: Any, make: Callable) -> None:
    _compare(lambda L, x: L.nn.functional.adaptive_max_pool3d(x, size, return_indices=True), [make((2, 2, 5, 4, 6), 1)])
    _compare(lambda L, x: L.nn.functional.adaptive_max_pool3d_with_indices(x, size), [make((2, 5, 4, 6), 2)])
    _compare(lambda L, x: L.nn.functional.adaptive_max_pool3d(x, size), [make((1, 3, 5, 4, 6), 3)])


@pytest.mark.torch
def test_the_1d_and_2d_with_indices_functions_match_torch() -> None:
    _compare(lambda L, x: L.nn.functional.max_pool1d_with_indices(x, 3, 2, 1), [_data((2, 3, 7), 1)])
    _compare(lambda L, x: L.nn.functional.max_pool2d_with_indices(x, (2, 3), ceil_mode=True), [_data((2, 5, 7), 2)])
    # (tapegrad's adaptive 1-d and 2-d max poolings name their step MaxBackward0)
    _compare(lambda L, x: L.nn.functional.adaptive_max_pool1d_with_indices(x, 3), [_data((2, 3, 7), 3)],
             same_name=False)
    _compare(lambda L, x: L.nn.functional.adaptive_max_pool2d_with_indices(x, (2, 3)), [_data((2, 5, 7), 4)],
             same_name=False)


# ================================================================ max unpooling

def _pooled(dims: int, shape: tuple[int, ...], options: dict) -> tuple[np.ndarray, np.ndarray]:
    """Indices of PyTorch's max pooling of random data, and other values to unpool with them."""
    torch = pytest.importorskip("torch")
    pool = getattr(torch.nn.functional, f"max_pool{dims}d")
    _, indices = pool(torch.tensor(_data(shape, 5)), return_indices=True, **options)
    return _data(tuple(indices.shape), 6), indices.numpy()


UNPOOL = [(1, (2, 3, 9), dict(kernel_size=2), {}), (1, (3, 8), dict(kernel_size=3, stride=2, padding=1), {}),
          (1, (2, 3, 9), dict(kernel_size=2), dict(output_size=[2, 3, 9])),
          (2, (2, 3, 5, 6), dict(kernel_size=2), {}), (2, (3, 5, 6), dict(kernel_size=(2, 3), stride=1), {}),
          (2, (2, 3, 5, 6), dict(kernel_size=3, stride=1, padding=1), {}),  # overlapping windows: repeated indices
          (2, (2, 3, 5, 7), dict(kernel_size=2), dict(output_size=(5, 7))),
          (3, (2, 2, 5, 4, 6), dict(kernel_size=2), {}), (3, (2, 5, 4, 6), dict(kernel_size=(3, 2, 2), stride=1), {}),
          (3, (1, 2, 5, 4, 7), dict(kernel_size=2), dict(output_size=(1, 2, 5, 5, 7)))]


@pytest.mark.torch
@pytest.mark.parametrize("dims, shape, pool, extra", UNPOOL, ids=str)
def test_max_unpool_matches_torch(dims: int, shape: tuple, pool: dict, extra: dict) -> None:
    values, indices = _pooled(dims, shape, pool)
    _compare(lambda L, v, i: getattr(L.nn.functional, f"max_unpool{dims}d")(v, i, **pool, **extra), [values],
             (indices,))


# ================================================================ power-average pooling

LP_POOL = [(1, 2, 3, None, False), (1, 3, 2, 1, True), (1, INF, 3, 2, False),
           (2, 2, (2, 3), None, False), (2, 1.5, 2, (1, 2), True), (2, -INF, 2, 1, False),
           (3, 2, 2, None, False), (3, 3, (2, 1, 3), (1, 2, 1), True), (3, INF, 2, 1, False),
           (3, 1, (3, 2, 2), 2, True)]


@pytest.mark.torch
@pytest.mark.parametrize("dims, p, kernel, stride, ceil_mode", LP_POOL, ids=str)
def test_lp_pool_matches_torch(dims: int, p: float, kernel: Any, stride: Any, ceil_mode: bool) -> None:
    shape = (2, 3, 5, 4, 6)[-dims - 2:]
    x = np.abs(_data(shape, 1)) + 0.1 if p != 3 else _data(shape, 1)  # an odd power of negatives: NaN as in PyTorch
    _compare(lambda L, x: getattr(L.nn.functional, f"lp_pool{dims}d")(x, p, kernel, stride, ceil_mode), [x])
    _compare(lambda L, x: getattr(L.nn.functional, f"lp_pool{dims}d")(x, p, kernel, stride, ceil_mode), [x[0]])


# ================================================================ modules

CONV_MODULES = [("Conv3d", (4, 6, 3), dict()), ("Conv3d", (4, 6, (1, 2, 3)), dict(stride=(2, 1, 1), bias=False)),
                ("Conv3d", (4, 2, 2), dict(padding="same", dilation=(1, 2, 1), groups=2)),
                ("Conv3d", (4, 6, (2, 3, 2)), dict(padding=(1, 2, 1), padding_mode="reflect")),
                ("Conv3d", (4, 2, 3), dict(padding=1, padding_mode="circular", groups=2)),
                ("Conv3d", (4, 2, 2), dict(padding="same", padding_mode="replicate")),
                ("ConvTranspose3d", (4, 6, 3), dict()),
                ("ConvTranspose3d", (4, 2, (2, 3, 1)), dict(stride=2, output_padding=(1, 0, 1), groups=2, bias=False)),
                ("ConvTranspose3d", (4, 3, 2), dict(dilation=(1, 2, 2), padding=1))]


@pytest.mark.torch
@pytest.mark.parametrize("name, args, options", CONV_MODULES, ids=str)
def test_conv_modules_draw_print_and_compute_as_torch(name: str, args: tuple, options: dict) -> None:
    torch = pytest.importorskip("torch")
    modules = []
    for lib in (tapegrad, torch):
        lib.manual_seed(7)
        modules.append(getattr(lib.nn, name)(*args, dtype=lib.float64, **options))
    assert repr(modules[0]) == repr(modules[1])
    for p, q in zip(modules[0].parameters(), modules[1].parameters(), strict=True):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())  # the same draws
    shapes = [(2, 4, 5, 4, 3), (4, 5, 4, 3)]  # batched, then unbatched
    for k, shape in enumerate(shapes):
        _compare(lambda L, x: modules[0 if L is tapegrad else 1](x), [_data(shape, k)])
    # _compare's backward reached the parameters too: same gradients, accumulated over both calls.
    for p, q in zip(modules[0].parameters(), modules[1].parameters(), strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
def test_conv_transpose3d_module_output_size_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tapegrad, torch):
        lib.manual_seed(3)
        module = lib.nn.ConvTranspose3d(2, 3, 3, stride=(2, 3, 2), padding=1, dtype=lib.float64)
        x = lib.tensor(_data((1, 2, 3, 2, 3), 4))
        results.append([module(x, output_size=(6, 5, 6)), module(x[0], output_size=[3, 5, 6, 5])])
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10)
    raises_as_torch(lambda L: L.nn.ConvTranspose3d(2, 3, 3, stride=2)(L.zeros(1, 2, 3, 2, 3), output_size=[9, 5, 6]))


POOL_MODULES = [("MaxPool3d", (2,), dict(stride=1, padding=1)), ("MaxPool3d", ((1, 2, 2),), dict(ceil_mode=True)),
                ("MaxPool3d", (2,), dict(dilation=(1, 2, 1), return_indices=True)),
                ("AvgPool3d", (2,), dict()), ("AvgPool3d", ((3, 2, 2),), dict(stride=2, padding=1, ceil_mode=True,
                                                                              count_include_pad=False)),
                ("AvgPool3d", (2,), dict(divisor_override=3)),
                ("AdaptiveMaxPool3d", ((2, None, 3),), dict()), ("AdaptiveMaxPool3d", (2,), dict(return_indices=True)),
                ("LPPool1d", (2, 3), dict(stride=2)), ("LPPool2d", (1.5, (2, 3)), dict(ceil_mode=True)),
                ("LPPool3d", (3, 2), dict(stride=1))]


@pytest.mark.torch
@pytest.mark.parametrize("name, args, options", POOL_MODULES, ids=str)
def test_pool_modules_print_and_compute_as_torch(name: str, args: tuple, options: dict) -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, name)(*args, **options), getattr(torch.nn, name)(*args, **options)
    assert repr(ours) == repr(theirs)
    dims = int(name[-2])
    shape = (2, 3, 5, 4, 6)[-dims - 2:]
    x = np.abs(_data(shape, 1)) + 0.1
    _compare(lambda L, x: (ours if L is tapegrad else theirs)(x), [x])


@pytest.mark.torch
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_max_unpool_modules_print_and_invert_their_pools_as_torch(dims: int) -> None:
    torch = pytest.importorskip("torch")
    args = [(2,), dict(stride=1)] if dims != 2 else [((2, 3),), dict(stride=(1, 2), padding=(1, 0))]
    pools = [getattr(lib.nn, f"MaxPool{dims}d")(*args[0], **args[1], return_indices=True) for lib in (tapegrad, torch)]
    unpools = [getattr(lib.nn, f"MaxUnpool{dims}d")(*args[0], **args[1]) for lib in (tapegrad, torch)]
    assert repr(unpools[0]) == repr(unpools[1])
    shape = (2, 3, 5, 4, 6)[-dims - 2:]

    def run(L: Any, x: Any) -> Any:
        k = 0 if L is tapegrad else 1
        values, indices = pools[k](x)
        return unpools[k](values * 2, indices, output_size=x.shape)

    _compare(run, [_data(shape, 1)])


# ================================================================ finite differences

def _x(*shape: int, seed: int = 1, positive: bool = False) -> tapegrad.Tensor:
    data = _data(shape, seed)
    return tapegrad.tensor(np.abs(data) + 0.2 if positive else data, requires_grad=True)


def test_conv3d_first_and_second_derivatives_match_finite_differences() -> None:
    x, w, b = _x(1, 2, 3, 4, 3), _x(2, 1, 2, 2, 2, seed=2), _x(2, seed=3)

    def conv(x: Any, w: Any, b: Any) -> Any:
        return F.conv3d(x, w, b, stride=(1, 2, 1), padding=(1, 0, 1), dilation=(2, 1, 1), groups=2)

    assert gradcheck(conv, (x, w, b))
    assert gradgradcheck(conv, (x, w, b))


def test_conv_transpose3d_first_and_second_derivatives_match_finite_differences() -> None:
    x, w, b = _x(1, 2, 2, 3, 2), _x(2, 1, 2, 2, 3, seed=2), _x(2, seed=3)

    def conv(x: Any, w: Any, b: Any) -> Any:
        return F.conv_transpose3d(x, w, b, stride=(2, 1, 2), padding=(0, 1, 1), output_padding=(1, 0, 0), groups=2)

    assert gradcheck(conv, (x, w, b))
    assert gradgradcheck(conv, (x, w, b))


GRADCHECK: list[tuple[str, Callable[[Any], Any], tuple[int, ...]]] = [
    ("max_pool3d", lambda x: F.max_pool3d(x, (2, 2, 3), stride=1, padding=1, ceil_mode=True), (1, 2, 3, 4, 5)),
    ("avg_pool3d", lambda x: F.avg_pool3d(x, 2, stride=(1, 2, 2), padding=1, count_include_pad=False), (1, 2, 3, 4, 5)),
    ("adaptive_max_pool3d", lambda x: F.adaptive_max_pool3d(x, (2, 3, 2)), (2, 3, 4, 5)),
    ("max_unpool3d", lambda x: F.max_unpool3d(*F.max_pool3d(x, 2, return_indices=True), 2), (1, 2, 4, 4, 4)),
    ("max_unpool2d", lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2), (2, 4, 5)),
    ("max_unpool1d", lambda x: F.max_unpool1d(*F.max_pool1d(x, 2, return_indices=True), 2), (2, 5)),
    ("lp_pool1d", lambda x: F.lp_pool1d(x, 2, 2), (2, 6)),
    ("lp_pool2d", lambda x: F.lp_pool2d(x, 1.5, (2, 3), stride=1), (2, 4, 5)),
    ("lp_pool3d", lambda x: F.lp_pool3d(x, 3, 2, ceil_mode=True), (1, 3, 4, 5)),
]


@pytest.mark.parametrize("name, fn, shape", GRADCHECK, ids=[g[0] for g in GRADCHECK])
def test_gradients_match_finite_differences(name: str, fn: Callable[[Any], Any], shape: tuple) -> None:
    assert gradcheck(fn, (_x(*shape, positive=name.startswith("lp")),))


# ================================================================ errors

ERRORS: list[tuple[str, Callable[[Any], Any]]] = [
    ("conv3d_rank", lambda L: L.nn.functional.conv3d(L.zeros(4, 4, 4), L.zeros(1, 1, 1, 1, 1))),
    ("conv3d_channels", lambda L: L.nn.functional.conv3d(L.zeros(1, 2, 4, 4, 4), L.zeros(3, 1, 2, 2, 2))),
    ("conv3d_stride_length", lambda L: L.nn.functional.conv3d(L.zeros(1, 2, 4, 4, 4), L.zeros(3, 2, 2, 2, 2),
                                                               stride=(1, 2))),
    ("conv3d_negative_padding", lambda L: L.nn.functional.conv3d(L.zeros(1, 2, 4, 4, 4), L.zeros(3, 2, 2, 2, 2),
                                                                  padding=-1)),
    ("conv3d_same_strided", lambda L: L.nn.functional.conv3d(L.zeros(1, 2, 4, 4, 4), L.zeros(3, 2, 2, 2, 2),
                                                              padding="same", stride=2)),
    ("conv3d_padding_string", lambda L: L.nn.functional.conv3d(L.zeros(1, 2, 4, 4, 4), L.zeros(3, 2, 2, 2, 2),
                                                                padding="full")),
    ("conv3d_groups", lambda L: L.nn.functional.conv3d(L.zeros(1, 2, 4, 4, 4), L.zeros(3, 1, 2, 2, 2), groups=2)),
    ("conv3d_kernel_too_big", lambda L: L.nn.functional.conv3d(L.zeros(1, 2, 4, 4, 4), L.zeros(3, 2, 5, 2, 2))),
    ("conv3d_zero_dilation", lambda L: L.nn.functional.conv3d(L.zeros(1, 2, 4, 4, 4), L.zeros(3, 2, 2, 2, 2),
                                                               dilation=(1, 0, 1))),
    ("conv3d_negative_dilation", lambda L: L.nn.functional.conv3d(L.zeros(1, 2, 4, 4, 4), L.zeros(3, 2, 2, 2, 2),
                                                                   dilation=-1)),
    ("conv3d_dtypes", lambda L: L.nn.functional.conv3d(L.zeros(1, 2, 4, 4, 4), L.zeros(3, 2, 2, 2, 2,
                                                                                         dtype=L.float64))),
    ("conv3d_bias_dtype", lambda L: L.nn.functional.conv3d(L.zeros(1, 2, 4, 4, 4), L.zeros(3, 2, 2, 2, 2),
                                                            L.zeros(3, dtype=L.float64))),
    ("conv3d_bias_size", lambda L: L.nn.functional.conv3d(L.zeros(1, 2, 4, 4, 4), L.zeros(3, 2, 2, 2, 2), L.zeros(4))),
    ("conv_transpose3d_channels", lambda L: L.nn.functional.conv_transpose3d(L.zeros(1, 2, 4, 4, 4),
                                                                             L.zeros(3, 2, 2, 2, 2))),
    ("conv_transpose3d_output_padding", lambda L: L.nn.functional.conv_transpose3d(
        L.zeros(1, 3, 4, 4, 4), L.zeros(3, 2, 2, 2, 2), stride=(1, 1, 2), output_padding=(0, 0, 2))),
    ("conv_transpose3d_too_small", lambda L: L.nn.functional.conv_transpose3d(L.zeros(1, 3, 2, 2, 2),
                                                                              L.zeros(3, 2, 2, 2, 2), padding=3)),
    ("conv_transpose3d_zero_dilation", lambda L: L.nn.functional.conv_transpose3d(
        L.zeros(1, 3, 4, 4, 4), L.zeros(3, 2, 2, 2, 2), dilation=(1, 0, 1))),
    ("conv_transpose3d_bias", lambda L: L.nn.functional.conv_transpose3d(L.zeros(1, 3, 4, 4, 4),
                                                                         L.zeros(3, 2, 2, 2, 2), L.zeros(3))),
    ("conv_transpose3d_rank", lambda L: L.nn.functional.conv_transpose3d(L.zeros(4, 4, 4), L.zeros(3, 2, 2, 2, 2))),
    ("max_pool3d_kernel_length", lambda L: L.nn.functional.max_pool3d(L.zeros(1, 2, 4, 4, 4), (2, 2))),
    ("max_pool3d_stride_length", lambda L: L.nn.functional.max_pool3d(L.zeros(1, 2, 4, 4, 4), 2, (1, 2))),
    ("max_pool3d_dilation_length", lambda L: L.nn.functional.max_pool3d(L.zeros(1, 2, 4, 4, 4), 2, dilation=(1, 2))),
    ("max_pool3d_big_padding", lambda L: L.nn.functional.max_pool3d(L.zeros(1, 2, 4, 4, 4), 2, padding=2)),
    ("max_pool3d_zero_kernel", lambda L: L.nn.functional.max_pool3d(L.zeros(1, 2, 4, 4, 4), 0)),
    ("max_pool3d_zero_dilation", lambda L: L.nn.functional.max_pool3d(L.zeros(1, 2, 4, 4, 4), 2, dilation=0)),
    ("max_pool3d_too_small", lambda L: L.nn.functional.max_pool3d(L.zeros(1, 2, 4, 4, 4), 5)),
    ("max_pool3d_rank", lambda L: L.nn.functional.max_pool3d(L.zeros(4, 4, 4), 2)),
    ("max_pool3d_empty", lambda L: L.nn.functional.max_pool3d(L.zeros(1, 2, 0, 4, 4), 2)),
    ("max_pool3d_kernel_type", lambda L: L.nn.functional.max_pool3d(L.zeros(1, 2, 4, 4, 4), 2.5)),
    ("avg_pool3d_kernel_length", lambda L: L.nn.functional.avg_pool3d(L.zeros(1, 2, 4, 4, 4), (2, 2))),
    ("avg_pool3d_padding_length", lambda L: L.nn.functional.avg_pool3d(L.zeros(1, 2, 4, 4, 4), 2, padding=(1, 1))),
    ("avg_pool3d_negative_padding", lambda L: L.nn.functional.avg_pool3d(L.zeros(1, 2, 4, 4, 4), 2, padding=-1)),
    ("avg_pool3d_kernel_too_big", lambda L: L.nn.functional.avg_pool3d(L.zeros(1, 2, 4, 4, 4), 5)),
    ("avg_pool3d_kernel_over_padded_input", lambda L: L.nn.functional.avg_pool3d(L.zeros(1, 2, 2, 4, 4), 3,
                                                                                  padding=1)),
    ("avg_pool3d_divisor", lambda L: L.nn.functional.avg_pool3d(L.zeros(1, 2, 4, 4, 4), 2, divisor_override=0)),
    ("avg_pool3d_empty", lambda L: L.nn.functional.avg_pool3d(L.zeros(2, 0, 4, 4), 2)),
    ("adaptive_max_pool3d_size", lambda L: L.nn.functional.adaptive_max_pool3d(L.zeros(1, 2, 4, 4, 4), (2, 2))),
    ("adaptive_max_pool3d_rank", lambda L: L.nn.functional.adaptive_max_pool3d(L.zeros(4, 4, 4), 2)),
    ("adaptive_max_pool3d_negative", lambda L: L.nn.functional.adaptive_max_pool3d(L.zeros(1, 2, 4, 4, 4), -1)),
    ("adaptive_max_pool3d_empty", lambda L: L.nn.functional.adaptive_max_pool3d(L.zeros(1, 2, 0, 3, 3), 2)),
    ("adaptive_max_pool3d_long_size", lambda L: L.nn.functional.adaptive_max_pool3d(L.zeros(2, 4, 4, 4),
                                                                                    (1, 2, 3, 4, 5, 6))),
    ("max_unpool2d_index", lambda L: L.nn.functional.max_unpool2d(L.ones(1, 1, 2, 2), L.tensor([[[[0, 1], [9, 16]]]]),
                                                                  2)),
    ("max_unpool2d_negative_index", lambda L: L.nn.functional.max_unpool2d(
        L.ones(1, 1, 2, 2), L.tensor([[[[0, -3], [9, 2]]]]), 2)),
    ("max_unpool2d_index_dtype", lambda L: L.nn.functional.max_unpool2d(L.ones(1, 1, 2, 2),
                                                                        L.zeros(1, 1, 2, 2, dtype=L.int32), 2)),
    ("max_unpool2d_shapes", lambda L: L.nn.functional.max_unpool2d(L.ones(1, 1, 2, 2),
                                                                   L.zeros(1, 1, 2, 1, dtype=L.int64), 2)),
    ("max_unpool2d_rank", lambda L: L.nn.functional.max_unpool2d(L.ones(2, 2), L.zeros(2, 2, dtype=L.int64), 2)),
    ("max_unpool2d_output_size", lambda L: L.nn.functional.max_unpool2d(
        L.ones(1, 1, 2, 2), L.zeros(1, 1, 2, 2, dtype=L.int64), 2, output_size=(6, 6))),
    ("max_unpool2d_output_size_length", lambda L: L.nn.functional.max_unpool2d(
        L.ones(1, 1, 2, 2), L.zeros(1, 1, 2, 2, dtype=L.int64), 2, output_size=(1, 1, 4))),
    ("max_unpool2d_negative_size", lambda L: L.nn.functional.max_unpool2d(
        L.ones(1, 1, 2, 2), L.zeros(1, 1, 2, 2, dtype=L.int64), 2, padding=3)),
    ("max_unpool2d_integers", lambda L: L.nn.functional.max_unpool2d(L.ones(1, 1, 2, 2, dtype=L.int64),
                                                                     L.zeros(1, 1, 2, 2, dtype=L.int64), 2)),
    ("max_unpool1d_index", lambda L: L.nn.functional.max_unpool1d(L.ones(1, 2), L.tensor([[1, 7]]), 2)),
    ("max_unpool3d_index", lambda L: L.nn.functional.max_unpool3d(L.ones(1, 1, 1, 1, 2),
                                                                  L.tensor([[[[[3, 150]]]]]), 2)),
    ("max_unpool3d_stride", lambda L: L.nn.functional.max_unpool3d(L.ones(1, 1, 1, 1, 2),
                                                                   L.zeros(1, 1, 1, 1, 2, dtype=L.int64), 2, 0)),
    ("max_unpool3d_rank", lambda L: L.nn.functional.max_unpool3d(L.ones(1, 2, 2), L.zeros(1, 2, 2, dtype=L.int64), 2)),
    ("max_unpool3d_index_dtype", lambda L: L.nn.functional.max_unpool3d(L.ones(1, 1, 1, 1, 2),
                                                                        L.zeros(1, 1, 1, 1, 2), 2)),
    ("lp_pool3d_kernel_length", lambda L: L.nn.functional.lp_pool3d(L.ones(1, 2, 4, 4, 4), 2, (2, 2))),
    ("lp_pool1d_kernel_tuple", lambda L: L.nn.functional.lp_pool1d(L.ones(1, 2, 4), 2, (2,))),
    ("conv3d_module_groups", lambda L: L.nn.Conv3d(3, 4, 2, groups=2)),
    ("conv_transpose3d_module_padding_mode", lambda L: L.nn.ConvTranspose3d(2, 4, 2, padding_mode="reflect")),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, call", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name: str, call: Callable[[Any], Any]) -> None:
    raises_as_torch(call)


def test_docstring_examples_run() -> None:
    import doctest

    from tapegrad.nn import conv
    from tapegrad.ops import conv3d, lp_pool, pool3d, pool_indices, unpool

    for module in (conv3d, pool3d, unpool, lp_pool, pool_indices, conv):
        result = doctest.testmod(module, extraglobs={"tapegrad": tapegrad, "nn": nn, "F": F})
        assert result.attempted and not result.failed, module.__name__


@pytest.mark.torch
def test_an_empty_batch_matches_torch() -> None:
    x = np.zeros((0, 2, 4, 3, 4))
    _compare(lambda L, x: L.nn.functional.max_pool3d(x, 2, padding=1, return_indices=True), [x])
    _compare(lambda L, x: L.nn.functional.avg_pool3d(x, 2, stride=1), [x])
    _compare(lambda L, x: L.nn.functional.adaptive_max_pool3d(x, (2, 1, 3), return_indices=True), [x])
    _compare(lambda L, x, w: L.nn.functional.conv_transpose3d(x, w, stride=2), [x, _data((2, 3, 2, 2, 2), 1)])

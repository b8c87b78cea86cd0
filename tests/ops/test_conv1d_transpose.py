"""conv1d, conv_transpose1d/2d and the 1-d poolings: gradients by finite differences (first and
second order, float64), values and gradients against PyTorch (float32 and float64), grad_fn
names, known values, and PyTorch's errors."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as F
from tapegrad.autograd import gradcheck, gradgradcheck

from test_conv import _error, compare_with_torch, leaf, randn

CASES: list[tuple[str, list[tuple[int, ...]], dict]] = [
    # (function, shapes of input, weight and bias, keyword arguments)
    ("conv1d", [(2, 3, 9), (4, 3, 3), (4,)], dict()),
    ("conv1d", [(2, 4, 9), (6, 2, 2), (6,)], dict(stride=2, padding=1, dilation=2, groups=2)),
    ("conv1d", [(3, 7), (2, 3, 4)], dict(padding="same")),
    ("conv_transpose2d", [(2, 3, 4, 5), (3, 2, 3, 3), (2,)], dict()),
    ("conv_transpose2d", [(2, 4, 3, 4), (4, 3, 2, 3), (6,)], dict(stride=(2, 3), padding=(1, 0), output_padding=1,
                                                                 groups=2)),
    ("conv_transpose2d", [(1, 2, 3, 3), (2, 2, 2, 2)], dict(dilation=3, output_padding=2)),
    ("conv_transpose2d", [(2, 4, 3), (2, 3, 2, 2), (3,)], dict(stride=2)),
    ("conv_transpose1d", [(2, 3, 5), (3, 2, 3), (2,)], dict(stride=3, padding=1, output_padding=2)),
    ("conv_transpose1d", [(4, 6), (4, 1, 2)], dict(groups=2, dilation=2)),
]
IDS = [f"{name}-{k}" for k, (name, _, _) in enumerate(CASES)]


def _call(lib: Any, name: str, kw: dict) -> Callable[..., Any]:
    return lambda *t: getattr(lib, name)(*t, **kw)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("name, shapes, kw", CASES, ids=IDS)
def test_gradients_match_finite_differences(name: str, shapes: list, kw: dict) -> None:
    inputs = tuple(leaf(randn(*shape, seed=k + 1)) for k, shape in enumerate(shapes))
    assert gradcheck(_call(F, name, kw), inputs)


@pytest.mark.parametrize("name, shapes, kw", [CASES[1], CASES[4], CASES[7]], ids=[IDS[1], IDS[4], IDS[7]])
def test_second_derivatives_match_finite_differences(name: str, shapes: list, kw: dict) -> None:
    inputs = tuple(leaf(randn(*shape, seed=k + 1)) for k, shape in enumerate(shapes))
    assert gradgradcheck(_call(F, name, kw), inputs)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, shapes, kw", CASES, ids=IDS)
def test_values_and_gradients_match_torch(name: str, shapes: list, kw: dict, dtype: str) -> None:
    arrays = [randn(*shape, seed=k + 1) for k, shape in enumerate(shapes)]
    compare_with_torch(lambda lib, t: getattr(lib, name)(*t, **kw), arrays, dtype)


def test_grad_fn_names_are_pytorchs() -> None:
    x, w = leaf(randn(2, 3, 6)), leaf(randn(3, 3, 2))
    assert F.conv1d(x, w).grad_fn.name() == "ConvolutionBackward0"
    assert F.conv_transpose1d(x, w).grad_fn.name() == "ConvolutionBackward0"
    assert F.conv_transpose2d(x[:, :, None], w[:, :, None]).grad_fn.name() == "ConvolutionBackward0"
    assert F.conv1d(x[0], w).grad_fn.name() == "SqueezeBackward1"
    assert F.conv_transpose1d(x.detach(), w.detach()).grad_fn is None
    x2, w2 = leaf(randn(2, 3, 4, 4)), leaf(randn(3, 3, 2, 2))
    gx, gw = tapegrad.autograd.grad(F.conv_transpose2d(x2, w2).square().sum(), (x2, w2), create_graph=True)
    assert gx.grad_fn.name() == gw.grad_fn.name() == "ConvolutionBackwardBackward0"


def test_known_values() -> None:
    np.testing.assert_array_equal(F.conv1d(tapegrad.ones(1, 1, 4), tapegrad.ones(1, 1, 2), padding=1).numpy(),
                                  [[[1, 2, 2, 2, 1]]])
    up = F.conv_transpose2d(tapegrad.ones(1, 1, 2, 2), tapegrad.ones(1, 1, 2, 2), tapegrad.tensor([0.5]))
    np.testing.assert_array_equal(up.numpy()[0, 0], [[1.5, 2.5, 1.5], [2.5, 4.5, 2.5], [1.5, 2.5, 1.5]])
    spread = F.conv_transpose1d(tapegrad.tensor([[[1.0, 2.0, 3.0]]]), tapegrad.ones(1, 1, 2), stride=2,
                                output_padding=1)
    np.testing.assert_array_equal(spread.numpy(), [[[1, 1, 2, 2, 3, 3, 0]]])


def test_conv1d_and_transposed_errors() -> None:
    x = tapegrad.randn(2, 3, 8)
    _error(lambda: F.conv1d(x, tapegrad.randn(4, 2, 3)), RuntimeError,
           "Given groups=1, weight of size [4, 2, 3], expected input[2, 3, 8] to have 2 channels, "
           "but got 3 channels instead")
    _error(lambda: F.conv1d(x, tapegrad.randn(4, 3, 30)), RuntimeError,
           "Calculated padded input size per channel: (8). Kernel size: (30). Kernel size can't be greater than "
           "actual input size")
    _error(lambda: F.conv1d(tapegrad.randn(8), tapegrad.randn(4, 3, 3)), RuntimeError,
           "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: [8]")
    _error(lambda: F.conv1d(x, tapegrad.randn(4, 3, 3), stride=(1, 2)), RuntimeError,
           "expected stride to be a single integer value or a list of 1 values to match the convolution "
           "dimensions, but got stride=[1, 2]")
    _error(lambda: F.conv1d(x, tapegrad.randn(4, 3, 3), tapegrad.randn(5)), RuntimeError,
           "Given weight of size [4, 3, 3], expected bias to be 1-dimensional with 4 elements, but got bias of "
           "size [5] instead")
    x2 = tapegrad.randn(2, 3, 5, 5)
    _error(lambda: F.conv_transpose2d(x2, tapegrad.randn(4, 4, 3, 3)), RuntimeError,
           "Given transposed=1, weight of size [4, 4, 3, 3], expected input[2, 3, 5, 5] to have 4 channels, but "
           "got 3 channels instead")
    _error(lambda: F.conv_transpose2d(x2, tapegrad.randn(3, 4, 3, 3), stride=2, output_padding=2), RuntimeError,
           "output padding must be smaller than either stride or dilation, but got output_padding_height: 2 "
           "output_padding_width: 2 stride_height: 2 stride_width: 2 dilation_height: 1 dilation_width: 1")
    _error(lambda: F.conv_transpose2d(x2, tapegrad.randn(3, 4, 3, 3), tapegrad.randn(3)), RuntimeError,
           "Given transposed=1, weight of size [3, 4, 3, 3], expected bias to be 1-dimensional with 4 elements, "
           "but got bias of size [3] instead")
    _error(lambda: F.conv_transpose2d(tapegrad.randn(2, 3, 1, 1), tapegrad.randn(3, 4, 3, 3), padding=3),
           RuntimeError, "Given input size per channel: (1 x 1). Calculated output size per channel: (-3 x -3). "
           "Output size is too small")
    _error(lambda: F.conv_transpose1d(tapegrad.randn(3, 5, 5, 5), tapegrad.randn(3, 4, 3)), RuntimeError,
           "Expected 2D (unbatched) or 3D (batched) input to conv_transpose1d, but got input of size: [3, 5, 5, 5]")
    _error(lambda: F.conv_transpose2d(x2, tapegrad.randn(3, 4, 3, 3), groups=2), RuntimeError,
           "Given groups=2, expected weight to be divisible by 2 at dimension 0, but got weight of size "
           "[[3, 4, 3, 3]] instead")
    _error(lambda: F.conv_transpose2d(x2, tapegrad.randn(3, 4, 3, 3), output_padding=-1), RuntimeError,
           "negative output_padding is not supported")
    _error(lambda: F.conv_transpose2d(x2.double(), tapegrad.randn(3, 4, 3, 3)), RuntimeError,
           "Input type (tapegrad.DoubleTensor) and weight type (tapegrad.FloatTensor) should be the same")


# ================================================================ 1-d pooling

POOLS: list[tuple[str, tuple[int, ...], tuple, dict]] = [
    ("max_pool1d", (2, 3, 9), (2,), dict()),
    ("max_pool1d", (3, 9), (3, 2, 1, 2), dict(ceil_mode=True)),
    ("avg_pool1d", (2, 3, 9), (3,), dict()),
    ("avg_pool1d", (3, 8), (3, 2, 1), dict(ceil_mode=True, count_include_pad=False)),
    ("adaptive_avg_pool1d", (2, 3, 9), (4,), dict()),
    ("adaptive_avg_pool1d", (3, 9), (1,), dict()),
]
POOL_IDS = [f"{name}-{k}" for k, (name, _, _, _) in enumerate(POOLS)]


@pytest.mark.parametrize("name, shape, args, kw", POOLS, ids=POOL_IDS)
def test_pool_gradients_match_finite_differences(name: str, shape: tuple, args: tuple, kw: dict) -> None:
    # Distinct values a grid step apart keep the max away from ties under the perturbation.
    x = leaf(np.random.default_rng(0).permutation(np.prod(shape)).reshape(shape) * 0.1)
    fn = lambda t: getattr(F, name)(t, *args, **kw)  # noqa: E731
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, shape, args, kw", POOLS, ids=POOL_IDS)
def test_pools_match_torch(name: str, shape: tuple, args: tuple, kw: dict, dtype: str) -> None:
    compare_with_torch(lambda lib, t: getattr(lib, name)(t[0], *args, **kw), [randn(*shape, seed=4)], dtype)


def test_max_pool1d_indices_and_grad_fn_match_torch() -> None:
    torch = pytest.importorskip("torch")
    data = randn(2, 3, 9, seed=5)
    values, indices = F.max_pool1d(leaf(data), 3, 2, 1, 2, return_indices=True)
    expected = torch.nn.functional.max_pool1d(torch.tensor(data, requires_grad=True), 3, 2, 1, 2,
                                              return_indices=True)
    np.testing.assert_array_equal(indices.numpy(), expected[1].numpy())
    assert values.grad_fn.name() == expected[0].grad_fn.name() == "SqueezeBackward1"


def test_pool1d_errors() -> None:
    x = tapegrad.randn(2, 3, 8)
    _error(lambda: F.max_pool1d(x, (2, 2)), RuntimeError,
           "max_pool1d() kernel_size must be an int, list of ints or tuple of ints of size 1 but got size 2")
    _error(lambda: F.max_pool1d(x, 0), RuntimeError, "max_pool1d() kernel_size must be greater than zero, but got 0")
    _error(lambda: F.max_pool1d(x, 2, padding=2), RuntimeError,
           "max_pool1d() padding should be at most half of kernel size, but got padding=2 and kernel_size=2")
    _error(lambda: F.max_pool1d(x, 9), RuntimeError, "max_pool1d() Invalid computed output size: 0")
    _error(lambda: F.max_pool1d(tapegrad.randn(8), 3), RuntimeError,
           "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for input, but got:[8]")
    _error(lambda: F.max_pool1d(tapegrad.zeros(2, 3, 8, dtype=tapegrad.int64), 2), NotImplementedError,
           "\"max_pool1d_impl\" not implemented for 'Long'")
    _error(lambda: F.avg_pool1d(x, 9), RuntimeError,
           "Given input size: (3x1x8). Calculated output size: (3x1x0). Output size is too small")
    _error(lambda: F.avg_pool1d(x, 0), RuntimeError, "stride should not be zero")
    _error(lambda: F.avg_pool1d(tapegrad.randn(8), 3), RuntimeError,
           "Expected 2 to 3 dimensions, but got 1-dimensional tensor for argument #1 'self' (while checking "
           "arguments for avg_pool1d)")
    _error(lambda: F.avg_pool1d(x, (2, 2)), RuntimeError, "avg_pool1d() argument 'kernel_size' should contain one int "
           "(got 2)")
    _error(lambda: F.adaptive_avg_pool1d(x, (3, 2)), RuntimeError,
           "adaptive_avg_pool1d() argument 'output_size' should contain one int (got 2)")

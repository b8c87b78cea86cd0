"""conv2d, max_pool2d, avg_pool2d and adaptive_avg_pool2d: gradients by finite differences
(first and second order, float64), values and gradients against PyTorch (float32 and float64),
grad_fn names, PyTorch's errors, and the chunked and threaded kernel paths."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as F
from tapegrad.autograd import gradcheck, gradgradcheck
from tapegrad.backends import cpu_conv

TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-12)}


def leaf(array: np.ndarray, requires_grad: bool = True) -> tapegrad.Tensor:
    return tapegrad.tensor(array, requires_grad=requires_grad)


def randn(*shape: int, seed: int = 0, dtype: str = "float64") -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def compare_with_torch(fn: Callable[[Any, list], Any], arrays: list[np.ndarray], dtype: str, seed: int = 1) -> None:
    """Run ``fn(F, tensors)`` in both libraries; compare outputs and input gradients."""
    torch = pytest.importorskip("torch")
    ours = [leaf(a.astype(dtype)) for a in arrays]
    theirs = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    out = fn(F, ours)
    expected = fn(torch.nn.functional, theirs)
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), **TOL[dtype])
    weights = randn(*expected.shape, seed=seed, dtype=dtype)
    (out * leaf(weights, False)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    for mine, reference in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), **TOL[dtype])


# ================================================================ conv2d

CONV_CASES = [
    # (input shape, weight shape, keyword arguments)
    ((2, 3, 5, 6), (4, 3, 3, 3), dict()),
    ((2, 3, 5, 6), (4, 3, 3, 2), dict(stride=2, padding=1)),
    ((1, 4, 6, 5), (6, 2, 3, 3), dict(groups=2, dilation=(2, 1), padding=(1, 0))),
    ((2, 4, 5, 5), (4, 1, 2, 2), dict(groups=4, stride=(2, 1))),
    ((1, 2, 5, 4), (3, 2, 2, 3), dict(padding="same")),
    ((1, 2, 5, 4), (3, 2, 3, 3), dict(padding="same", dilation=2)),
    ((1, 2, 5, 4), (3, 2, 2, 2), dict(padding="valid", stride=(1, 2))),
    ((2, 3, 4, 4), (2, 3, 1, 1), dict(stride=3, padding=2)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("input_shape, weight_shape, kw", CONV_CASES)
def test_conv2d_gradcheck(input_shape: tuple, weight_shape: tuple, kw: dict, bias: bool) -> None:
    x = leaf(randn(*input_shape, seed=1))
    w = leaf(randn(*weight_shape, seed=2))
    b = leaf(randn(weight_shape[0], seed=3)) if bias else None
    inputs = (x, w, b) if bias else (x, w)
    assert gradcheck(lambda *t: F.conv2d(t[0], t[1], t[2] if bias else None, **kw), inputs)


def test_conv2d_gradcheck_unbatched() -> None:
    x, w, b = leaf(randn(2, 4, 5, seed=1)), leaf(randn(3, 2, 2, 3, seed=2)), leaf(randn(3, seed=3))
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1, stride=(2, 1)), (x, w, b))


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1, groups=2), dict(dilation=2, padding=(0, 1))])
def test_conv2d_second_derivatives(kw: dict) -> None:
    x, w, b = leaf(randn(1, 2, 5, 5, seed=1)), leaf(randn(4, 2 // kw.get("groups", 1), 2, 2, seed=2)), \
        leaf(randn(4, seed=3))
    assert gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), (x, w, b))


def test_conv2d_double_backward_graph() -> None:
    x, w = leaf(randn(1, 1, 4, 4, seed=1)), leaf(randn(2, 1, 2, 2, seed=2))
    y = F.conv2d(x, w)
    gx, gw = tapegrad.autograd.grad((y * y).sum(), (x, w), create_graph=True)
    assert gx.grad_fn.name() == "ConvolutionBackwardBackward0"
    assert gw.grad_fn.name() == "ConvolutionBackwardBackward0"
    # d/dw of sum(gx) through the recorded backward equals finite differences (gradcheck above);
    # here: the second-order graph reaches both leaves.
    (gx.sum() + gw.sum()).backward()
    assert x.grad is not None and w.grad is not None


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("input_shape, weight_shape, kw", CONV_CASES)
def test_conv2d_matches_torch(input_shape: tuple, weight_shape: tuple, kw: dict, dtype: str) -> None:
    arrays = [randn(*input_shape, seed=1), randn(*weight_shape, seed=2), randn(weight_shape[0], seed=3)]
    compare_with_torch(lambda lib, t: lib.conv2d(t[0], t[1], t[2], **kw), arrays, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv2d_unbatched_matches_torch(dtype: str) -> None:
    arrays = [randn(3, 6, 5, seed=1), randn(4, 3, 3, 3, seed=2)]
    compare_with_torch(lambda lib, t: lib.conv2d(t[0], t[1], padding=1), arrays, dtype)


def test_conv2d_known_values() -> None:
    out = F.conv2d(tapegrad.ones(1, 1, 3, 3), tapegrad.ones(1, 1, 2, 2), tapegrad.tensor([0.5]), padding=1)
    np.testing.assert_array_equal(out.numpy()[0, 0], [[1.5, 2.5, 2.5, 1.5], [2.5, 4.5, 4.5, 2.5],
                                                      [2.5, 4.5, 4.5, 2.5], [1.5, 2.5, 2.5, 1.5]])
    assert out.dtype == tapegrad.float32


def test_conv2d_grad_fn_names() -> None:
    x, w = leaf(randn(1, 2, 4, 4)), leaf(randn(3, 2, 3, 3))
    assert F.conv2d(x, w).grad_fn.name() == "ConvolutionBackward0"
    assert F.conv2d(x[0], w).grad_fn.name() == "SqueezeBackward1"
    assert F.conv2d(x.detach(), w.detach()).grad_fn is None


def test_conv2d_weight_only_gradient_and_empty_batch() -> None:
    x = leaf(randn(0, 2, 4, 4), requires_grad=False)
    w = leaf(randn(3, 2, 3, 3))
    out = F.conv2d(x, w, padding=1)
    assert tuple(out.shape) == (0, 3, 4, 4)
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((3, 2, 3, 3)))


def test_conv2d_same_padding_even_kernel_warns() -> None:
    with pytest.warns(UserWarning, match="even kernel lengths"):
        out = F.conv2d(tapegrad.ones(1, 1, 4, 5), tapegrad.ones(1, 1, 2, 2), padding="same")
    assert tuple(out.shape) == (1, 1, 4, 5)
    # The extra row and column of padding go at the bottom and right, as in PyTorch.
    np.testing.assert_array_equal(out.numpy()[0, 0, -1], [2, 2, 2, 2, 1])


def _error(fn: Callable[[], Any], kind: type, *fragments: str) -> None:
    with pytest.raises(kind) as info:
        fn()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_conv2d_errors() -> None:
    x, w = tapegrad.randn(2, 1, 8, 8), tapegrad.randn(16, 3, 3, 3)
    _error(lambda: F.conv2d(x, w), RuntimeError,
           "Given groups=1, weight of size [16, 3, 3, 3], expected input[2, 1, 8, 8] to have 3 channels, "
           "but got 1 channels instead")
    _error(lambda: F.conv2d(tapegrad.randn(2, 8, 8), w), RuntimeError, "expected input[1, 2, 8, 8] to have 3 channels")
    _error(lambda: F.conv2d(tapegrad.randn(2, 3), w), RuntimeError,
           "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [2, 3]")
    _error(lambda: F.conv2d(tapegrad.randn(1, 2, 3, 4, 5), w), RuntimeError, "input of size: [1, 2, 3, 4, 5]")
    _error(lambda: F.conv2d(tapegrad.randn(2, 3, 8, 8), tapegrad.randn(16, 3, 3)), RuntimeError,
           "expected stride to be a single integer value or a list of 1 values to match the convolution "
           "dimensions, but got stride=[1, 1]")
    _error(lambda: F.conv2d(tapegrad.randn(2, 3, 8, 8), w, stride=(1, 2, 3)), RuntimeError,
           "a list of 2 values", "stride=[1, 2, 3]")
    _error(lambda: F.conv2d(tapegrad.randn(2, 4, 8, 8), tapegrad.randn(3, 2, 3, 3), groups=2), RuntimeError,
           "Given groups=2, expected weight to be divisible by 2 at dimension 0")
    _error(lambda: F.conv2d(tapegrad.randn(2, 5, 8, 8), tapegrad.randn(4, 2, 3, 3), groups=2), RuntimeError,
           "expected input[2, 5, 8, 8] to have 4 channels, but got 5 channels instead")
    _error(lambda: F.conv2d(tapegrad.randn(2, 4, 8, 8), tapegrad.randn(4, 2, 3, 3), groups=0), RuntimeError,
           "non-positive groups is not supported")
    xs = tapegrad.randn(2, 3, 8, 8)
    _error(lambda: F.conv2d(xs, w, stride=0), RuntimeError, "non-positive stride is not supported")
    _error(lambda: F.conv2d(xs, w, padding=-1), RuntimeError, "negative padding is not supported")
    _error(lambda: F.conv2d(xs, w, dilation=0), RuntimeError, "non-positive dilation is not supported")
    _error(lambda: F.conv2d(xs, w, tapegrad.randn(5)), RuntimeError,
           "Given weight of size [16, 3, 3, 3], expected bias to be 1-dimensional with 16 elements, "
           "but got bias of size [5] instead")
    _error(lambda: F.conv2d(tapegrad.randn(2, 3, 2, 2), w), RuntimeError,
           "Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). "
           "Kernel size can't be greater than actual input size")
    _error(lambda: F.conv2d(tapegrad.randn(2, 3, 4, 4), w, dilation=2), RuntimeError,
           "per channel: (4 x 4). Kernel size: (5 x 5)")
    _error(lambda: F.conv2d(xs.double(), w), RuntimeError,
           "Input type (tapegrad.DoubleTensor) and weight type (tapegrad.FloatTensor) should be the same")
    _error(lambda: F.conv2d(xs, w, tapegrad.randn(16, dtype=tapegrad.float64)), RuntimeError,
           "Input type (float) and bias type (double) should be the same")
    _error(lambda: F.conv2d(xs, w, stride=2, padding="same"), RuntimeError,
           "padding='same' is not supported for strided convolutions")
    _error(lambda: F.conv2d(xs, w, padding="full"), RuntimeError, "Invalid padding string: 'full'")
    _error(lambda: F.conv2d(xs, w, stride=1.5), TypeError, "stride", "must be tuple of ints")
    _error(lambda: F.conv2d(xs, 3), TypeError, "weight", "must be Tensor")
    _error(lambda: F.conv2d(xs.long(), w.long()), NotImplementedError, "\"conv2d\" not implemented for 'Long'")


# ================================================================ max pooling

MAX_POOL_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=1, padding=(1, 1), dilation=(2, 1)),
    dict(kernel_size=2, stride=3, ceil_mode=True),
]


@pytest.mark.parametrize("kw", MAX_POOL_CASES)
def test_max_pool2d_gradcheck(kw: dict) -> None:
    x = leaf(randn(2, 2, 5, 7, seed=4))
    assert gradcheck(lambda x: F.max_pool2d(x, **kw), (x,))


def test_max_pool2d_second_derivatives_and_unbatched() -> None:
    x = leaf(randn(3, 5, 6, seed=4))
    assert gradgradcheck(lambda x: F.max_pool2d(x, 2, 1, 1), (x,))
    gx, = tapegrad.autograd.grad((F.max_pool2d(x, 2) ** 2).sum(), (x,), create_graph=True)
    assert gx.grad_fn.name() == "MaxPool2DWithIndicesBackwardBackward0"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", MAX_POOL_CASES)
def test_max_pool2d_matches_torch(kw: dict, dtype: str) -> None:
    compare_with_torch(lambda lib, t: lib.max_pool2d(t[0], **kw), [randn(2, 3, 7, 6, seed=5)], dtype)


def test_max_pool2d_indices_match_torch() -> None:
    torch = pytest.importorskip("torch")
    x = randn(2, 3, 7, 6, seed=6)
    values, indices = F.max_pool2d(leaf(x), (3, 2), 2, 1, 2, ceil_mode=True, return_indices=True)
    expected_values, expected_indices = torch.nn.functional.max_pool2d(
        torch.tensor(x), (3, 2), 2, 1, 2, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(values.detach().numpy(), expected_values.numpy())
    np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())
    assert indices.dtype == tapegrad.int64


def test_max_pool2d_ties_and_nan() -> None:
    x = leaf(np.ones((1, 1, 2, 2)))
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 0], [0, 0]])  # the first maximum
    nan = float("nan")
    out, indices = F.max_pool2d(tapegrad.tensor([[[1.0, nan], [nan, 1.0]]]), 2, return_indices=True)
    assert np.isnan(out.item()) and indices.item() == 2  # NaN wins; the last NaN, as in PyTorch


def test_max_pool2d_grad_fn_and_no_grad() -> None:
    x = leaf(randn(1, 1, 4, 4))
    assert F.max_pool2d(x, 2).grad_fn.name() == "MaxPool2DWithIndicesBackward0"
    with tapegrad.no_grad():
        assert F.max_pool2d(x, 2).grad_fn is None
    assert tuple(F.max_pool2d(tapegrad.randn(0, 3, 8, 8), 2).shape) == (0, 3, 4, 4)


def test_max_pool2d_errors() -> None:
    y = tapegrad.randn(2, 3, 8, 8)
    _error(lambda: F.max_pool2d(y, 2, padding=2), RuntimeError,
           "pad should be at most half of effective kernel size, but got pad=2, kernel_size=2 and dilation=1")
    _error(lambda: F.max_pool2d(y, 2, padding=2, dilation=3), RuntimeError,
           "pad should be smaller than or equal to half of kernel size, but got padW = 2, padH = 2, kW = 2, kH = 2")
    _error(lambda: F.max_pool2d(y, 0), RuntimeError, "stride should not be zero")
    _error(lambda: F.max_pool2d(y, 0, stride=1), RuntimeError,
           "kernel size should be greater than zero, but got kH: 0 kW: 0")
    _error(lambda: F.max_pool2d(y, 2, stride=-1), RuntimeError,
           "stride should be greater than zero, but got dH: -1 dW: -1")
    _error(lambda: F.max_pool2d(y, 2, dilation=0), RuntimeError,
           "dilation should be greater than zero, but got dilationH: 0 dilationW: 0")
    _error(lambda: F.max_pool2d(y, 2, padding=-1), RuntimeError, "pad must be non-negative, but got pad: -1")
    _error(lambda: F.max_pool2d(tapegrad.randn(2, 3, 2, 2), 3), RuntimeError,
           "Given input size: (3x2x2). Calculated output size: (3x0x0). Output size is too small")
    _error(lambda: F.max_pool2d(tapegrad.randn(3, 8), 2), RuntimeError,
           "non-empty 3D or 4D (batch mode) tensor expected for input")
    _error(lambda: F.max_pool2d(tapegrad.randn(2, 0, 8, 8), 2), RuntimeError,
           "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got:[2, 0, 8, 8]")
    _error(lambda: F.max_pool2d(y, (2, 2, 2)), RuntimeError,
           "max_pool2d: kernel_size must either be a single int, or a tuple of two ints")
    _error(lambda: F.max_pool2d(y, 2, stride=(1, 1, 1)), RuntimeError,
           "max_pool2d: stride must either be omitted, a single int, or a tuple of two ints")
    _error(lambda: F.max_pool2d(y, 2.0), TypeError, "kernel_size", "must be tuple of ints, not float")
    _error(lambda: F.max_pool2d(y.long(), 2), NotImplementedError, "\"max_pool2d\" not implemented for 'Long'")


# ================================================================ average pooling

AVG_POOL_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), count_include_pad=False),
    dict(kernel_size=2, stride=1, padding=1, divisor_override=3),
    dict(kernel_size=2, stride=3, ceil_mode=True),
]


@pytest.mark.parametrize("kw", AVG_POOL_CASES)
def test_avg_pool2d_gradcheck(kw: dict) -> None:
    x = leaf(randn(2, 2, 5, 7, seed=7))
    assert gradcheck(lambda x: F.avg_pool2d(x, **kw), (x,))


def test_avg_pool2d_second_derivatives_and_grad_fn() -> None:
    x = leaf(randn(3, 5, 6, seed=7))
    assert gradgradcheck(lambda x: F.avg_pool2d(x, 2, 1, 1, count_include_pad=False), (x,))
    assert F.avg_pool2d(x, 2).grad_fn.name() == "AvgPool2DBackward0"
    gx, = tapegrad.autograd.grad((F.avg_pool2d(x, 2) ** 2).sum(), (x,), create_graph=True)
    assert gx.grad_fn.name() == "AvgPool2DBackwardBackward0"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", AVG_POOL_CASES)
def test_avg_pool2d_matches_torch(kw: dict, dtype: str) -> None:
    compare_with_torch(lambda lib, t: lib.avg_pool2d(t[0], **kw), [randn(2, 3, 7, 6, seed=8)], dtype)


def test_avg_pool2d_known_values() -> None:
    x = tapegrad.arange(16.0).reshape(1, 4, 4)
    np.testing.assert_array_equal(F.avg_pool2d(x, 2).numpy(), [[[2.5, 4.5], [10.5, 12.5]]])
    # Corner windows cover one input element and three zeros of padding.
    np.testing.assert_array_equal(F.avg_pool2d(x, 2, padding=1).numpy()[0, 0], [0 / 4, 3 / 4, 3 / 4])
    np.testing.assert_array_equal(F.avg_pool2d(x, 2, padding=1, count_include_pad=False).numpy()[0, 0],
                                  [0, 1.5, 3])


def test_avg_pool2d_errors() -> None:
    y = tapegrad.randn(2, 3, 8, 8)
    _error(lambda: F.avg_pool2d(y, 2, padding=2), RuntimeError, "pad should be at most half of effective kernel size")
    _error(lambda: F.avg_pool2d(y, 2, divisor_override=0), RuntimeError, "divisor must be not zero")
    _error(lambda: F.avg_pool2d(y, 0), RuntimeError, "stride should not be zero")
    _error(lambda: F.avg_pool2d(tapegrad.randn(2, 3, 2, 2), 3), RuntimeError, "Output size is too small")
    _error(lambda: F.avg_pool2d(tapegrad.randn(4, 4), 2), IndexError,
           "Dimension out of range (expected to be in range of [-2, 1], but got -3)")
    _error(lambda: F.avg_pool2d(tapegrad.randn(1, 1, 1, 4, 4), 2), RuntimeError,
           "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got:[1, 1, 1, 4, 4]")
    _error(lambda: F.avg_pool2d(y, (2, 2, 2)), RuntimeError,
           "avg_pool2d: kernel_size must either be a single int, or a tuple of two ints")


# ================================================================ adaptive average pooling

@pytest.mark.parametrize("size", [(2, 3), (5, 7), (3, None), 4])
def test_adaptive_avg_pool2d_gradcheck(size: Any) -> None:
    x = leaf(randn(2, 5, 7, seed=9))
    assert gradcheck(lambda x: F.adaptive_avg_pool2d(x, size), (x,))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("size", [(2, 3), (4, 4), 1, (None, 2)])
def test_adaptive_avg_pool2d_matches_torch(size: Any, dtype: str) -> None:
    compare_with_torch(lambda lib, t: lib.adaptive_avg_pool2d(t[0], size), [randn(2, 3, 7, 6, seed=10)], dtype)


def test_adaptive_avg_pool2d_grad_fn_and_errors() -> None:
    x = leaf(randn(1, 2, 4, 4))
    assert F.adaptive_avg_pool2d(x, 2).grad_fn.name() == "AdaptiveAvgPool2DBackward0"
    assert F.adaptive_avg_pool2d(x, 1).grad_fn.name() == "MeanBackward1"
    assert gradgradcheck(lambda x: F.adaptive_avg_pool2d(x, 3), (x,))
    _error(lambda: F.adaptive_avg_pool2d(tapegrad.randn(4, 4), 2), RuntimeError,
           "adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got [4, 4]")
    _error(lambda: F.adaptive_avg_pool2d(tapegrad.randn(1, 2, 4, 4), -1), RuntimeError,
           "elements of output_size must be greater than or equal to 0 but received {-1, -1}")
    _error(lambda: F.adaptive_avg_pool2d(tapegrad.randn(1, 2, 0, 4), 2), RuntimeError,
           "with dimension 2 being empty")


# ================================================================ kernel paths

def test_chunked_and_threaded_paths_agree_with_the_plain_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small column chunks (several per batch) and the prange kernels (threshold 0) give the
    same values and gradients as one chunk run serially."""
    arrays = [randn(5, 4, 6, 7, seed=11), randn(6, 2, 3, 3, seed=12), randn(6, seed=13)]

    def run() -> list[np.ndarray]:
        x, w, b = (leaf(a) for a in arrays)
        y = F.conv2d(x, w, b, stride=(1, 2), padding=1, groups=2)
        z = F.max_pool2d(y, 2, 1, 1) + F.avg_pool2d(y, 2, 1, 1) * F.adaptive_avg_pool2d(y, (7, 5))
        (z * z).sum().backward()
        return [z.detach().numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()]

    plain = run()
    monkeypatch.setattr(cpu_conv, "COLUMN_CHUNK_ELEMENTS", 500)
    monkeypatch.setattr(cpu_conv, "PARALLEL_THRESHOLD", 0)
    for mine, expected in zip(run(), plain):
        np.testing.assert_allclose(mine, expected, rtol=1e-12, atol=1e-12)

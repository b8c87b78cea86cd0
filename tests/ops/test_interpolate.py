"""F.interpolate and the Upsample modules: values, gradients and grad_fn names against PyTorch
(float32 and float64) for every supported mode (antialiasing included), gradients by finite differences (first and
second order), known values, and PyTorch's errors."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as F
from tapegrad import nn
from tapegrad.autograd import gradcheck, gradgradcheck

from test_conv import _error, compare_with_torch, leaf, randn

CASES: list[tuple[tuple[int, ...], str, dict]] = [
    ((2, 2, 5), "nearest", dict(scale_factor=2.5)),
    ((2, 2, 5), "nearest", dict(size=3)),
    ((2, 2, 5), "nearest-exact", dict(scale_factor=0.7)),
    ((2, 2, 5), "linear", dict(size=8)),
    ((2, 2, 5), "linear", dict(scale_factor=1.7, align_corners=True)),
    ((2, 2, 5), "area", dict(size=3)),
    ((1, 2, 5, 4), "nearest", dict(scale_factor=2)),
    ((1, 2, 5, 4), "nearest", dict(scale_factor=(1.5, 0.6))),
    ((1, 2, 5, 4), "nearest-exact", dict(size=(7, 3))),
    ((1, 2, 5, 4), "bilinear", dict(scale_factor=2.5)),
    ((1, 2, 5, 4), "bilinear", dict(size=(3, 7), align_corners=True)),
    ((1, 2, 5, 4), "bilinear", dict(scale_factor=1.3, recompute_scale_factor=True)),
    ((1, 2, 5, 4), "bilinear", dict(size=(1, 4), align_corners=True)),
    ((1, 2, 5, 4), "area", dict(size=(3, 2))),
    ((1, 1, 3, 4, 2), "nearest", dict(scale_factor=(2, 0.5, 1.5))),
    ((1, 1, 3, 4, 2), "trilinear", dict(size=(4, 3, 5))),
    ((1, 1, 3, 4, 2), "trilinear", dict(scale_factor=2, align_corners=True)),
    ((1, 2, 7, 9), "bicubic", dict(size=(11, 5))),
    ((1, 2, 7, 9), "bicubic", dict(scale_factor=(0.4, 1.7), align_corners=True)),
    ((2, 1, 9, 8), "bilinear", dict(size=(4, 3), antialias=True)),
    ((2, 1, 9, 8), "bicubic", dict(scale_factor=0.35, antialias=True)),
    ((1, 2, 9, 8), "bicubic", dict(size=(12, 5), antialias=True, align_corners=True)),
    ((1, 1, 10, 7), "lanczos", dict(size=(4, 9), antialias=True)),
    ((1, 1, 5, 6), "bilinear", dict(size=(5, 3), antialias=True)),  # the unchanged dim is copied
]
IDS = [f"{mode}{'-aa' if kw.get('antialias') else ''}-{len(shape) - 2}d-{k}"
       for k, (shape, mode, kw) in enumerate(CASES)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, mode, kw", CASES, ids=IDS)
def test_values_gradients_and_names_match_torch(shape: tuple, mode: str, kw: dict, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    compare_with_torch(lambda lib, t: lib.interpolate(t[0], mode=mode, **kw), [randn(*shape, seed=3)], dtype)
    data = randn(*shape, seed=3).astype(dtype)
    ours = F.interpolate(leaf(data), mode=mode, **kw)
    theirs = torch.nn.functional.interpolate(torch.tensor(data, requires_grad=True), mode=mode, **kw)
    assert ours.grad_fn.name() == theirs.grad_fn.name()
    assert ours.dtype.numpy == np.dtype(dtype)


@pytest.mark.parametrize("index", [0, 4, 9, 12, 15, 17, 18, 20, 22])
def test_gradients_match_finite_differences(index: int) -> None:
    shape, mode, kw = CASES[index]
    fn = lambda x: F.interpolate(x, mode=mode, **kw)  # noqa: E731
    x = leaf(randn(*shape, seed=5))
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


SCALED_EQUAL_SIZES = [((1, 2, 3), "nearest", 1.3), ((1, 2, 3, 4), "nearest", 1.3), ((1, 2, 5, 3), "nearest", 2.1),
                      ((1, 2, 3), "linear", 1.3), ((1, 2, 3, 4), "bilinear", (1.3, 2.0)),
                      ((1, 1, 3, 4, 5), "trilinear", 1.3), ((1, 1, 3, 4, 5), "nearest", (2.0, 1.1, 1.2))]


@pytest.mark.parametrize("shape, mode, scale", SCALED_EQUAL_SIZES)
def test_scale_factors_that_keep_or_double_a_size_match_torch(shape: tuple, mode: str, scale: Any) -> None:
    # A scale factor whose output size equals (or doubles) the input's still reads positions
    # through the scale, except where PyTorch's kernels shortcut: linear dims of unchanged size
    # copy, and 2-d nearest copies or halves the index.
    torch = pytest.importorskip("torch")
    data = randn(*shape, seed=7)
    x, reference = leaf(data), torch.tensor(data, requires_grad=True)
    ours = F.interpolate(x, scale_factor=scale, mode=mode)
    theirs = torch.nn.functional.interpolate(reference, scale_factor=scale, mode=mode)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
    if mode != "nearest" or len(shape) == 4:
        # (PyTorch's 1-d and 3-d nearest backward kernels take the shortcut their forward
        # kernels skip; the gradient here is the forward's adjoint: see the finite differences.)
        weights = randn(*theirs.shape, seed=8)
        (ours * leaf(weights, False)).sum().backward()
        (theirs * torch.tensor(weights)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), reference.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert gradcheck(lambda x: F.interpolate(x, scale_factor=scale, mode=mode), (leaf(data),))


def test_known_values() -> None:
    np.testing.assert_array_equal(F.interpolate(tapegrad.tensor([[[1.0, 2.0]]]), scale_factor=2).numpy(),
                                  [[[1, 1, 2, 2]]])
    np.testing.assert_allclose(F.interpolate(tapegrad.tensor([[[1.0, 2.0]]]), size=4, mode="linear",
                                             align_corners=True).numpy(), [[[1, 4 / 3, 5 / 3, 2]]], rtol=1e-6)
    # half-pixel centres: the ends copy the edge values, the middle mixes a quarter and three quarters
    np.testing.assert_allclose(F.interpolate(tapegrad.tensor([[[1.0, 2.0]]]), size=4, mode="linear").numpy(),
                               [[[1, 1.25, 1.75, 2]]])
    square = tapegrad.arange(4.0).reshape(1, 1, 2, 2)
    np.testing.assert_allclose(F.interpolate(square, scale_factor=2, mode="bilinear",
                                             align_corners=True).numpy()[0, 0, 0], [0, 1 / 3, 2 / 3, 1], rtol=1e-6)


def test_upsample_modules() -> None:
    x = randn(1, 2, 3, 3).astype(np.float32)
    up = nn.Upsample(scale_factor=2, mode="bilinear")
    assert repr(up) == "Upsample(scale_factor=2.0, mode='bilinear')"
    np.testing.assert_array_equal(up(tapegrad.tensor(x)).numpy(),
                                  F.interpolate(tapegrad.tensor(x), scale_factor=2.0, mode="bilinear").numpy())
    sized = nn.Upsample(size=(3, 4), mode="bilinear", align_corners=True)
    assert repr(sized) == "Upsample(size=(3, 4), mode='bilinear')"
    assert repr(nn.UpsamplingNearest2d(scale_factor=2)) == "UpsamplingNearest2d(scale_factor=2.0, mode='nearest')"
    bilinear = nn.UpsamplingBilinear2d(size=5)
    assert repr(bilinear) == "UpsamplingBilinear2d(size=5, mode='bilinear')" and bilinear.align_corners is True
    np.testing.assert_array_equal(bilinear(tapegrad.tensor(x)).numpy(),
                                  F.interpolate(tapegrad.tensor(x), 5, mode="bilinear", align_corners=True).numpy())


def test_upsample_modules_match_torch() -> None:
    torch = pytest.importorskip("torch")
    x = randn(1, 2, 3, 3).astype(np.float32)
    for make in (lambda m: m.Upsample(scale_factor=(2, 1.5), mode="nearest-exact"),
                 lambda m: m.UpsamplingBilinear2d(scale_factor=2), lambda m: m.UpsamplingNearest2d(size=(4, 5))):
        ours, theirs = make(nn), make(torch.nn)
        assert repr(ours) == repr(theirs)
        np.testing.assert_allclose(ours(tapegrad.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(), rtol=1e-6)


def test_errors() -> None:
    x = tapegrad.randn(1, 2, 5, 4)
    _error(lambda: F.interpolate(x), ValueError, "either size or scale_factor should be defined")
    _error(lambda: F.interpolate(x, size=3, scale_factor=2), ValueError,
           "only one of size or scale_factor should be defined")
    _error(lambda: F.interpolate(x, size=(3,)), ValueError,
           "Input and output must have the same number of spatial dimensions, but got input with spatial dimensions "
           "of [5, 4] and output size of (3,).")
    _error(lambda: F.interpolate(x, scale_factor=(3, 2, 1)), ValueError,
           "Input and scale_factor must have the same number of spatial dimensions")
    _error(lambda: F.interpolate(x, size=3, align_corners=True), ValueError,
           "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | "
           "trilinear")
    _error(lambda: F.interpolate(x, size=3, mode="linear"), NotImplementedError,
           "Got 4D input, but linear mode needs 3D input")
    _error(lambda: F.interpolate(x, size=3, mode="foo"), NotImplementedError,
           "Input Error: Only 3D, 4D and 5D input Tensors supported (got 4D) for the modes:", "(got foo)")
    _error(lambda: F.interpolate(tapegrad.randn(2, 3), size=3), NotImplementedError, "(got 2D)")
    _error(lambda: F.interpolate(x, size=3, antialias=True), ValueError,
           "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes")
    _error(lambda: F.interpolate(x, size=3, recompute_scale_factor=True), ValueError,
           "recompute_scale_factor is not meaningful with an explicit size.")
    _error(lambda: F.interpolate(x, size=0), RuntimeError,
           "Input and output sizes should be greater than 0, but got input (H: 5, W: 4) output (H: 0, W: 0)")
    _error(lambda: F.interpolate(x, size=(3, 2.5)), TypeError, "expected size to be one of int")
    _error(lambda: F.interpolate(tapegrad.randn(1, 2, 3), size=3, mode="bicubic"), NotImplementedError,
           "Input Error: Only 3D, 4D and 5D input Tensors supported (got 3D)", "(got bicubic)")
    _error(lambda: F.interpolate(x.long(), size=3, mode="bicubic"), NotImplementedError,
           "\"compute_indices_weights_cubic\" not implemented for 'Long'")
    _error(lambda: F.interpolate(x, size=3, mode="lanczos"), ValueError, "Lanczos mode requires antialias=True")
    _error(lambda: F.interpolate(x, size=3, mode="lanczos", antialias=True, align_corners=True), ValueError,
           "Lanczos mode does not support align_corners=True")
    _error(lambda: F.interpolate(x.long(), size=3), NotImplementedError, "not implemented for 'Long'")

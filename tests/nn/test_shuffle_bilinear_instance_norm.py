"""pixel_shuffle / pixel_unshuffle, bilinear and instance norm, functions and modules: values and
gradients against PyTorch (float64), running statistics, finite differences, reprs and
PyTorch's errors."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from torch_errors import raises_as_torch


def _data(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _compare(fn: Callable[..., Any], arrays: list[np.ndarray]) -> None:
    """``fn(lib, *tensors)`` in both libraries: equal values and input gradients."""
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tapegrad, torch):
        inputs = [lib.tensor(a, requires_grad=True) for a in arrays]
        out = fn(lib, *inputs)
        (out * lib.tensor(_data(tuple(out.shape), 9))).sum().backward()
        results.append([out, *[x.grad for x in inputs]])
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("shape, factor", [((2, 8, 2, 3), 2), ((9, 1, 2), 3), ((2, 1, 4, 2, 2), 2)], ids=str)
def test_pixel_shuffle_and_unshuffle_match_torch(shape: tuple, factor: int) -> None:
    _compare(lambda L, x: L.nn.functional.pixel_shuffle(x, factor), [_data(shape, 1)])
    unshuffled = shape[:-3] + (shape[-3] // factor ** 2, shape[-2] * factor, shape[-1] * factor)
    _compare(lambda L, x: L.nn.functional.pixel_unshuffle(x, factor), [_data(unshuffled, 2)])
    x = tapegrad.tensor(_data(shape, 3))
    np.testing.assert_array_equal(F.pixel_unshuffle(F.pixel_shuffle(x, factor), factor).numpy(), x.numpy())


@pytest.mark.torch
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_matches_torch(bias: bool) -> None:
    torch = pytest.importorskip("torch")
    tapegrad.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = nn.Bilinear(3, 4, 2, bias=bias, dtype=tapegrad.float64), torch.nn.Bilinear(3, 4, 2, bias=bias,
                                                                                             dtype=torch.float64)
    assert repr(ours) == repr(theirs)
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())  # the same draws
    params = [p.detach().numpy() for p in ours.parameters()]
    _compare(lambda L, a, b, *w: L.nn.functional.bilinear(a, b, *w), [_data((2, 5, 3), 4), _data((2, 5, 4), 5),
                                                                       *params])


@pytest.mark.torch
@pytest.mark.parametrize("options", [dict(), dict(affine=True), dict(track_running_stats=True, momentum=0.3),
                                     dict(affine=True, track_running_stats=True, bias=False)], ids=str)
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_instance_norm_modules_match_torch(dims: int, options: dict) -> None:
    torch = pytest.importorskip("torch")
    shape = (2, 3) + (4, 3, 2)[:dims]
    x = _data(shape, 6)
    results, reprs = [], []
    for lib in (tapegrad, torch):
        module = getattr(lib.nn, f"InstanceNorm{dims}d")(3, dtype=lib.float64, **options)
        inputs = lib.tensor(x, requires_grad=True)
        outs = [module(inputs), module(inputs[0])]  # batched, then unbatched
        module.eval()
        outs.append(module(inputs * 2))
        sum((o * lib.tensor(_data(tuple(o.shape), 7))).sum() for o in outs).backward()
        results.append([*outs, inputs.grad, *module.parameters(), *module.buffers()])
        reprs.append(repr(module))
    assert reprs[0] == reprs[1]
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_instance_norm_gradcheck_and_reprs() -> None:
    x = tapegrad.tensor(_data((2, 3, 4), 8), requires_grad=True)
    w = tapegrad.tensor(_data((3,), 9), requires_grad=True)
    assert tapegrad.autograd.gradcheck(lambda x, w: F.instance_norm(x, weight=w, bias=w * 2), (x, w))
    assert repr(nn.InstanceNorm3d(4, affine=True)) == ("InstanceNorm3d(4, eps=1e-05, momentum=0.1, affine=True, "
                                                       "bias=True, track_running_stats=False)")
    assert repr(nn.PixelUnshuffle(2)) == "PixelUnshuffle(downscale_factor=2)"


ERRORS: list[Callable[[Any], Any]] = [
    lambda L: L.nn.functional.pixel_shuffle(L.ones(3, 3), 2),
    lambda L: L.nn.functional.pixel_shuffle(L.ones(1, 6, 2, 2), 2),
    lambda L: L.nn.functional.pixel_shuffle(L.ones(1, 4, 2, 2), 0),
    lambda L: L.nn.functional.pixel_unshuffle(L.ones(1, 1, 3, 4), 2),
    lambda L: L.nn.functional.pixel_unshuffle(L.ones(1, 1, 4, 3), 2),
    lambda L: L.nn.functional.pixel_unshuffle(L.ones(1, 1, 4, 4), -1),
    lambda L: L.nn.functional.bilinear(L.ones(2, 4), L.ones(2, 4), L.ones(5, 3, 4)),
    lambda L: L.nn.functional.bilinear(L.ones(2, 3), L.ones(2, 5), L.ones(5, 3, 4)),
    lambda L: L.nn.functional.bilinear(L.ones(2, 3), L.ones(3, 4), L.ones(5, 3, 4)),
    lambda L: L.nn.functional.bilinear(L.ones(2, 3), L.ones(2, 4), L.ones(5, 3, 4), L.ones(4)),
    lambda L: L.nn.InstanceNorm2d(3)(L.ones(2, 3)),
    lambda L: L.nn.InstanceNorm2d(3, affine=True)(L.ones(1, 2, 3, 4)),
]


@pytest.mark.torch
@pytest.mark.parametrize("call", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torch(call: Callable[[Any], Any]) -> None:
    raises_as_torch(call)


def test_instance_norm_warns_as_torch_when_the_size_is_not_num_features() -> None:
    with pytest.warns(UserWarning, match="input's size at dim=1 does not match num_features"):
        nn.InstanceNorm1d(4)(tapegrad.ones(2, 3, 5))


def test_docstring_examples_run() -> None:
    import doctest

    from tapegrad.ops import pixel_shuffle

    result = doctest.testmod(pixel_shuffle, extraglobs={"tapegrad": tapegrad, "nn": nn, "F": F})
    assert result.attempted and not result.failed

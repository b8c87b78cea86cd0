"""F.unfold / F.fold and nn.Unfold / nn.Fold: gradients by finite differences (first and second
order, float64), values and gradients against PyTorch for every geometry argument, the two as
each other's adjoint, module reprs and PyTorch's errors."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from torch_errors import raises_as_torch
from tapegrad.autograd import gradcheck, gradgradcheck

GEOMETRIES: list[tuple[tuple[int, ...], dict]] = [
    ((2, 3, 5, 6), dict(kernel_size=2)),
    ((3, 5, 6), dict(kernel_size=(2, 3), padding=(1, 0), stride=(2, 1), dilation=(1, 2))),
    ((1, 2, 4, 4), dict(kernel_size=3, padding=1, stride=2)),
    ((2, 1, 4, 5), dict(kernel_size=(1, 2), stride=(3, 2))),  # blocks that skip positions
    ((0, 1, 3, 3), dict(kernel_size=2)),
]


def _data(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("shape, kw", GEOMETRIES[:4])
def test_unfold_and_fold_gradcheck(shape: tuple, kw: dict) -> None:
    x = tapegrad.tensor(_data(shape, 1), requires_grad=True)
    assert gradcheck(lambda x: F.unfold(x, **kw), (x,))
    columns = F.unfold(x, **kw).detach().requires_grad_()
    assert gradcheck(lambda c: F.fold(c, shape[-2:], **kw), (columns,))
    assert gradgradcheck(lambda c: F.fold(c, shape[-2:], **kw).square(), (columns,))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, kw", GEOMETRIES)
def test_unfold_and_fold_match_torch(shape: tuple, kw: dict, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    x = _data(shape, 2).astype(dtype)
    a, b = tapegrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    columns, expected = F.unfold(a, **kw), torch.nn.functional.unfold(b, **kw)
    np.testing.assert_allclose(columns.detach().numpy(), expected.detach().numpy(), **tol)
    g = _data(tuple(expected.shape), 3).astype(dtype)
    c, d = tapegrad.tensor(g, requires_grad=True), torch.tensor(g, requires_grad=True)
    folded, expected_folded = F.fold(c, shape[-2:], **kw), torch.nn.functional.fold(d, shape[-2:], **kw)
    np.testing.assert_allclose(folded.detach().numpy(), expected_folded.detach().numpy(), **tol)
    h = _data(tuple(expected_folded.shape), 4).astype(dtype)
    (columns * tapegrad.tensor(g)).sum().backward()
    (expected * torch.tensor(g)).sum().backward()
    (folded * tapegrad.tensor(h)).sum().backward()
    (expected_folded * torch.tensor(h)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **tol)
    np.testing.assert_allclose(c.grad.numpy(), d.grad.numpy(), **tol)


def test_fold_is_the_adjoint_of_unfold() -> None:
    # <unfold(x), c> == <x, fold(c)> for any x and c.
    shape, kw = (2, 3, 6, 5), dict(kernel_size=(3, 2), padding=1, stride=(2, 1), dilation=(2, 1))
    x = tapegrad.tensor(_data(shape, 5))
    columns = F.unfold(x, **kw)
    c = tapegrad.tensor(_data(tuple(columns.shape), 6))
    np.testing.assert_allclose((columns * c).sum().item(), (x * F.fold(c, shape[-2:], **kw)).sum().item(),
                               rtol=1e-12)


def test_modules_and_bool_blocks() -> None:
    x = tapegrad.tensor(_data((1, 2, 4, 4), 7))
    unfold, fold = nn.Unfold(2, stride=2), nn.Fold((4, 4), 2, stride=2)
    assert repr(unfold) == "Unfold(kernel_size=2, dilation=1, padding=0, stride=2)"
    assert repr(fold) == "Fold(output_size=(4, 4), kernel_size=2, dilation=1, padding=0, stride=2)"
    np.testing.assert_array_equal(fold(unfold(x)).numpy(), x.numpy())  # blocks that tile the input
    mask = F.unfold(tapegrad.tensor(np.eye(3, dtype=bool)[None, None]), 2)
    assert mask.dtype == tapegrad.bool and mask.numpy()[0, :, 0].tolist() == [True, False, False, True]
    first_block = np.zeros((1, 4, 4), bool)
    first_block[0, :, 0] = True
    folded = F.fold(tapegrad.tensor(first_block), (3, 3), 2)  # overlapping True and False make True
    assert folded.dtype == tapegrad.bool and folded.numpy()[0, 0].tolist() == [[True, True, False],
                                                                               [True, True, False],
                                                                               [False, False, False]]


ERRORS: list[Callable[[Any], Any]] = [
    lambda L: L.nn.functional.unfold(L.ones(3), 2),
    lambda L: L.nn.functional.unfold(L.ones(3, 3), 2),
    lambda L: L.nn.functional.unfold(L.ones(1, 1, 3, 3), 4),
    lambda L: L.nn.functional.unfold(L.ones(1, 1, 3, 3), (2, 2, 2)),
    lambda L: L.nn.functional.unfold(L.ones(1, 1, 3, 3), 2, stride=0),
    lambda L: L.nn.functional.unfold(L.ones(1, 1, 3, 3), 2, padding=-1),
    lambda L: L.nn.functional.unfold(L.ones(1, 1, 3, 3), 2, dilation=0),
    lambda L: L.nn.functional.unfold(L.ones(1, 1, 3, 3), 0),
    lambda L: L.nn.functional.unfold(L.ones(1, 0, 3, 3), 2),
    lambda L: L.nn.functional.unfold(L.ones(1, 1, 1, 3, 3), 2),
    lambda L: L.nn.functional.unfold(L.ones(1, 1, 3, 3, dtype=L.int64), 2),
    lambda L: L.nn.functional.fold(L.ones(1, 5, 4), (3, 3), 2),
    lambda L: L.nn.functional.fold(L.ones(5, 4), (3, 3), 2),
    lambda L: L.nn.functional.fold(L.ones(1, 4, 5), (3, 3), 2),
    lambda L: L.nn.functional.fold(L.ones(4, 4, 4, 4), (3, 3), 2),
    lambda L: L.nn.functional.fold(L.ones(4), (3, 3), 2),
    lambda L: L.nn.functional.fold(L.ones(1, 4, 4), (3, 3, 3), 2),
    lambda L: L.nn.functional.fold(L.ones(1, 4, 4), (3, 3), 2, stride=0, dilation=0),
    lambda L: L.nn.functional.fold(L.ones(1, 4, 4), (1, 1), 2),
    lambda L: L.nn.functional.fold(L.ones(1, 4, 0), (3, 3), 2),
    lambda L: L.nn.functional.fold(L.ones(1, 4, 4, dtype=L.int64), (3, 3), 2),
    lambda L: L.nn.functional.fold(L.ones(1, 4, 4, dtype=L.int32), (3, 3), 2),
]


@pytest.mark.torch
@pytest.mark.parametrize("call", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torch(call: Callable[[Any], Any]) -> None:
    raises_as_torch(call)


def test_docstring_examples_run() -> None:
    import doctest

    from tapegrad.nn import fold as modules
    from tapegrad.ops import fold as functional

    for module in (functional, modules):
        result = doctest.testmod(module, extraglobs={"tapegrad": tapegrad, "nn": nn, "F": F})
        assert result.attempted and not result.failed, module.__name__

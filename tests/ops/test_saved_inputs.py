"""Elementwise ops save only what the VJP of an input that requires grad uses, as PyTorch does.

``y[1] = y[1] * 2`` must not break the backward of ``y[1] * 2``: the product's gradient with
respect to ``y[1]`` needs only the 2, so ``y[1]`` (which the assignment then overwrites) is not
saved. Where a saved input *is* needed, the in-place write is still an error, with PyTorch's
message. Each case runs on tapegrad and, when it is installed, on torch: same outcome and
gradients.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad
from ophelpers import torch

LIBRARIES = [tapegrad] + ([torch] if torch is not None else [])
DATA = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def _grad_after_writing_row(lib: Any, compute: Callable[[Any, Any, Any], Any]) -> np.ndarray:
    """The gradient of ``y.sum()`` for ``y = x.clone(); y[1] = compute(y[1], x, lib)``."""
    x = lib.tensor(DATA, dtype=lib.float64, requires_grad=True)
    y = x.clone()
    y[1] = compute(y[1], x, lib)
    y.sum().backward()
    return np.asarray(x.grad.detach().numpy())


WRITES = {
    "mul-scalar": lambda row, x, lib: row * 2,
    "rmul-scalar": lambda row, x, lib: 3 * row,
    "div-scalar": lambda row, x, lib: row / 4,
    "mul-constant-tensor": lambda row, x, lib: row * lib.tensor([1.0, -2.0, 0.5], dtype=lib.float64),
    "div-by-constant-tensor": lambda row, x, lib: row / lib.tensor([1.0, -2.0, 0.5], dtype=lib.float64),
}
EXPECTED = {
    "mul-scalar": [[1, 1, 1], [2, 2, 2]],
    "rmul-scalar": [[1, 1, 1], [3, 3, 3]],
    "div-scalar": [[1, 1, 1], [0.25, 0.25, 0.25]],
    "mul-constant-tensor": [[1, 1, 1], [1, -2, 0.5]],
    "div-by-constant-tensor": [[1, 1, 1], [1, -0.5, 2]],
}


@pytest.mark.parametrize("lib", LIBRARIES, ids=lambda lib: lib.__name__)
@pytest.mark.parametrize("case", list(WRITES))
def test_writing_into_an_input_whose_value_no_gradient_needs(lib: Any, case: str) -> None:
    got = _grad_after_writing_row(lib, WRITES[case])
    np.testing.assert_allclose(got, np.array(EXPECTED[case], dtype=np.float64))


def _modified_input_message(lib: Any, compute: Callable[[Any, Any], Any]) -> str:
    """The error of ``z = compute(y[1], w)``, then ``y[1] = 0``, then ``z.sum().backward()``."""
    x = lib.tensor(DATA, dtype=lib.float64, requires_grad=True)
    w = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
    y = x.clone()
    z = compute(y[1], w)
    y[1] = 0
    with pytest.raises(RuntimeError) as caught:
        z.sum().backward()
    return str(caught.value)


NEEDED = {
    "mul-by-a-tensor-requiring-grad": lambda row, w: row * w,  # w's gradient needs the row
    "divided-by-the-row": lambda row, w: w / row,  # the quotient's gradients need the divisor
    "pow-with-a-tensor-exponent": lambda row, w: w ** row,  # the exponent's gradient needs it
    "pow-of-the-row": lambda row, w: row ** w,  # the base's gradient needs the base
    "constant-base-pow-row": lambda row, w: w.detach() ** row,  # the exponent's gradient needs it
}


@pytest.mark.parametrize("lib", LIBRARIES, ids=lambda lib: lib.__name__)
@pytest.mark.parametrize("case", list(NEEDED))
def test_writing_into_an_input_a_gradient_needs_is_an_error(lib: Any, case: str) -> None:
    message = _modified_input_message(lib, NEEDED[case])
    assert "modified by an inplace operation" in message


def test_a_scalar_product_saves_nothing_of_the_tensor() -> None:
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    step = (x * 2).grad_fn
    assert step.saved_values() == (None, 2)
    both = (x * tapegrad.tensor([3.0, 4.0], requires_grad=True)).grad_fn
    assert all(isinstance(v, tapegrad.Tensor) for v in both.saved_values())


def test_higher_order_gradient_through_a_product_with_one_constant_factor() -> None:
    # d/dx of (d/dx (x * c * x)) = 2c: the inner backward records mul steps whose saved values
    # depend on which factors require grad.
    x = tapegrad.tensor([1.5, -2.0], dtype=tapegrad.float64, requires_grad=True)
    c = tapegrad.tensor([3.0, 0.5], dtype=tapegrad.float64)
    (grad,) = tapegrad.autograd.grad((x * c * x).sum(), x, create_graph=True)
    np.testing.assert_allclose(grad.detach().numpy(), 2 * c.numpy() * x.detach().numpy())
    (second,) = tapegrad.autograd.grad(grad.sum(), x)
    np.testing.assert_allclose(second.numpy(), 2 * c.numpy())

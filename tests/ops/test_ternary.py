"""lerp, addcmul, addcdiv and xlogy beyond the op table: the in-place forms (the optimizer
idiom), PyTorch's dtype errors, and a gradient for one operand only."""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad


def test_in_place_forms_update_under_no_grad_as_out_of_place_ones_compute():
    rng = np.random.default_rng(0)
    x, a, b = (rng.standard_normal((2, 3)) for _ in range(3))
    p = tapegrad.tensor(x, requires_grad=True)
    ta, tb = tapegrad.tensor(a), tapegrad.tensor(np.abs(b) + 1)
    expected = tapegrad.addcdiv(tapegrad.lerp(tapegrad.addcmul(p.detach(), ta, ta, value=0.1), ta, 0.9), ta, tb,
                                value=-1)
    with tapegrad.no_grad():
        version = p._version
        assert p.addcmul_(ta, ta, value=0.1) is p
        p.lerp_(ta, 0.9)
        p.addcdiv_(ta, tb, value=-1)
    assert p._version == version + 3 and p.grad_fn is None
    np.testing.assert_array_equal(p.detach().numpy(), expected.numpy())


def test_dtype_errors_match_torch():
    ints = tapegrad.tensor([1, 2])
    with pytest.raises(NotImplementedError, match="\"lerp_kernel_scalar\" not implemented for 'Long'"):
        tapegrad.lerp(ints, ints, 0.5)
    with pytest.raises(RuntimeError, match="Integer division with addcdiv is no longer supported"):
        tapegrad.addcdiv(ints, ints, ints)
    assert tapegrad.addcmul(ints, ints, tapegrad.tensor([3, 4]), value=2).tolist() == [7, 18]


def test_in_place_forms_check_and_cast_as_the_out_of_place_ones():
    ints = tapegrad.tensor([1, 2])
    with pytest.raises(RuntimeError, match="Integer division with addcdiv is no longer supported"):
        ints.addcdiv_(tapegrad.tensor([3, 4]), tapegrad.tensor([5, 6]))
    assert ints.tolist() == [1, 2]
    assert ints.addcmul_(tapegrad.tensor([3, 4]), tapegrad.tensor([5, 6]), value=2.5).tolist() == [31, 50]


def test_xlogy_gradient_of_the_input_alone():
    # Only the input takes a gradient: the step must still save it (its zeros decide the rule).
    x = tapegrad.tensor([0.0, 1.0, 2.0], dtype=tapegrad.float64, requires_grad=True)
    tapegrad.xlogy(x, tapegrad.tensor([0.0, 2.0, 3.0], dtype=tapegrad.float64)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, np.log(2.0), np.log(3.0)], rtol=1e-15)

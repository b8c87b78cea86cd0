"""lerp, addcmul and addcdiv beyond the op table: their in-place forms (the optimizer idiom)
and PyTorch's dtype errors."""
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
        version = p._version.value
        assert p.addcmul_(ta, ta, value=0.1) is p
        p.lerp_(ta, 0.9)
        p.addcdiv_(ta, tb, value=-1)
    assert p._version.value == version + 3 and p.grad_fn is None
    np.testing.assert_array_equal(p.detach().numpy(), expected.numpy())


def test_dtype_errors_match_torch():
    ints = tapegrad.tensor([1, 2])
    with pytest.raises(NotImplementedError, match="\"lerp_kernel_scalar\" not implemented for 'Long'"):
        tapegrad.lerp(ints, ints, 0.5)
    with pytest.raises(RuntimeError, match="Integer division with addcdiv is no longer supported"):
        tapegrad.addcdiv(ints, ints, ints)
    assert tapegrad.addcmul(ints, ints, tapegrad.tensor([3, 4]), value=2).tolist() == [7, 18]

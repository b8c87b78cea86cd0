"""``tapegrad.testing``: assert_close's tolerances, checks and messages (PyTorch's, compared with
PyTorch's own where it is installed), assert_allclose and make_tensor."""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad.testing import assert_allclose, assert_close, make_tensor

# Calls of ``tc.assert_close`` with ``L`` the library; each outcome (passing, or the exception's
# type and message) must be PyTorch's.
CASES = [
    "tc.assert_close(L.tensor([1., 2., 3.]), L.tensor([1., 2.1, 3.]))",
    "tc.assert_close(L.tensor([1., 2., 3.]), L.tensor([1., 2., 3. + 1e-6]))",
    "tc.assert_close(L.tensor([1, 2]), L.tensor([1, 3]))",
    "tc.assert_close(L.tensor([1., 2.]), L.tensor([1., 2.], dtype=L.float64))",
    "tc.assert_close(L.tensor([1., 2.]), L.tensor([1., 2., 3.]))",
    "tc.assert_close(L.tensor([1., float('nan')]), L.tensor([1., float('nan')]))",
    "tc.assert_close(L.tensor([1., float('nan')]), L.tensor([1., float('nan')]), equal_nan=True)",
    "tc.assert_close(1.0, 1.0 + 1e-9)",
    "tc.assert_close(1.0, 1.1)",
    "tc.assert_close(1, 2)",
    "tc.assert_close(1, 1.0)",
    "tc.assert_close(True, False)",
    "tc.assert_close([L.tensor(1.), L.tensor(2.)], [L.tensor(1.), L.tensor(2.5)])",
    "tc.assert_close({'a': L.tensor(1.)}, {'a': L.tensor(1.5)})",
    "tc.assert_close({'a': L.tensor(1.)}, {'b': L.tensor(1.)})",
    "tc.assert_close([[1.0, 2.0]], [[1.0, 2.5]])",
    "tc.assert_close(L.tensor([1., 2.]), L.tensor([1., 2.5]), rtol=0.3, atol=0)",
    "tc.assert_close(L.tensor([1., 2.]), L.tensor([1., 2.5]), rtol=0.3)",
    "tc.assert_close(L.tensor([1., 2.]), L.tensor([1., 2.5]), msg='custom')",
    "tc.assert_close(L.tensor([1., 2.]), L.tensor([1., 2.5]), msg=lambda m: 'X' + m[:20])",
    "tc.assert_close(L.tensor([[1., 2.], [3, 4]]), L.tensor([[1., 2.], [3, 5]]))",
    "tc.assert_close(L.tensor([[1., 2.], [3, 4]]), L.tensor([[1.5, 2.], [3, 5]]))",
    "tc.assert_close(L.tensor(True), L.tensor(False))",
    "tc.assert_close(L.tensor(2.), L.tensor(2.5))",
    "tc.assert_close(L.tensor([1., 2.]), L.tensor([1, 2]), check_dtype=False)",
    "tc.assert_close(L.tensor([1., 2.]), L.tensor([1, 3]), check_dtype=False)",
    "tc.assert_close(L.tensor([1, 2], dtype=L.int32), L.tensor([1, 3]), check_dtype=False)",
    "tc.assert_close(L.tensor([1., 2.], requires_grad=True), L.tensor([1., 2.]))",
    "tc.assert_close(L.tensor([1e-8]), L.tensor([0.]))",
    "tc.assert_close(L.tensor([float('inf')]), L.tensor([float('inf')]))",
    "tc.assert_close(L.tensor([float('inf')]), L.tensor([float('-inf')]))",
    "tc.assert_close(L.ones(2, 3).t(), L.ones(3, 2))",
    "tc.assert_close(L.ones(2, 3).t(), L.ones(3, 2), check_stride=True)",
    "tc.assert_close(L.tensor([0., 2.]), L.tensor([1e-3, 2.]))",
    "tc.assert_close(np.array([1., 2.]), np.array([1., 2.5]))",
    "tc.assert_close(L.nn.Parameter(L.ones(2)), L.ones(2))",
    "tc.assert_close(L.tensor([1.]), None)",
    "tc.assert_close((1, 2), (1, 2, 3))",
    "tc.assert_close(L.zeros(0), L.zeros(0))",
]


def _outcome(call: str, lib: Any) -> Any:
    try:
        eval(call, {"L": lib, "tc": lib.testing, "np": np})
    except Exception as error:  # noqa: BLE001 - the error is the outcome compared
        return type(error).__name__, str(error).replace("torch.", "tapegrad.")
    return "passed"


@pytest.mark.parametrize("call", CASES)
def test_outcomes_match_pytorch(call: str) -> None:
    ours = _outcome(call, tapegrad)
    torch = pytest.importorskip("torch")
    assert ours == _outcome(call, torch)


def test_messages_name_the_greatest_differences_and_the_tolerances() -> None:
    with pytest.raises(AssertionError) as failure:
        assert_close(tapegrad.tensor([[1., 2.], [3., 4.]]), tapegrad.tensor([[1., 2.], [3., 5.]]))
    assert str(failure.value) == (
        "Tensor-likes are not close!\n\nMismatched elements: 1 / 4 (25.0%)\n"
        "Greatest absolute difference: 1.0 at index (1, 1) (up to 1e-05 allowed)\n"
        "Greatest relative difference: 0.20000000298023224 at index (1, 1) (up to 1.3e-06 allowed)")
    with pytest.raises(AssertionError, match=re.escape("Tensor-likes are not equal!")):
        assert_close(tapegrad.tensor([1, 2]), tapegrad.tensor([1, 3]))
    with pytest.raises(AssertionError, match=re.escape("The failure occurred for item ['w'][1]")):
        assert_close({"w": [1.0, 2.0]}, {"w": [1.0, 3.0]})


def test_default_tolerances_are_the_dtypes() -> None:
    # float32: rtol 1.3e-6, atol 1e-5; float64: 1e-7 both; integers: equality.
    assert_close(tapegrad.tensor([1.0]), tapegrad.tensor([1.0 + 1e-5]))
    one = tapegrad.tensor([1.0], dtype=tapegrad.float64)
    with pytest.raises(AssertionError):
        assert_close(one, one + 1e-5)
    assert_close(one, one + 1e-7)
    with pytest.raises(ValueError, match="Both 'rtol' and 'atol' must be either specified or omitted, but got no atol"):
        assert_close(tapegrad.ones(1), tapegrad.ones(1), rtol=1e-3)


def test_dtype_check_and_promotion_when_unchecked() -> None:
    a = tapegrad.ones(2)
    with pytest.raises(AssertionError, match="'dtype' do not match: tapegrad.float32 != tapegrad.float64"):
        assert_close(a, a.double())
    assert_close(a, a.double() + 1e-6, check_dtype=False)  # compared in float64, float32's tolerances


def test_assert_allclose_is_deprecated_and_converts() -> None:
    with pytest.warns(FutureWarning, match="assert_allclose\\(\\)` is deprecated"):
        assert_allclose(tapegrad.tensor([1., 2.]), [1., 2.])
    with pytest.warns(FutureWarning), pytest.raises(AssertionError, match="Tensor-likes are not close"):
        assert_allclose(tapegrad.tensor([1., 2.]), [1., 2.5])


@pytest.mark.parametrize("dtype, low, high", [(tapegrad.float32, -9, 9), (tapegrad.float64, -9, 9),
                                              (tapegrad.int64, -9, 9), (tapegrad.uint8, 0, 9),
                                              (tapegrad.bool, 0, 1)])
def test_make_tensor_ranges_and_options(dtype: Any, low: int, high: int) -> None:
    t = make_tensor(40, 50, dtype=dtype, device="cpu")
    assert t.shape == (40, 50) and t.dtype is dtype and not t.requires_grad
    values = t.numpy().astype(np.float64)
    assert low <= values.min() and values.max() <= high and len(np.unique(values)) > 1
    nonzero = make_tensor((300,), dtype=dtype, low=0 if dtype is not tapegrad.bool else None,
                          high=2 if dtype is not tapegrad.bool else None, exclude_zero=True)
    assert bool((nonzero != 0).all())
    strided = make_tensor(3, 4, dtype=dtype, noncontiguous=True)
    assert strided.shape == (3, 4) and not strided.is_contiguous()
    if dtype.is_floating_point:
        assert make_tensor(2, dtype=dtype, requires_grad=True).requires_grad
        narrow = make_tensor(500, dtype=dtype, low=2.0, high=2.5)
        assert math.isclose(float(narrow.min()), 2.0, abs_tol=0.05) and float(narrow.max()) <= 2.5
    else:
        with pytest.raises(ValueError, match="requires_grad must be False for integral dtype"):
            make_tensor(2, dtype=dtype, requires_grad=True)


def test_module_examples_run() -> None:
    import doctest

    import tapegrad.testing as module

    result = doctest.testmod(module, extraglobs={"tapegrad": tapegrad})
    assert result.attempted >= 1 and result.failed == 0

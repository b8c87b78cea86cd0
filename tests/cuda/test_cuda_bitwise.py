"""The bitwise and integer ops (and, or, xor, not, shifts, gcd, lcm), fmax/fmin, ldexp/frexp and the
in-place comparison and logical methods on CUDA, against the CPU backend: values, dtypes,
gradients, in-place forms and the errors (which name the CUDA kernel, as PyTorch's do).

Runs in the CUDA simulator or on a GPU (see ``conftest.py``); tensors stay tiny::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_bitwise.py -q
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SKIP_REASON, assert_close, run_both, values

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

INTS = np.array([[12, -7, 0, 5], [-1, 2 ** 30 + 3, 9, -2 ** 20]], np.int64)
OTHERS = np.array([5, -3, 31, 0], np.int64)
COUNTS = np.array([[0, 1, 31, 32], [33, 63, 64, -1]], np.int64)

BINARY: list[tuple[str, Callable[..., Any]]] = [
    ("and", tapegrad.bitwise_and), ("or", tapegrad.bitwise_or), ("xor", tapegrad.bitwise_xor),
    ("lshift", tapegrad.bitwise_left_shift), ("rshift", tapegrad.bitwise_right_shift),
    ("gcd", tapegrad.gcd), ("lcm", tapegrad.lcm), ("fmax", tapegrad.fmax), ("fmin", tapegrad.fmin),
]


@pytest.mark.parametrize("dtype", [np.int32, np.int64], ids=lambda d: d.__name__)
@pytest.mark.parametrize("name,fn", BINARY, ids=[b[0] for b in BINARY])
def test_integer_binary_ops_match_cpu(name: str, fn: Callable[..., Any], dtype: Any) -> None:
    run_both(fn, [INTS.astype(dtype), OTHERS.astype(dtype)], grad=False)  # broadcast
    run_both(fn, [INTS.astype(dtype), INTS[::-1].astype(dtype)], grad=False)


@pytest.mark.parametrize("dtype", [np.int32, np.int64], ids=lambda d: d.__name__)
def test_shift_counts_out_of_range_match_cpu(dtype: Any) -> None:
    x = np.array([[5, -3, 1, -1], [7, -2 ** 30, 2 ** 30 + 1, 3]], dtype)
    for fn in (tapegrad.bitwise_left_shift, tapegrad.bitwise_right_shift):
        run_both(fn, [x, COUNTS.astype(dtype)], grad=False)


def test_numbers_bools_promotion_and_operators_match_cpu() -> None:
    flags = np.array([True, False, True, False])
    small = INTS.astype(np.int32)
    cases: list[tuple[Callable[..., Any], list[np.ndarray]]] = [
        (lambda a, b: a & b, [flags, flags[::-1].copy()]), (lambda a, b: a | True, [flags, flags]),
        (lambda a, b: a ^ 1, [flags, flags]), (lambda a, b: ~a, [flags, flags]), (lambda a, b: ~a, [small, small]),
        (lambda a, b: 6 & a, [small, small]), (lambda a, b: 3 << (b & 7), [small, small]),
        (lambda a, b: -100 >> (b & 7), [small, small]), (lambda a, b: a << 2, [small, small]),
        (lambda a, b: a & b, [small, INTS]),  # int32 with int64: int64
        (lambda a, b: a | b, [flags, small]),  # bool with int32: int32
        (lambda a, b: tapegrad.bitwise_left_shift(a, b), [flags.astype(np.int64), OTHERS[None, :] % 5]),
    ]
    for fn, arrays in cases:
        run_both(fn, arrays, grad=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
def test_fmax_fmin_values_and_gradients_match_cpu(dtype: Any) -> None:
    x = np.array([1.0, np.nan, -0.0, 0.0, np.nan, 3.0, -np.inf, 2.0], dtype)
    y = np.array([0.0, 1.0, 0.0, -0.0, np.nan, np.nan, 5.0, 2.0], dtype)
    for fn in (tapegrad.fmax, tapegrad.fmin):
        run_both(fn, [x, y], grad=False)
        run_both(fn, [values((2, 3), dtype, seed=1), values((3,), dtype, seed=2)])
        for a, b in ((x, y), (y, x)):
            got = fn(tapegrad.tensor(a, device="cuda"), tapegrad.tensor(b, device="cuda")).cpu().numpy()
            want = fn(tapegrad.tensor(a), tapegrad.tensor(b)).numpy()
            zeros = want == 0
            np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
def test_ldexp_and_frexp_match_cpu(dtype: Any) -> None:
    x = values((2, 3), dtype, seed=3)
    run_both(tapegrad.ldexp, [x, np.array([3, -2, 0], np.int64)])
    run_both(tapegrad.ldexp, [x, values((3,), dtype, -3, 3, seed=4)])
    run_both(tapegrad.ldexp, [x, values((3,), np.float32, -3, 3, seed=4)])
    run_both(tapegrad.ldexp, [np.array([1, -3, 8], np.int64), np.array([2, -1, 0], np.int32)], grad=False)
    # Exact with an integer exponent where 2**other alone under- or overflows.
    edge = np.array([2.0 ** 20, 2.0 ** -20, -0.0], dtype)
    run_both(tapegrad.ldexp, [edge, np.array([-150, 140, 3], np.int32)], grad=False)
    run_both(lambda t: tapegrad.frexp(t).mantissa, [values((2, 3), dtype, -100, 100, seed=5)])
    special = np.array([0.0, -0.0, 1.0, -5.5, 1e-40, 1e30, np.inf, -np.inf, np.nan], dtype)
    for device_result, cpu_result in zip(tapegrad.frexp(tapegrad.tensor(special, device="cuda")),
                                         tapegrad.frexp(tapegrad.tensor(special)), strict=True):
        assert device_result.device.type == "cuda"
        assert_close(device_result, cpu_result)


IN_PLACE: list[tuple[str, Callable[..., Any]]] = [
    ("bitwise_and_", lambda x, y: x.bitwise_and_(y)), ("__ior__", lambda x, y: x.__ior__(y)),
    ("bitwise_xor_", lambda x, y: x.bitwise_xor_(3)), ("bitwise_not_", lambda x, y: x.bitwise_not_()),
    ("__ilshift__", lambda x, y: x.__ilshift__(y)), ("bitwise_right_shift_", lambda x, y: x.bitwise_right_shift_(2)),
    ("gcd_", lambda x, y: x.gcd_(y)), ("lcm_", lambda x, y: x.lcm_(y)),
    ("eq_", lambda x, y: x.eq_(y)), ("lt_", lambda x, y: x.lt_(2)),
    ("greater_equal_", lambda x, y: x.greater_equal_(y)),
    ("logical_and_", lambda x, y: x.logical_and_(y)), ("logical_xor_", lambda x, y: x.logical_xor_(y)),
    ("logical_not_", lambda x, y: x.logical_not_()),
]


@pytest.mark.parametrize("name,fn", IN_PLACE, ids=[p[0] for p in IN_PLACE])
def test_in_place_forms_match_cpu(name: str, fn: Callable[..., Any]) -> None:
    x = np.array([[12, -7, 0, 5], [-1, 6, 9, 2]], np.int64)
    y = np.array([4, -3, 0, 5], np.int64) % 32
    results = []
    for device in ("cpu", "cuda"):
        target = tapegrad.tensor(x, device=device)
        assert fn(target, tapegrad.tensor(y, device=device)) is target
        results.append(target)
    assert results[1].device.type == "cuda"
    assert_close(results[1], results[0])


def test_ldexp_in_place_and_float_comparisons_in_place_match_cpu() -> None:
    x, e = values((2, 3), seed=6), np.array([1, -2, 3], np.int64)
    results = []
    for device in ("cpu", "cuda"):
        a = tapegrad.tensor(x, device=device)
        a.ldexp_(tapegrad.tensor(e, device=device))
        b = tapegrad.tensor(x, device=device)
        b.ge_(0.5)
        results.append((a, b))
    for got, want in zip(results[1], results[0], strict=True):
        assert_close(got, want)


def test_errors_name_the_cuda_kernels() -> None:
    f = tapegrad.tensor([1.0, 2.0], device="cuda")
    b = tapegrad.tensor([True, False], device="cuda")
    for fn, message in ((lambda: f & 1, '"bitwise_and_cuda" not implemented for \'Float\''),
                        (lambda: tapegrad.bitwise_not(f), '"bitwise_not_cuda" not implemented for \'Float\''),
                        (lambda: b << b, '"lshift_cuda" not implemented for \'Bool\''),
                        (lambda: tapegrad.gcd(f, f), '"gcd_cuda" not implemented for \'Float\''),
                        (lambda: tapegrad.ldexp(f, b), '"ldexp_cuda_exp" not implemented for \'Bool\'')):
        with pytest.raises(NotImplementedError) as error:
            fn()
        assert str(error.value) == message


def test_in_place_comparison_and_ldexp_on_a_tensor_with_history_match_cpu() -> None:
    x, e = values((2, 3), seed=7), np.array([1, -2, 3], np.int64)
    results = {}
    for device in ("cpu", "cuda"):
        leaf = tapegrad.tensor(x, device=device, requires_grad=True)
        compared = leaf * 1.0
        compared.gt_(0.0)
        scaled = leaf * 1.0
        scaled.ldexp_(tapegrad.tensor(e, device=device))
        assert compared.grad_fn.name() == "GtBackward0" and scaled.grad_fn.name() == "LdexpBackward0"
        (compared + scaled).sum().backward()
        results[device] = (compared, scaled, leaf.grad)
    for got, want in zip(results["cuda"], results["cpu"], strict=True):
        assert got.device.type == "cuda"
        assert_close(got, want)

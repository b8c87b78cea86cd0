"""``tapegrad.testing``: PyTorch's ``assert_close`` (with its tolerances, checks and messages),
the deprecated ``assert_allclose``, and ``make_tensor``.

>>> tapegrad.testing.assert_close(tapegrad.tensor([1., 2.]), tapegrad.tensor([1., 2.000001]))
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np

from . import dtypes as _dtypes
from .tensor import Tensor
from .user_warnings import warn_user

__all__ = ["assert_allclose", "assert_close", "make_tensor"]

# (rtol, atol) by dtype, PyTorch's defaults; other dtypes compare for equality.
_PRECISIONS: dict[str, tuple[float, float]] = {"float32": (1.3e-6, 1e-5), "float64": (1e-7, 1e-7)}


class _Mismatch(Exception):
    """A failed comparison: the exception type to raise, its message, and where in the inputs."""

    def __init__(self, kind: type[Exception], message: str, path: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.kind, self.message, self.path = kind, message, path


def assert_close(actual: Any, expected: Any, *, allow_subclasses: bool = True, rtol: float | None = None,
                 atol: float | None = None, equal_nan: bool = False, check_device: bool = True,
                 check_dtype: bool = True, check_layout: bool = True, check_stride: bool = False,
                 msg: str | Callable[[str], str] | None = None) -> None:
    """Raises AssertionError unless ``actual`` and ``expected`` (tensors, NumPy arrays, Python
    numbers, or sequences and mappings of them) are close: ``|actual - expected| <= atol + rtol *
    |expected|`` elementwise, with equal shapes, devices and dtypes (see the ``check_*`` flags)."""
    __tracebackhide__ = True
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no "
                         f"{'rtol' if rtol is None else 'atol'}.")
    options = dict(allow_subclasses=allow_subclasses, rtol=rtol, atol=atol, equal_nan=equal_nan,
                   check_device=check_device, check_dtype=check_dtype, check_stride=check_stride)
    try:
        _compare(actual, expected, (), options)
    except _Mismatch as mismatch:
        message = mismatch.message
        if mismatch.path:
            message += f"\n\nThe failure occurred for item {''.join(str([key]) for key in mismatch.path)}"
        if msg is not None:
            message = msg(message) if callable(msg) else msg
        raise mismatch.kind(message) from None


def _compare(actual: Any, expected: Any, path: tuple[Any, ...], options: dict[str, Any]) -> None:
    if actual is None or expected is None:
        if actual is not expected:
            raise _Mismatch(AssertionError, f"None mismatch: {actual} is not {expected}", path)
        return
    if _is_sequence(actual) and _is_sequence(expected):
        if len(actual) != len(expected):
            raise _Mismatch(AssertionError, f"The length of the sequences mismatch: {len(actual)} != {len(expected)}",
                            path)
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, (*path, i), options)
        return
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        missing, extra = set(expected) - set(actual), set(actual) - set(expected)
        if missing or extra:
            lines = ["The keys of the mappings do not match:"]
            if missing:
                lines.append(f"Missing keys in the actual mapping: {sorted(missing)}")
            if extra:
                lines.append(f"Additional keys in the actual mapping: {sorted(extra)}")
            raise _Mismatch(AssertionError, "\n".join(lines), path)
        for key in actual:
            _compare(actual[key], expected[key], (*path, key), options)
        return
    if isinstance(actual, bool) and isinstance(expected, bool):
        if actual is not expected:
            raise _Mismatch(AssertionError, f"Booleans mismatch: {actual} is not {expected}", path)
        return
    if _is_number(actual) and _is_number(expected):
        _compare_numbers(actual, expected, path, options)
        return
    if _tensor_like(actual, expected, options["allow_subclasses"]):
        _compare_tensors(_as_tensor(actual), _as_tensor(expected), path, options)
        return
    raise _Mismatch(TypeError, f"No comparison pair was able to handle inputs of type {type(actual)} and "
                               f"{type(expected)}.", path)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, complex, np.number)) and not isinstance(value, (bool, np.bool_))


def _tensor_like(actual: Any, expected: Any, allow_subclasses: bool) -> bool:
    if isinstance(actual, np.ndarray) and isinstance(expected, np.ndarray):
        return True
    if not (isinstance(actual, Tensor) and isinstance(expected, Tensor)):
        return False
    return allow_subclasses or type(actual) is type(expected)


def _as_tensor(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor._from_array(np.asarray(value))


def _tolerances(dtype_names: Sequence[str], rtol: float | None, atol: float | None) -> tuple[float, float]:
    if rtol is not None and atol is not None:
        return rtol, atol
    pairs = [_PRECISIONS.get(name, (0.0, 0.0)) for name in dtype_names]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _compare_numbers(actual: Any, expected: Any, path: tuple[Any, ...], options: dict[str, Any]) -> None:
    if options["check_dtype"] and type(actual) is not type(expected):
        raise _Mismatch(AssertionError, f"The (d)types do not match: {type(actual)} != {type(expected)}.", path)
    # A Python float compares as float64, an int as int64 (for equality).
    names = ["float64" if isinstance(v, (float, complex, np.floating)) else "int64" for v in (actual, expected)]
    rtol, atol = _tolerances(names, options["rtol"], options["atol"])
    if actual == expected or (options["equal_nan"] and _isnan(actual) and _isnan(expected)):
        return
    finite = math.isfinite(abs(actual)) and math.isfinite(abs(expected))
    if finite and abs(actual - expected) <= atol + rtol * abs(expected):
        return
    raise _Mismatch(AssertionError, _scalar_message(actual, expected, rtol, atol), path)


def _isnan(value: Any) -> bool:
    return value != value


def _scalar_message(actual: Any, expected: Any, rtol: float, atol: float) -> str:
    difference = abs(actual - expected)
    relative = float("inf") if expected == 0 else difference / abs(expected)
    return _message("Scalars", f"Expected {expected} but got {actual}.", difference, None, atol, relative, None, rtol)


def _message(identifier: str, extra: str, difference: Any, difference_at: Any, atol: float, relative: Any,
             relative_at: Any, rtol: float) -> str:
    equality = rtol == 0 and atol == 0

    def line(kind: str, value: Any, at: Any, tolerance: float) -> str:
        text = (f"{kind.title()} difference: {value}" if at is None
                else f"Greatest {kind} difference: {value} at index {at}")
        return text + ("" if equality else f" (up to {tolerance} allowed)")

    return "\n".join([f"{identifier} are not {'equal' if equality else 'close'}!", "", extra,
                      line("absolute", difference, difference_at, atol), line("relative", relative, relative_at, rtol)])


def _compare_tensors(actual: Tensor, expected: Tensor, path: tuple[Any, ...], options: dict[str, Any]) -> None:
    checks = [("shape", actual.shape, expected.shape)]
    if options["check_device"]:
        checks.append(("device", actual.device, expected.device))
    if options["check_dtype"]:
        checks.append(("dtype", actual.dtype, expected.dtype))
    if options["check_stride"]:
        checks.append(("stride()", actual.stride(), expected.stride()))
    for name, a, e in checks:
        if a != e:
            raise _Mismatch(AssertionError, f"The values for attribute '{name}' do not match: {a} != {e}.", path)
    rtol, atol = _tolerances([actual.dtype.name, expected.dtype.name], options["rtol"], options["atol"])
    common = _dtypes.result_type([actual.dtype, expected.dtype], [], [])
    a = actual.detach().cpu().numpy().astype(common.numpy, copy=False)
    e = expected.detach().cpu().numpy().astype(common.numpy, copy=False)
    matches = _isclose(a, e, rtol, atol, options["equal_nan"])
    if matches.all():
        return
    if a.ndim == 0:
        raise _Mismatch(AssertionError, _scalar_message(a.item(), e.item(), rtol, atol), path)
    raise _Mismatch(AssertionError, _tensor_message(a, e, matches, rtol, atol), path)


def _isclose(a: np.ndarray, e: np.ndarray, rtol: float, atol: float, equal_nan: bool) -> np.ndarray:
    matches = a == e  # equal infinities too
    if a.dtype.kind == "f" or rtol or atol:
        with np.errstate(all="ignore"):
            wide_a, wide_e = a.astype(np.float64, copy=False), e.astype(np.float64, copy=False)
            within = np.abs(wide_a - wide_e) <= atol + rtol * np.abs(wide_e)
            matches |= np.isfinite(wide_a) & np.isfinite(wide_e) & within
        if equal_nan:
            matches |= np.isnan(a) & np.isnan(e)
    return matches


def _tensor_message(a: np.ndarray, e: np.ndarray, matches: np.ndarray, rtol: float, atol: float) -> str:
    total = matches.size
    mismatched = total - int(matches.sum())
    flat_a, flat_e, flat_matches = a.reshape(-1), e.reshape(-1), matches.reshape(-1)
    if a.dtype.kind != "f":
        flat_a, flat_e = flat_a.astype(np.int64), flat_e.astype(np.int64)
    with np.errstate(all="ignore"):
        # In the tensors' dtype, as PyTorch computes them (an integer ratio in the default float dtype).
        difference = np.abs(flat_a - flat_e)
        difference[flat_matches] = 0
        divisor = np.abs(flat_e)
        if difference.dtype.kind != "f":
            default = _dtypes.get_default_dtype().numpy
            difference_f, divisor = difference.astype(default), divisor.astype(default)
        else:
            difference_f = difference
        relative = difference_f / divisor
        relative[flat_matches] = 0
    at_difference, at_relative = _argmax(difference), _argmax(relative)
    return _message("Tensor-likes", f"Mismatched elements: {mismatched} / {total} ({mismatched / total:.1%})",
                    difference[at_difference].item(), _position(at_difference, a.shape), atol,
                    relative[at_relative].item(), _position(at_relative, a.shape), rtol)


def _position(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def _argmax(values: np.ndarray) -> int:
    """The first position of the greatest value, a NaN counting as greatest (``torch.max``'s)."""
    nan = np.isnan(values) if values.dtype.kind == "f" else None
    if nan is not None and nan.any():
        return int(np.argmax(nan))
    return int(np.argmax(values))


def assert_allclose(actual: Any, expected: Any, rtol: float | None = None, atol: float | None = None,
                    equal_nan: bool = True, msg: str = "") -> None:
    """Deprecated: ``assert_close`` on ``actual`` and ``expected`` made tensors, dtypes not checked."""
    warn_user("`tapegrad.testing.assert_allclose()` is deprecated since 1.12 and will be removed in a future "
              "release. Please use `tapegrad.testing.assert_close()` instead.", FutureWarning)
    from .creation import tensor

    if not isinstance(actual, Tensor):
        actual = tensor(actual)
    if not isinstance(expected, Tensor):
        expected = tensor(expected, dtype=actual.dtype)
    if rtol is None and atol is None:
        rtol, atol = _tolerances([actual.dtype.name, expected.dtype.name], None, None)
    assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan, check_device=True,
                 check_dtype=False, check_stride=False, msg=msg or None)


def make_tensor(*shape: Any, dtype: Any, device: Any = None, low: float | None = None, high: float | None = None,
                requires_grad: bool = False, noncontiguous: bool = False, exclude_zero: bool = False,
                memory_format: Any = None) -> Tensor:
    """A tensor of random values in ``[low, high)`` (PyTorch's defaults: [-9, 9] for floats, [-9, 10)
    for integers, [0, 10) for uint8); ``exclude_zero`` replaces zeros, ``noncontiguous`` returns
    a strided view of a larger tensor."""
    from .creation import rand, randint

    if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = tuple(shape[0])
    dtype = _dtypes.as_dtype(dtype)
    if requires_grad and not dtype.is_floating_point:
        raise ValueError("make_tensor: requires_grad must be False for integral dtype")
    if noncontiguous and memory_format is not None:
        raise ValueError(f"The parameters noncontiguous and memory_format are mutually exclusive, but got "
                         f"noncontiguous={noncontiguous} and memory_format={memory_format!r}")
    if dtype is _dtypes.bool_:
        result = rand(*shape) < 0.5
    elif dtype.is_floating_point:
        low = -9.0 if low is None else low
        high = 9.0 if high is None else high
        if low > high:
            raise ValueError(f"make_tensor: low must be less than or equal to high, but got {low} > {high}")
        result = rand(*shape, dtype=dtype) * (high - low) + low
    else:
        info = np.iinfo(dtype.numpy)
        low = max(info.min, -9 if dtype.is_signed else 0) if low is None else math.ceil(low)
        high = min(info.max + 1, 10) if high is None else math.ceil(high)
        if low >= high:
            raise ValueError(f"make_tensor: low must be less than high for integral dtypes, but got {low} >= {high}")
        result = randint(int(low), int(high), shape, dtype=dtype)
    if exclude_zero:
        replacement = 1 if not dtype.is_floating_point else float(np.finfo(dtype.numpy).tiny)
        result = result.masked_fill(result == 0, replacement)
    if noncontiguous and result.numel() > 1:
        result = result.repeat_interleave(2, dim=-1)[..., ::2]
    elif memory_format is not None:
        result = result.contiguous(memory_format=memory_format)
    if device is not None:
        result = result.to(device)
    return result.requires_grad_(requires_grad) if requires_grad else result

"""Anomaly detection for the backward sweep: ``detect_anomaly`` and ``set_detect_anomaly``.

While it is on, every recorded step keeps the Python stack of the forward call that made it;
when a step's gradient function fails in backward, or (with ``check_nan``) returns NaN, a
warning shows that forward stack and the error propagates, as in PyTorch. The sweep then runs
step by step: the fused backward kernels, which would skip the per-step checks, stay off.
Replays of ``tapegrad.compile``d steps run generated code and are not checked; run the step
uncompiled to find an anomaly.
"""
from __future__ import annotations

import functools
import os
import traceback
from typing import Any, Callable, TypeVar

import numpy as np
from ..user_warnings import warn_user

F = TypeVar("F", bound=Callable[..., Any])

__all__: list[str] = ["detect_anomaly", "is_anomaly_check_nan_enabled", "is_anomaly_enabled", "set_detect_anomaly"]

# The package's own frames are left out of the forward stacks shown: the user's code is what
# made the step.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class _State:
    """Process-wide, as in PyTorch (not per thread)."""

    enabled: bool = False
    check_nan: bool = True


state = _State()


def is_anomaly_enabled() -> bool:
    return state.enabled


def is_anomaly_check_nan_enabled() -> bool:
    return state.check_nan


def _set(enabled: bool, check_nan: bool) -> tuple[bool, bool]:
    previous = (state.enabled, state.check_nan)
    state.enabled, state.check_nan = enabled, check_nan
    return previous


class detect_anomaly:
    """Context manager and decorator that turns anomaly detection on.

    >>> x = tapegrad.tensor([0.0, 1.0], requires_grad=True)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     with tapegrad.autograd.detect_anomaly():
    ...         (x / x).sum().backward()
    Traceback (most recent call last):
    RuntimeError: Function 'DivBackward0' returned nan values in its 1th output.
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        self._previous: list[tuple[bool, bool]] = []
        warn_user("Anomaly Detection has been enabled. This mode will increase the runtime and should only be "
                  "enabled for debugging.")

    def __enter__(self) -> None:
        self._previous.append(_set(True, self.check_nan))

    def __exit__(self, *exc: object) -> None:
        _set(*self._previous.pop())

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class set_detect_anomaly:
    """Turn anomaly detection on or off now; used as a context manager, the previous setting
    comes back on exit."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self._previous = _set(bool(mode), bool(check_nan))

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _set(*self._previous)


def forward_stack() -> list[str]:
    """The user's frames of the current stack (what a step made now keeps)."""
    return [line for line in traceback.format_stack()[:-1] if not _in_package(line)]


def _in_package(frame_text: str) -> bool:
    start = frame_text.find('File "')
    return start >= 0 and frame_text[start + 6:].startswith(_PACKAGE)


def checked_vjp(step: Any, grad: Any) -> Any:
    """``step``'s VJP, with the anomaly checks: NaN in an input gradient is an error, and any
    error is preceded by a warning showing where the step was recorded."""
    try:
        grads = step.op.vjp(step, grad)
        if state.check_nan:
            for position, g in enumerate(grads):
                if g is not None and g.is_floating_point() and _has_nan(g):
                    raise RuntimeError(f"Function '{step.name()}' returned nan values in its {position}th output.")
        return grads
    except Exception:
        stack = step.__dict__.get("forward_stack")
        shown = "".join(stack) if stack else ("No forward pass information available. Enable detect anomaly during "
                                              "forward pass for more information.\n")
        warn_user(f"Error detected in {step.name()}. Traceback of forward call that caused the error:\n{shown}")
        raise


def _has_nan(g: Any) -> bool:
    data = g._data
    if isinstance(data, np.ndarray):
        return bool(np.isnan(data).any())
    return bool(g.isnan().any().item())

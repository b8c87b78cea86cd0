"""Thread-local grad mode: ``no_grad``, ``enable_grad``, ``set_grad_enabled``."""
from __future__ import annotations

import functools
import inspect
import sys
import threading
from typing import Any, Callable, Generator, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _State(threading.local):
    enabled: bool = True
    inference: bool = False  # inside ``inference_mode()`` (read by ``is_inference_mode_enabled``)


state = _State()


def is_grad_enabled() -> bool:
    return state.enabled


class _GradModeContext:
    """Base for the context managers; each instance is also a decorator, of plain functions
    and of generator functions (whose body then runs in the mode each time it resumes)."""

    _target: bool
    _previous: list[bool]

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # ``@no_grad`` without parentheses, as PyTorch allows: the class gets the function.
        if cls._takes_function_alone and len(args) == 1 and not kwargs and callable(args[0]):
            return cls()(args[0])
        return super().__new__(cls)

    _takes_function_alone = True

    def __init__(self, *args: Any) -> None:
        self._previous = []

    def __enter__(self) -> None:
        self._previous.append(state.enabled)
        state.enabled = self._target

    def __exit__(self, *exc: object) -> None:
        state.enabled = self._previous.pop()

    def __call__(self, fn: F) -> F:
        if inspect.isgeneratorfunction(fn):
            return _in_mode_generator(self, fn)  # type: ignore[return-value]
        target = self._target

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            previous = state.enabled
            state.enabled = target
            try:
                return fn(*args, **kwargs)
            finally:
                state.enabled = previous

        return wrapper  # type: ignore[return-value]

    def clone(self) -> "_GradModeContext":
        return type(self)()


def _in_mode_generator(context: _GradModeContext, fn: Callable[..., Generator]) -> Callable[..., Generator]:
    """``fn``, a generator function, with each step of its body (to the next ``yield``) run in
    a fresh clone of ``context`` and the caller's code between steps in the caller's mode."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator:
        with context.clone():
            generator = fn(*args, **kwargs)
        try:
            with context.clone():
                response = generator.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with context.clone():
                        generator.close()
                    raise
                except BaseException:
                    with context.clone():
                        response = generator.throw(*sys.exc_info())
                else:
                    with context.clone():
                        response = generator.send(request)
        except StopIteration as stop:
            return stop.value

    return wrapper


class no_grad(_GradModeContext):
    """Disable recording. ``with tapegrad.no_grad(): y = x * 2`` gives ``y.requires_grad == False``."""

    _target = False


class enable_grad(_GradModeContext):
    """Enable recording inside a ``no_grad`` block."""

    _target = True


class set_grad_enabled(_GradModeContext):
    """Set grad mode: takes effect at once, and as a context manager restores the old mode."""

    _takes_function_alone = False

    def __init__(self, mode: bool) -> None:
        super().__init__()
        self._target = bool(mode)
        self._entered_at_construction = state.enabled
        state.enabled = self._target

    def __enter__(self) -> None:
        self._previous.append(self._entered_at_construction)

    def __call__(self, fn: F) -> F:
        # As a decorator it only wraps: the mode set at construction is undone.
        state.enabled = self._entered_at_construction
        return super().__call__(fn)

    def clone(self) -> "set_grad_enabled":
        return set_grad_enabled(self._target)


class inference_mode(no_grad):
    """``no_grad`` that ``is_inference_mode_enabled()`` reports (tapegrad has no separate
    inference tensors); ``inference_mode(False)`` turns both off, as PyTorch's does."""

    def __init__(self, mode: bool = True) -> None:
        super().__init__()
        self._target = not mode
        self._inference: list[bool] = []

    def __enter__(self) -> None:
        super().__enter__()
        self._inference.append(state.inference)
        state.inference = not self._target

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        state.inference = self._inference.pop()

    def __call__(self, fn: F) -> F:
        if inspect.isgeneratorfunction(fn):
            return _in_mode_generator(self, fn)  # type: ignore[return-value]
        context = self

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with context.clone():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def clone(self) -> "inference_mode":
        return inference_mode(not self._target)


def is_inference_mode_enabled() -> bool:
    """True inside ``inference_mode()``."""
    return state.inference

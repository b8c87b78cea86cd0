"""Custom differentiable ops: subclass ``Function`` with static ``forward``/``backward``.

>>> class Cube(tapegrad.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x ** 3
...     @staticmethod
...     def backward(ctx, grad):
...         (x,) = ctx.saved_tensors
...         return grad * 3 * x ** 2
>>> x = tapegrad.tensor(2.0, requires_grad=True)
>>> Cube.apply(x).backward(); x.grad
tensor(12.)
"""
from __future__ import annotations

import weakref
from typing import Any

from . import grad_mode
from .tape import Step


class FunctionCtx:
    """What ``forward`` leaves for ``backward``."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self._to_save: tuple[Any, ...] = ()
        self._step: weakref.ref | None = None
        self.materialize_grads = True

    def save_for_backward(self, *tensors: Any) -> None:
        self._to_save = tensors

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        step = self._step() if self._step is not None else None
        if step is None:
            return self._to_save
        return step.saved_values()

    def mark_non_differentiable(self, *tensors: Any) -> None:
        pass

    def mark_dirty(self, *tensors: Any) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value


class _FunctionOp:
    """The op under which a ``Function`` subclass's applications are recorded."""

    __slots__ = ("function", "name", "grad_name")

    def __init__(self, function: type) -> None:
        self.function = function
        self.name = function.__qualname__
        self.grad_name = f"{function.__name__}Backward"

    def vjp(self, step: Step, grad: Any) -> tuple[Any, ...]:
        ctx: FunctionCtx = step.attrs
        grads = self.function.backward(ctx, grad)
        if not isinstance(grads, tuple):
            grads = (grads,)
        expected = len(step.edges)
        # Trailing Nones for non-tensor arguments may be left out, as PyTorch allows.
        if len(grads) < expected and all(m is None for m in step.input_meta[len(grads):]):
            grads = grads + (None,) * (expected - len(grads))
        if len(grads) != expected:
            raise RuntimeError(f"function {self.grad_name} returned an incorrect number of gradients "
                               f"(expected {expected}, got {len(grads)})")
        return grads


class Function:
    """Base class of user-defined differentiable functions; call them with ``apply``."""

    _op: _FunctionOp

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._op = _FunctionOp(cls)

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    @classmethod
    def apply(cls, *args: Any) -> Any:
        from ..ops.registry import record
        from ..tensor import Tensor

        needs = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        ctx = FunctionCtx(needs)
        state = grad_mode.state
        previous = state.enabled
        state.enabled = False
        try:
            out = cls.forward(ctx, *args)
        finally:
            state.enabled = previous
        if not previous or not any(needs):
            return out
        if not isinstance(out, Tensor):
            raise TypeError(f"{cls.__name__}.forward must return a single Tensor to be differentiable in "
                            f"tapegrad, got {type(out).__name__}")
        if any(out is a for a in args):
            out = out.detach()
        saved = tuple(t for t in ctx._to_save)
        record(cls._op, args, out, ctx, saved)  # type: ignore[arg-type]
        ctx._step = weakref.ref(out.grad_fn)
        return out

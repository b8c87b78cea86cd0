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

``forward`` may instead take no ``ctx`` when the class also defines ``setup_context(ctx,
inputs, output)``; it may return a tuple of several outputs (tensors and plain values), and
``backward`` then takes one gradient per output.

How several differentiable outputs are recorded: the tape's steps have one output each, so the
application is one *core* step (``<Name>Backward``, edges to the inputs, the saved tensors)
and one step per differentiable output (also ``<Name>Backward``) whose single edge is the core.
Recorded after it, those run before it in the sweep; each hands its output's gradient on to
the core in a ``_Gradients`` bundle (bundles add by merging), so the core calls ``backward``
once with every output's gradient in its place, zeros (or None, see
``ctx.set_materialize_grads``) for the others. Unlike PyTorch, those outputs' ``grad_fn`` are
then distinct objects whose ``next_functions`` lead to the core step.
"""
from __future__ import annotations

import functools
import inspect
import weakref
from typing import Any, Callable, TypeVar

from . import grad_mode
from .tape import Step

F = TypeVar("F", bound=Callable[..., Any])

__all__: list[str] = ["Function", "FunctionCtx", "once_differentiable"]


class FunctionCtx:
    """What ``forward`` (or ``setup_context``) leaves for ``backward``."""

    # Set only when called, as in PyTorch.
    non_differentiable: tuple[Any, ...] = ()
    dirty_tensors: tuple[Any, ...] = ()

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self._to_save: tuple[Any, ...] = ()
        self._step: weakref.ref | None = None
        # None: one output, handed to ``backward`` as it comes; else (an _OutputSpec or None
        # per output, the position of the one differentiable output or None for several).
        self._layout: tuple[tuple[Any, ...], int | None] | None = None
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
        """Outputs among ``tensors`` come back with requires_grad=False; ``backward`` still
        takes a gradient for each (zeros, or None without materialised gradients)."""
        self.non_differentiable = tensors

    def mark_dirty(self, *tensors: Any) -> None:
        """Inputs ``forward`` changed in place; each must be returned, and becomes an output."""
        self.dirty_tensors = tensors

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value


class _OutputSpec:
    """What ``backward`` needs of a tensor output it got no gradient for: its zeros' metadata."""

    __slots__ = ("shape", "dtype", "device")

    def __init__(self, tensor: Any) -> None:
        self.shape = tuple(tensor._data.shape)
        self.dtype = tensor.dtype
        self.device = tensor.device

    def zeros(self) -> Any:
        from ..creation import zeros

        return zeros(self.shape, dtype=self.dtype, device=self.device)


class _Gradients:
    """Gradients of some of an application's outputs, by output position, on their way from
    the outputs' steps to the core step (the sweep adds what arrives at a step)."""

    __slots__ = ("by_output",)

    def __init__(self, by_output: dict[int, Any]) -> None:
        self.by_output = by_output

    def __add__(self, other: "_Gradients") -> "_Gradients":
        merged = dict(self.by_output)
        for position, grad in other.by_output.items():
            previous = merged.get(position)
            merged[position] = grad if previous is None else previous + grad
        return _Gradients(merged)

    def is_floating_point(self) -> bool:
        return False  # (anomaly mode looks for NaN in floating gradients only)


def _expandable(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    """Whether ``shape`` broadcasts to ``to`` (PyTorch's ``is_expandable_to``)."""
    if len(shape) > len(to):
        return False
    lead = len(to) - len(shape)
    return all(s == 1 or s == to[lead + d] for d, s in enumerate(shape))


class _FunctionOp:
    """The op under which a ``Function`` subclass's applications are recorded."""

    __slots__ = ("function", "name", "grad_name")

    def __init__(self, function: type) -> None:
        self.function = function
        self.name = function.__qualname__
        self.grad_name = f"{function.__name__}Backward"

    def vjp(self, step: Step, grad: Any) -> tuple[Any, ...]:
        ctx: FunctionCtx = step.attrs
        layout = ctx._layout
        if layout is None:
            grads = self.function.backward(ctx, grad)
        else:
            specs, single = layout
            arrived = {single: grad} if single is not None else grad.by_output
            materialize = ctx.materialize_grads
            grad_outputs = []
            for position, spec in enumerate(specs):
                g = arrived.get(position)
                if g is None and spec is not None and materialize:
                    g = spec.zeros()
                grad_outputs.append(g)
            grads = self.function.backward(ctx, *grad_outputs)
        return self._checked(step, grads)

    def _checked(self, step: Step, grads: Any) -> tuple[Any, ...]:
        """``backward``'s result as one gradient per input, validated as PyTorch validates it:
        a gradient broadcast past its input's shape is summed back, one of another dtype cast."""
        from ..ops.reduce import sum_to
        from ..tensor import Tensor

        if not isinstance(grads, tuple):
            grads = (grads,)
        expected = len(step.edges)
        if len(grads) > expected and all(g is None for g in grads[expected:]):
            grads = grads[:expected]  # trailing Nones past the inputs are allowed
        if len(grads) != expected:
            raise RuntimeError(f"function {self.grad_name} returned an incorrect number of gradients "
                               f"(expected {expected}, got {len(grads)})")
        checked = []
        for index, (g, meta, edge) in enumerate(zip(grads, step.input_meta, step.edges)):
            if g is None:
                checked.append(None)
                continue
            if meta is None:
                raise RuntimeError(f"function {self.grad_name} returned a gradient different than None at position "
                                   f"{index + 1}, but the corresponding forward input was not a Variable")
            if not isinstance(g, Tensor):
                raise RuntimeError(f"expected Variable or None (got {type(g).__name__})")
            if edge is None:
                checked.append(None)  # an input that needs no gradient: not looked at
                continue
            shape, dtype = meta
            if g._data.shape != shape:
                if not _expandable(shape, g._data.shape):
                    raise RuntimeError(f"Function {self.grad_name} returned an invalid gradient at index {index} - "
                                       f"got {list(g._data.shape)} but expected shape compatible with {list(shape)}")
                g = sum_to(g, shape)
            if g._data.dtype != dtype:
                from ..dtypes import from_numpy_dtype

                g = g.to(from_numpy_dtype(dtype))
            checked.append(g)
        return tuple(checked)


class _OutputOp:
    """The op of the step of one of several differentiable outputs: hands its gradient to the
    core step, labelled with the output's position (the step's ``attrs``)."""

    __slots__ = ("name", "grad_name")

    def __init__(self, function: type) -> None:
        self.name = f"{function.__qualname__}.output"
        self.grad_name = f"{function.__name__}Backward"

    def vjp(self, step: Step, grad: Any) -> tuple[Any, ...]:
        return (_Gradients({step.attrs: grad}),)


class _DelayedErrorOp:
    """The op of a ``once_differentiable`` backward's outputs: differentiating them raises."""

    __slots__ = ("name", "grad_name")

    def __init__(self) -> None:
        self.name = "once_differentiable_error"
        self.grad_name = "Error"

    def vjp(self, step: Step, grad: Any) -> tuple[Any, ...]:
        raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")


_DELAYED_ERROR = _DelayedErrorOp()


class Function:
    """Base class of user-defined differentiable functions; call them with ``apply``."""

    _op: _FunctionOp
    _output_op: _OutputOp

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._op = _FunctionOp(cls)
        cls._output_op = _OutputOp(cls)

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple[Any, ...], output: Any) -> Any:
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        from ..tensor import Tensor

        separate = cls.setup_context is not Function.setup_context
        if separate:
            # setup_context sees every positional parameter, defaults filled in.
            bound = inspect.signature(cls.forward).bind(*args, **kwargs)
            bound.apply_defaults()
            args, kwargs = bound.args, bound.kwargs
        needs = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        ctx = FunctionCtx(needs)
        state = grad_mode.state
        previous = state.enabled
        state.enabled = False
        try:
            if separate:
                out = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, out)
            else:
                out = cls.forward(ctx, *args, **kwargs)
        finally:
            state.enabled = previous
        return _outputs(cls, ctx, args, out, previous and any(needs))


def _is_in(t: Any, tensors: tuple[Any, ...]) -> bool:
    return any(t is other for other in tensors)


def _outputs(cls: type[Function], ctx: FunctionCtx, args: tuple[Any, ...], out: Any, recording: bool) -> Any:
    """``forward``'s result as ``apply`` returns it, recorded on the tape when ``recording``."""
    from ..tensor import Tensor

    as_tuple = isinstance(out, tuple)
    outputs = list(out) if as_tuple else [out]
    dirty = ctx.dirty_tensors
    for t in dirty:
        if not _is_in(t, outputs):
            raise RuntimeError("Some elements marked as dirty during the forward method were not returned as output. "
                               "The inputs that are modified inplace must all be outputs of the Function.")
        t._counter.value += 1
    non_differentiable = ctx.non_differentiable
    differentiable = []
    specs: list[_OutputSpec | None] = []
    for position, o in enumerate(outputs):
        if not isinstance(o, Tensor):
            specs.append(None)
            continue
        specs.append(_OutputSpec(o) if as_tuple else None)  # (only a tuple's are ever needed)
        is_input = _is_in(o, args)
        is_dirty = _is_in(o, dirty)
        if recording and o.is_floating_point() and not _is_in(o, non_differentiable):
            differentiable.append(position)
            if is_dirty:
                from ..ops.inplace import check_not_leaf

                check_not_leaf(o, leaf_used="has been used")
            elif is_input:
                outputs[position] = o.detach()  # an input returned as it is: a new tensor over it
        elif o._requires_grad:
            # Not differentiable: an alias of an input that requires grad, as PyTorch returns.
            if is_input:
                outputs[position] = o.detach()
            elif o._base is None:
                o.detach_()
        elif is_input and not is_dirty:
            outputs[position] = o.detach()
    if not differentiable:
        return tuple(outputs) if as_tuple else outputs[0]
    saved = tuple(ctx._to_save)
    if len(differentiable) == 1:
        position = differentiable[0]
        if as_tuple:
            ctx._layout = (tuple(specs), position)
        core = _record(cls._op, args, outputs[position], ctx, saved, _is_in(outputs[position], dirty))
    else:
        import numpy as np

        from ..ops.registry import record
        from ..tensor import _wrap

        ctx._layout = (tuple(specs), None)
        anchor = _wrap(np.empty(0))  # stands for the core step's output while the outputs' steps are recorded
        record(cls._op, args, anchor, ctx, saved)  # type: ignore[arg-type]
        core = anchor.grad_fn
        for position in differentiable:
            o = outputs[position]
            _record(cls._output_op, (anchor,), o, position, (), _is_in(o, dirty))  # type: ignore[arg-type]
    ctx._step = weakref.ref(core)
    return tuple(outputs) if as_tuple else outputs[0]


def _record(op: Any, inputs: tuple[Any, ...], target: Any, attrs: Any, saved: tuple[Any, ...],
            dirty: bool) -> Step:
    """Record ``target`` as made by ``op`` from ``inputs``; returns the step. A dirty view is
    treated as an in-place op on a view is (see ops/inplace.py): the step's result is a new
    tensor over the view, its base's history moves to a ``CopySlices`` step, and the view's
    history is remade from the base."""
    from ..ops.registry import record

    base = target._base
    if not dirty or base is None:
        record(op, inputs, target, attrs, saved)
        return target.grad_fn
    from ..ops.inplace import COPY_SLICES

    result = target.detach()
    record(op, inputs, result, attrs, saved)
    record(COPY_SLICES, (base, result), base, target._effective_chain())
    target._refresh_view_history()
    return result.grad_fn


def once_differentiable(fn: F) -> F:
    """Decorate a ``backward`` that cannot itself be differentiated: it runs without grad, and
    when a graph of its gradients is being made, differentiating its results raises."""

    @functools.wraps(fn)
    def wrapper(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        from ..tensor import Tensor

        with grad_mode.no_grad():
            outputs = fn(ctx, *args, **kwargs)
        if not grad_mode.state.enabled:
            return outputs
        if not any(isinstance(a, Tensor) and a._requires_grad for a in args):
            return outputs
        if isinstance(outputs, tuple):
            return tuple(_delayed_error(o) for o in outputs)
        return _delayed_error(outputs)

    return wrapper  # type: ignore[return-value]


def _delayed_error(value: Any) -> Any:
    """``value`` with a history whose gradient function raises (a stand-in leaf behind it)."""
    from ..ops.registry import record
    from ..tensor import Tensor

    if not isinstance(value, Tensor) or not value.is_floating_point():
        return value
    stand_in = value.detach()
    stand_in._requires_grad = True
    out = value.detach()
    record(_DELAYED_ERROR, (stand_in,), out)  # type: ignore[arg-type]
    return out

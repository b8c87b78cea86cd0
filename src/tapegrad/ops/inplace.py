"""In-place ops (``add_``, ``copy_``, ``__setitem__``, …) and how autograd sees them.

Without grad the result is written straight into the tensor's buffer. With grad, the new
value is computed out of place (recorded as usual), copied into the buffer, and the tensor's
history moves to the new step. For a view, the base's history moves to a ``CopySlices`` step
(the base with the view's region replaced), and the view's history is remade from the base.
Every in-place change bumps the version counter shared by a base and its views, so a step
that saved the old value refuses to run backward.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import dtypes as _dtypes
from ..autograd import grad_mode
from ..autograd.tape import Step
from ..compiler import trace
from ..compiler import rules
from ..tensor import Tensor, _wrap
from . import elementwise as ew
from .composite import _without_grad
from .index import _normalize_key, getitem, index_put, split_integer_selects
from .movement import expand, replay_view_chain
from .registry import OpDef, needs_grad, record


def check_not_leaf(target: Tensor, leaf_used: str = "is being used") -> None:
    """PyTorch's refusal to change a leaf that requires grad (or a view of one) in place while
    recording; on either device, before anything is written. ``leaf_used``: the leaf message's
    verb (PyTorch's ``mark_dirty`` check of a custom Function says "has been used")."""
    if grad_mode.state.enabled:
        if target._requires_grad and target.grad_fn is None and target._base is None:
            raise RuntimeError(f"a leaf Variable that requires grad {leaf_used} in an in-place operation.")
        base = target._base
        if base is not None and base._requires_grad and base.grad_fn is None:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")


def _check_target(target: Tensor) -> None:
    check_not_leaf(target)
    if not target._data.flags.writeable:
        raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to a "
                           "single memory location. Please clone() the tensor before performing the operation.")


def _check_result(target: Tensor, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if shape != target._data.shape:
        raise RuntimeError(f"output with shape {list(target._data.shape)} doesn't match the broadcast shape "
                           f"{list(shape)}")
    if dtype != target._data.dtype:
        result, own = _dtypes.from_numpy_dtype(dtype), _dtypes.from_numpy_dtype(target._data.dtype)
        if result.category > own.category:
            raise RuntimeError(f"result type {result.scalar_name} can't be cast to the desired output "
                               f"type {own.scalar_name}")


def _copy_slices_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    chain = step.attrs
    g = g.contiguous()
    grad_base = None
    if step.needs_input_grad(0):
        from ..creation import ones

        # On the gradient's device: a CUDA mask is zeroed through the view by a device copy.
        mask = ones(step.input_meta[0][0], dtype=g.dtype, device=g.device)
        replay_view_chain(mask, chain)._data[...] = 0
        grad_base = g * mask
    grad_new = replay_view_chain(g, chain) if step.needs_input_grad(1) else None
    return grad_base, grad_new


COPY_SLICES = OpDef("copy_slices", "CopySlices", _copy_slices_vjp)


def update(target: Tensor, compute: Callable[[Tensor], Tensor], others: tuple = (),
           uses_old: bool = True) -> Tensor:
    """Replace ``target``'s values by ``compute(target)``, keeping autograd history right.

    ``uses_old`` says whether the computation saves the old value for backward; if so it
    gets a copy, since the buffer is about to be overwritten.
    """
    _check_target(target)
    if not needs_grad(target, *others):
        new = _without_grad(compute, target)
        _check_result(target, new._data.shape, new._data.dtype)
        np.copyto(target._data, new._data, casting="unsafe")
        _trace_write(target, new)
        target._counter.value += 1
        return target
    source = ew.clone(target) if uses_old and target._requires_grad else target
    new = compute(source)
    _check_result(target, new._data.shape, new._data.dtype)
    if new._data.dtype != target._data.dtype:
        new = new.to(target.dtype)
    np.copyto(target._data, new._data)
    _trace_write(target, new)
    target._counter.value += 1
    base = target._base
    if base is None:
        target.grad_fn = new.grad_fn
        target._requires_grad = new._requires_grad
        return target
    record(COPY_SLICES, (base, new), base, target._effective_chain())
    target._refresh_view_history()
    return target


def _trace_write(target: Tensor, new: Tensor) -> None:
    """Record ``target[...] = new`` (broadcast and cast) as an in-place node while tracing."""
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.ELEMENTWISE, (new,), target._data, (rules.identity, target._data.dtype), into=(target,))


def update_elementwise(op: ew.ElementwiseOp, target: Tensor, *others: Any) -> Tensor:
    """``target = op(target, *others)`` in place; without grad the kernel writes the buffer."""
    if needs_grad(target, *others) or trace.ACTIVE is not None:
        # While tracing, the value is computed out of place and written back as a recorded copy.
        return update(target, lambda t: ew.apply(op, (t,) + others), others, "x0" in op.saves)
    _check_target(target)
    args = (target,) + others
    data = target._data
    if data.dtype.kind == "f" and ew._apply_fast(op, args, data) is not None:
        target._counter.value += 1
        return target
    _, out_dtype = ew._promote(op, args)
    shape = ew._broadcast_shape(args)
    _check_result(target, shape, out_dtype)
    if out_dtype == target._data.dtype:
        ew.apply(op, args, out=target._data)
    else:
        np.copyto(target._data, ew.apply(op, args)._data, casting="unsafe")
    target._counter.value += 1
    return target


# ---------------------------------------------------------------- the in-place methods

def add_(self: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
    return update_elementwise(ew.ADD, self, ew._times_alpha(self, other, alpha))


def sub_(self: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
    return update_elementwise(ew.SUB, self, ew._times_alpha(self, other, alpha))


def mul_(self: Tensor, other: Any) -> Tensor:
    return update_elementwise(ew.MUL, self, other)


def div_(self: Tensor, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    if rounding_mode is not None:
        return update(self, lambda t: ew.div(t, other, rounding_mode=rounding_mode), (other,))
    return update_elementwise(ew.DIV, self, other)


def pow_(self: Tensor, exponent: Any) -> Tensor:
    return update(self, lambda t: ew.pow(t, exponent), (exponent,))


def clamp_(self: Tensor, min: Any = None, max: Any = None) -> Tensor:
    return update(self, lambda t: ew.clamp(t, min, max), (min, max))


def clamp_min_(self: Tensor, min: Any) -> Tensor:
    return update(self, lambda t: ew.clamp_min(t, min), (min,))


def clamp_max_(self: Tensor, max: Any) -> Tensor:
    return update(self, lambda t: ew.clamp_max(t, max), (max,))


def _unary_(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    def method(self: Tensor) -> Tensor:
        return update(self, fn)

    method.__name__ = fn.__name__ + "_"
    return method


neg_ = _unary_(ew.neg)
abs_ = _unary_(ew.abs)
exp_ = _unary_(ew.exp)
log_ = _unary_(ew.log)
sqrt_ = _unary_(ew.sqrt)
tanh_ = _unary_(ew.tanh)
sigmoid_ = _unary_(ew.sigmoid)
relu_ = _unary_(ew.relu)
sign_ = _unary_(ew.sign)
floor_ = _unary_(ew.floor)
def round_(self: Tensor, *, decimals: int | None = None) -> Tensor:
    return update(self, lambda t: ew.round(t, decimals=decimals))


def fill_(self: Tensor, value: Any) -> Tensor:
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} dimensions.")
        if not value._requires_grad:
            value = value.item()
    if not isinstance(value, Tensor):
        value = _dtypes.checked_scalar(value, self._data.dtype)
    if not needs_grad(self, value):
        _check_target(self)
        self._data[...] = value._data if isinstance(value, Tensor) else value
        if trace.ACTIVE is not None:
            if isinstance(value, Tensor):
                trace.ACTIVE.emit(rules.ELEMENTWISE, (value,), self._data, (rules.identity, self._data.dtype), into=(self,))
            else:
                trace.ACTIVE.emit(rules.FULL, (), self._data, self._data.dtype.type(value).item(), into=(self,))
        self._counter.value += 1
        return self
    never = _wrap(np.zeros(self._data.shape, np.bool_))
    return update(self, lambda t: ew.where(never, t, value), (value,), uses_old=False)


def zero_(self: Tensor) -> Tensor:
    return fill_(self, 0)


def copy_(self: Tensor, src: Any, non_blocking: bool = False) -> Tensor:
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' (position 1) must be Tensor, not {type(src).__name__}")
    try:
        np.broadcast_shapes(src._data.shape, self._data.shape)
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({self.shape[-1] if self.ndim else 1}) must match the size of "
                           f"tensor b ({src.shape[-1] if src.ndim else 1}) at non-singleton dimension "
                           f"{max(self.ndim - 1, 0)}") from None
    if not needs_grad(src, self):
        _check_target(self)
        source = src._data
        if self._data.dtype.kind in "iu" and self._data.dtype.itemsize < 4 and source.dtype.kind == "f":
            source = _without_grad(ew.cast, src, _dtypes.int32)._data  # floats wrap into narrow ints via int32
        np.copyto(self._data, np.broadcast_to(source, self._data.shape), casting="unsafe")
        _trace_write(self, src)
        self._counter.value += 1
        return self

    def copied(t: Tensor) -> Tensor:
        value = expand(src, t.shape)
        value = value.to(t.dtype) if value.dtype is not t.dtype else value
        data = value._data
        if isinstance(data, np.ndarray):
            out = _wrap(np.array(data, order="C"))
        else:
            from ..cuda._ops import contiguous_copy

            out = _wrap(contiguous_copy(data))
        # The old value keeps an edge (with a zero gradient), as in PyTorch.
        return record(COPY, (t, value), out) if needs_grad(t, value) else out

    return update(self, copied, (src,), uses_old=False)


def _copy_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    from ..creation import zeros_like

    return (zeros_like(g) if step.needs_input_grad(0) else None, g if step.needs_input_grad(1) else None)


COPY = OpDef("copy_", "CopyBackwards", _copy_vjp)


def masked_fill_(self: Tensor, mask: Tensor, value: Any) -> Tensor:
    from .index import masked_fill

    return update(self, lambda t: masked_fill(t, mask, value), (value,), uses_old=False)


def setitem(self: Tensor, key: Any, value: Any) -> None:
    """``self[key] = value``: recorded on ``self`` as ``CopySlices`` (or ``IndexPutBackward0``)."""
    parts, advanced = _normalize_key(key)
    if advanced and (split := split_integer_selects(parts)) is not None:
        # As PyTorch: the integers select a view first, the index arrays then write into it.
        selects, rest = split
        setitem(getitem(self, selects), rest, value)
        return
    if not isinstance(value, Tensor):
        if isinstance(value, (int, float)):
            value = _dtypes.checked_scalar(value, self._data.dtype)  # PyTorch's overflow error
        value = _wrap(np.asarray(value, dtype=self._data.dtype))
    shape = value._data.shape
    if shape and shape[0] == 1:
        # PyTorch drops the value's leading size-1 dims (broadcasting puts back any needed), so
        # ``x[0, 0] = tensor([5.])`` fills a single element.
        lead = next((d for d, s in enumerate(shape) if s != 1), len(shape))
        value = value.reshape(shape[lead:])
    if not needs_grad(self, value):
        _check_target(self)
        if trace.ACTIVE is not None:
            raise trace.TraceError("tapegrad.compile: index assignment (tensor[...] = value) is not supported; "
                                   "use torch-style ops such as where() or masked_fill() in a compiled step")
        try:
            self._data[parts] = value._data
        except ValueError as error:
            raise RuntimeError(f"shape mismatch: {error}") from None
        except IndexError as error:
            raise IndexError(str(error).replace("axis", "dimension")) from None
        self._counter.value += 1
        return
    if advanced:
        update(self, lambda t: index_put(t, parts, value.to(t.dtype) if value.dtype is not t.dtype else value),
               (value,), uses_old=False)
        return
    region = getitem(self, parts)
    copy_(region, value)
    if self._base is not None:
        # self is itself a view: its history is remade from the base that CopySlices updated.
        self._refresh_view_history()


# ---------------------------------------------------------------- Python callables per element

def _per_element(self: Tensor, name: str, fn: Any, values: Callable[[], Any]) -> Tensor:
    """``self``'s elements replaced in place by ``fn`` of each (``values()``: the argument tuples,
    in C order). One Python call per element: a CPU-only convenience, as in PyTorch."""
    if not isinstance(self._data, np.ndarray):
        raise TypeError(f"{name} is only implemented on CPU tensors")
    if self._requires_grad:
        raise RuntimeError(f"Can't call {name}() on Variable that requires grad. Use var.detach().{name}() instead.")
    if not callable(fn):
        raise TypeError(f"'{type(fn).__name__}' object is not callable")
    _check_target(self)
    convert = {"f": float, "i": int, "b": bool}[self._data.dtype.kind]
    results = []
    for args in values():
        result = fn(*args)
        if isinstance(result, Tensor):
            result = result.item()
        if not isinstance(result, (int, float, np.number, np.bool_)):
            raise TypeError(f"must be real number, not {type(result).__name__}")
        results.append(convert(result))
    # Written only once every call has succeeded: a failing callable leaves the tensor as it was.
    self._data[...] = np.array(results, self._data.dtype).reshape(self._data.shape)
    self._counter.value += 1
    return self


def apply_(self: Tensor, callable: Any) -> Tensor:
    """Replace each element ``v`` by ``callable(v)``, in place (CPU only)."""
    return _per_element(self, "apply_", callable, lambda: ((v,) for v in self._data.ravel().tolist()))


def map_(self: Tensor, tensor: Tensor, callable: Any) -> Tensor:
    """Replace each element ``a`` by ``callable(a, b)``, ``b`` the element of ``tensor`` (broadcast
    to this tensor's shape) at the same place, in place (CPU only)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"map_(): argument 'tensor' must be Tensor, not {type(tensor).__name__}")
    try:
        other = np.broadcast_to(tensor._data, self._data.shape)
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({list(tensor.shape)}) must match the size of tensor b "
                           f"({list(self.shape)}): map_ broadcasts the other tensor to this one's shape") from None
    return _per_element(self, "map_", callable,
                        lambda: zip(self._data.ravel().tolist(), other.ravel().tolist()))

"""``Parameter``: a leaf tensor that a ``Module`` registers as trainable; ``Buffer``; and the
placeholders of lazy modules, ``UninitializedParameter`` and ``UninitializedBuffer``."""
from __future__ import annotations

import gc
import sys
import types
from typing import Any, Iterable, NoReturn

import numpy as np

from .. import creation
from ..tensor import Size, Tensor, _wrap, _wrap_dim


class Parameter(Tensor):
    """A Tensor that requires grad by default and is collected by ``Module.parameters()``."""

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> "Parameter":
        if data is None:
            data = Tensor()
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter data must be a Tensor, got {type(data).__name__}")
        out = object.__new__(cls)
        out._data = data._data
        out._counter = data._counter
        out._requires_grad = False
        out.grad_fn = None
        if requires_grad:
            out.requires_grad_(True)
        return out

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__  # (Tensor binds __str__ to its own __repr__; print shows the header too)

    def __deepcopy__(self, memo: dict) -> "Parameter":
        out = Parameter(Tensor._from_array(self._data.copy()), self._requires_grad)
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild_parameter, (self._data.copy(), self._requires_grad))


class _BufferMeta(type):
    # ``Buffer(...)`` returns a plain tensor marked as a buffer, as PyTorch's does, so that
    # isinstance checks the mark.
    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, Tensor) and getattr(instance, "_is_buffer", False)


class Buffer(metaclass=_BufferMeta):
    """A tensor that a ``Module`` registers as a buffer when assigned as an attribute
    (``persistent`` buffers are saved in its ``state_dict``).

    >>> m = nn.Module(); m.counts = nn.Buffer(tapegrad.zeros(2)); list(m.state_dict())
    ['counts']
    """

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True) -> Tensor:  # type: ignore[misc]
        if data is None:
            data = Tensor()
        out = data.detach().requires_grad_(data.requires_grad)
        out.persistent = persistent
        out._is_buffer = True
        return out


def zero_grads(params: Iterable[Tensor], set_to_none: bool) -> None:
    """Reset gradients: drop them (``set_to_none``) or zero them in place, detached."""
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            p.grad.detach_()
            p.grad.zero_()


def _rebuild_parameter(data: np.ndarray, requires_grad: bool) -> Parameter:
    return Parameter(Tensor._from_array(data), requires_grad)


# The ``_data`` slot itself: an uninitialized tensor hides it behind a refusing property, and
# its own methods reach its placeholder (an empty array with the dtype and device to
# materialize with) through the slot.
_DATA_SLOT = Tensor.__dict__["_data"]

# Modules whose code handles uninitialized tensors knowingly (module calls, state dicts, lazy
# initialization): they name nothing the user called, and what they ask is answered as PyTorch
# answers a user.
_KNOWING = {"tapegrad.nn.module", "tapegrad.nn.lazy", __name__}


def _placeholder(t: Tensor) -> np.ndarray:
    return _DATA_SLOT.__get__(t, Tensor)


def _is_tapegrad(module: str) -> bool:
    return module == "tapegrad" or module.startswith("tapegrad.")


def _asked_by_an_op() -> bool:
    """Whether the caller of the asking method is tapegrad's own op code: an op that reads a
    shape first must refuse as one that reads the values does, not go on with the placeholder's."""
    module = sys._getframe(2).f_globals.get("__name__", "")
    return _is_tapegrad(module) and module not in _KNOWING


def _function_name(frame: types.FrameType) -> str:
    code = frame.f_code
    if "<locals>" not in getattr(code, "co_qualname", ""):
        return code.co_name
    # A method made by a factory (``x.__add__``, ``x.view``): find the function object by its
    # closure, which knows the public name.
    for referrer in gc.get_referrers(code):
        if isinstance(referrer, types.FunctionType) and referrer.__code__ is code and all(
                frame.f_locals.get(name) is cell.cell_contents
                for name, cell in zip(code.co_freevars, referrer.__closure__ or ())):
            return referrer.__name__
    return code.co_name


def _entry_point() -> str:
    """The outermost tapegrad function on the stack, standing for the function that PyTorch's
    message names (PyTorch refuses at ``__torch_function__`` dispatch; tapegrad, which has none,
    refuses where an op first reads the tensor)."""
    frame: types.FrameType | None = sys._getframe(1)
    name = None
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not _is_tapegrad(module):
            break
        if module not in _KNOWING and frame.f_code.co_name != "forward":
            name = _function_name(frame)
        frame = frame.f_back
    return f"<function {name}>" if name is not None else "a tapegrad function"


class UninitializedTensorMixin:
    """What ``UninitializedParameter`` and ``UninitializedBuffer`` share: no shape yet, only a
    dtype and a device, which ``to()``/``double()``/``cuda()``... change, and ``materialize``,
    which gives the tensor its shape in place and turns it into ``cls_to_become``. Any op
    that reads its values raises PyTorch's ``ValueError``."""

    __slots__ = ()
    cls_to_become: type

    def _refuse(self, method: str | None = None) -> NoReturn:
        where = f"<function {method}>" if method is not None else _entry_point()
        raise ValueError(
            f"Attempted to use an uninitialized parameter in {where}. This error happens when you are "
            "using a `LazyModule` or explicitly manipulating "
            f"`torch.nn.parameter.{type(self).__name__}` objects. When using LazyModules Call `forward` with a "
            "dummy batch to initialize the parameters before calling torch functions")

    @property
    def _data(self) -> NoReturn:
        self._refuse()

    @_data.setter
    def _data(self, value: Any) -> None:
        _DATA_SLOT.__set__(self, value)

    def materialize(self, shape: Any, device: Any = None, dtype: Any = None) -> None:
        """Give this tensor ``shape`` (uninitialized values), on ``device`` and of ``dtype``
        (by default those it was created or moved with), and make it a ``cls_to_become``."""
        placeholder = _wrap(_placeholder(self))  # type: ignore[arg-type]
        data = creation.empty(shape, device=placeholder.device if device is None else device,
                              dtype=placeholder.dtype if dtype is None else dtype)._data
        _DATA_SLOT.__set__(self, data)
        self.__class__ = self.cls_to_become

    # What PyTorch lets an uninitialized tensor do: report and change its dtype and device.
    @property
    def shape(self) -> NoReturn:
        if _asked_by_an_op():
            self._refuse()
        raise RuntimeError(
            "Can't access the shape of an uninitialized parameter or buffer. This error usually happens in "
            "`load_state_dict` when trying to load an uninitialized parameter into an initialized one. Call "
            "`forward` to initialize the parameters before accessing their attributes.")

    def size(self, dim: int | None = None) -> "Size | int":
        if _asked_by_an_op():
            self._refuse()
        shape = _placeholder(self).shape  # type: ignore[arg-type]
        return Size(shape) if dim is None else shape[_wrap_dim(dim, len(shape))]

    @property
    def ndim(self) -> int:
        if _asked_by_an_op():
            self._refuse()
        return _placeholder(self).ndim  # type: ignore[arg-type]

    @property
    def dtype(self) -> Any:
        return _wrap(_placeholder(self)).dtype  # type: ignore[arg-type]

    @property
    def device(self) -> Any:
        return _wrap(_placeholder(self)).device  # type: ignore[arg-type]

    @property
    def is_cuda(self) -> bool:
        return not isinstance(_placeholder(self), np.ndarray)  # type: ignore[arg-type]

    def get_device(self) -> int:
        return _wrap(_placeholder(self)).get_device()  # type: ignore[arg-type]

    def is_floating_point(self) -> bool:
        return _placeholder(self).dtype.kind == "f"  # type: ignore[arg-type]

    @property
    def data(self) -> Tensor:
        return _wrap(_placeholder(self))  # type: ignore[arg-type]

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
        _DATA_SLOT.__set__(self, _placeholder(value))

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """The same kind of uninitialized tensor with the new dtype/device (itself when unchanged)."""
        placeholder = _placeholder(self)  # type: ignore[arg-type]
        moved = _wrap(placeholder).to(*args, **kwargs)._data
        if moved is placeholder:
            return self  # type: ignore[return-value]
        out = self._like()
        _DATA_SLOT.__set__(out, moved)
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def type(self, dtype_: Any = None) -> NoReturn:  # PyTorch refuses it, unlike to() and double()
        self._refuse("type")

    def cuda(self, device: Any = None, non_blocking: bool = False) -> Tensor:
        return self.to("cuda" if device is None else device)

    def _like(self) -> Any:
        raise NotImplementedError

    def share_memory_(self) -> NoReturn:
        raise RuntimeError("Can't share memory on an uninitialized parameter or buffer. Call `forward` to initialize "
                           "the parameters before calling `module.share_memory()`.")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce_ex__(self, protocol: Any) -> Any:
        # As PyTorch: only requires_grad survives pickling (the dtype and device do not).
        return (type(self), (self.requires_grad,))  # type: ignore[attr-defined]

    def __deepcopy__(self, memo: dict) -> Any:
        if id(self) in memo:
            return memo[id(self)]
        out = self._like()
        memo[id(self)] = out
        return out


def _make_uninitialized(cls: type, requires_grad: bool, device: Any, dtype: Any) -> Any:
    out = object.__new__(cls)
    placeholder = creation.empty(0, device=device, dtype=dtype)
    _DATA_SLOT.__set__(out, placeholder._data)
    out._counter = placeholder._counter
    out.grad_fn = None
    # Set directly: requires_grad_() reads the values, which an uninitialized tensor refuses.
    out._requires_grad = bool(requires_grad)
    return out


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A ``Parameter`` whose shape is not known yet (the weights of a lazy module before its
    first call); ``materialize(shape)`` gives it one and makes it a plain ``Parameter``, the
    same object, so an optimizer that holds it trains the result.

    >>> p = nn.UninitializedParameter(dtype=tapegrad.float64)
    >>> p
    <UninitializedParameter>
    >>> p.materialize((2, 3)); type(p).__name__, p.shape, p.dtype
    ('Parameter', tapegrad.Size([2, 3]), tapegrad.float64)
    """

    cls_to_become = Parameter

    def __new__(cls, requires_grad: bool = True, device: Any = None, dtype: Any = None) -> "UninitializedParameter":
        return _make_uninitialized(cls, requires_grad, device, dtype)

    def __init__(self, requires_grad: bool = True, device: Any = None, dtype: Any = None) -> None:
        pass

    def _like(self) -> "UninitializedParameter":
        placeholder = _wrap(_placeholder(self))
        return type(self)(self._requires_grad, placeholder.device, placeholder.dtype)


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer whose shape is not known yet (a lazy batch norm's running statistics);
    ``materialize(shape)`` gives it one and makes it a plain ``Tensor``, the same object.

    >>> b = nn.UninitializedBuffer()
    >>> isinstance(b, nn.Buffer), b
    (True, <UninitializedBuffer>)
    """

    cls_to_become = Tensor

    def __new__(cls, requires_grad: bool = False, device: Any = None, dtype: Any = None,
                persistent: bool = True) -> "UninitializedBuffer":
        out = _make_uninitialized(cls, requires_grad, device, dtype)
        out.persistent = persistent
        out._is_buffer = True
        return out

    def __init__(self, requires_grad: bool = False, device: Any = None, dtype: Any = None,
                 persistent: bool = True) -> None:
        pass

    def _like(self) -> "UninitializedBuffer":
        placeholder = _wrap(_placeholder(self))
        return type(self)(self._requires_grad, placeholder.device, placeholder.dtype)


def is_lazy(param: Any) -> bool:
    """Whether ``param`` is an ``UninitializedParameter`` or an ``UninitializedBuffer``."""
    return isinstance(param, UninitializedTensorMixin)

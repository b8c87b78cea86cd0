"""The Tensor front end: a buffer plus autograd metadata.

The buffer (``_data``) is a NumPy array for a CPU tensor and a numba device array
(``tapegrad.cuda._arrays.CudaArray``) for a CUDA tensor: the device is the buffer's type, so
nothing else records it. Values leave a CUDA tensor only through an explicit copy
(``.cpu()``, ``.item()``, ``.tolist()``, printing); ``.numpy()`` refuses, as PyTorch's does.

Views (``x[0]``, ``x.t()``, ``x.view(...)``) hold a view of their base's buffer and
share its version counter, so an in-place change through either is seen by both and by any
step that saved them. Op methods are thin calls into ``tapegrad.ops``; they are attached to
the class by ``tapegrad.ops.methods``.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

from . import dtypes as _dtypes
from .autograd import grad_mode
from . import autograd as _autograd  # (its ``backward`` function, looked up per call: no import per call)
from .autograd.tape import AccumulateGrad, Step
from .device import CPU, CUDA0, device as _device_type
from .dtypes import dtype
from .user_warnings import warn_user


class VersionCounter:
    """Counts in-place changes of a storage; shared by a base and all its views."""

    # No __init__ and no slots: the count is this class-level 0 until the first in-place change
    # stores one on the instance. Every op makes a counter, and a Python __init__ would double
    # what that costs.
    value: int = 0


def type_name(t: "Tensor") -> str:
    """PyTorch's legacy type name used in error messages, e.g. ``tapegrad.FloatTensor``."""
    return f"tapegrad.{t.dtype.scalar_name}Tensor"


class Tensor:
    """An n-dimensional array that records the ops applied to it for autograd.

    >>> import tapegrad
    >>> x = tapegrad.tensor([2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([4., 6.])
    """

    # The fields every op sets are slots; the rest are class-level defaults that an
    # instance overrides only when it needs to (a view's base, hooks, ...), which keeps
    # creating a tensor, the hot path of every op, down to four stores.
    __slots__ = ("_data", "_counter", "_requires_grad", "grad_fn", "__dict__", "__weakref__")

    _data: np.ndarray
    _counter: VersionCounter
    _requires_grad: bool
    grad_fn: Step | None
    _base: "Tensor | None" = None
    _view_chain: "tuple[tuple[Any, Any], ...] | None" = None
    _grad: "Tensor | None" = None
    _grad_acc: AccumulateGrad | None = None
    _hooks: "list[Callable[[Tensor], Tensor | None]] | None" = None
    _post_accumulate_hooks: "list[Callable[[Tensor], None]] | None" = None
    _retains_grad: bool = False
    _view_version: int = 0  # the shared version when a view's history was last made
    # A base's in-place shape changes (``t_``, ``squeeze_``, ...), each as the view op that
    # undoes it, and for a view, how many of its base's changes its chain came after: a chain
    # is written for the base's layout when the view was made.
    _layout_undo: "tuple[tuple[Any, Any], ...]" = ()
    _view_epoch: int = 0
    # Above an ndarray's: NumPy scalars and arrays on the left of an operator defer to the
    # tensor's reflected method (``np.float64(2) * x`` is a tensor with history, as in PyTorch,
    # not an ndarray that silently drops it).
    __array_priority__ = 1000

    # The legacy constructor: Tensor(data), Tensor(*sizes) and Tensor() make float32 tensors.
    def __new__(cls, *args: Any, **kwargs: Any) -> "Tensor":
        from .creation import legacy_new

        return legacy_new(cls, _dtypes.get_default_dtype(), args, kwargs)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    # ---------------------------------------------------------------- basic attributes
    @property
    def shape(self) -> "Size":
        return _new_tuple(Size, self._data.shape)  # (sizes known good: skips Size's checks)

    def size(self, dim: int | None = None) -> "Size | int":
        if dim is None:
            return _new_tuple(Size, self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    def dim(self) -> int:
        return self._data.ndim

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return self._data.size

    def nelement(self) -> int:
        return self._data.size

    def element_size(self) -> int:
        return self._data.dtype.itemsize

    @property
    def _version(self) -> int:
        """How many times this tensor's storage has been changed in place (shared with its views)."""
        return self._counter.value

    @property
    def dtype(self) -> dtype:
        return _dtypes._BY_NUMPY[self._data.dtype]

    @property
    def device(self) -> _device_type:
        return CPU if isinstance(self._data, np.ndarray) else CUDA0

    @property
    def is_cuda(self) -> bool:
        return not isinstance(self._data, np.ndarray)

    def get_device(self) -> int:
        """The CUDA device index, or -1 for a CPU tensor (as PyTorch)."""
        return -1 if isinstance(self._data, np.ndarray) else 0

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    @property
    def layout(self) -> Any:
        """``tapegrad.strided``: every tensor here is dense."""
        from .memory_formats import strided

        return strided

    def is_contiguous(self, memory_format: Any = None) -> bool:
        data = self._data
        if memory_format is not None:
            from . import memory_formats as formats

            dims = formats.ORDERS.get(formats.check(memory_format, "is_contiguous"))
            if dims is not None:
                return data.ndim == len(dims) and formats.is_in_order(data, dims)
        return bool(data.flags.c_contiguous if isinstance(data, np.ndarray) else data.is_c_contiguous())

    def stride(self, dim: int | None = None) -> "tuple[int, ...] | int":
        itemsize = self._data.dtype.itemsize
        strides = tuple(s // itemsize for s in self._data.strides)
        return strides if dim is None else strides[_wrap_dim(dim, self._data.ndim)]

    def data_ptr(self) -> int:
        data = self._data
        if isinstance(data, np.ndarray):
            return int(data.__array_interface__["data"][0])
        return int(data.__cuda_array_interface__["data"][0] or 0)

    def storage_offset(self) -> int:
        """Where this tensor starts in its base's buffer, in elements (0 for a tensor that is no view)."""
        base = self._base
        if base is None:
            return 0
        return (self.data_ptr() - base.data_ptr()) // self._data.dtype.itemsize

    def dim_order(self) -> tuple[int, ...]:
        """The dims from outermost to innermost in memory (``(0, 1, ...)`` when contiguous)."""
        strides = self._data.strides
        return tuple(sorted(range(len(strides)), key=lambda d: -strides[d]))

    def is_shared(self) -> bool:
        return False  # no tensor lives in shared memory: there is no share_memory_()

    def is_pinned(self) -> bool:
        return False  # host memory is never page-locked

    def as_subclass(self, cls: type) -> "Tensor":
        """An alias of this tensor (same buffer, same history) as an instance of ``cls``."""
        if not (isinstance(cls, type) and issubclass(cls, Tensor)):
            raise TypeError("Creating a Tensor subclass from a class that does not inherit from Tensor is not "
                            "possible. Make sure your class inherits from Tensor.")
        out = self[...]
        out.__class__ = cls
        return out

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator["Tensor"]:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __hash__(self) -> int:
        return id(self)

    # ---------------------------------------------------------------- values out
    def item(self) -> bool | int | float:
        if _trace.ACTIVE is not None:
            _trace.refuse("Tensor.item()")
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return _host(self._data).reshape(()).item()

    def tolist(self) -> Any:
        if _trace.ACTIVE is not None:
            _trace.refuse("Tensor.tolist()")
        return _host(self._data).tolist()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        if _trace.ACTIVE is not None:
            _trace.refuse("Tensor.numpy()")
        data = self._data
        if not isinstance(data, np.ndarray):
            if not force:
                raise TypeError(_NUMPY_OF_CUDA)
            return _host(data)
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return data

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if _trace.ACTIVE is not None:
            _trace.refuse("converting a Tensor to a NumPy array")
        data = self._data
        if not isinstance(data, np.ndarray):
            raise TypeError(_NUMPY_OF_CUDA)
        return data if dtype is None else data.astype(dtype)

    def _scalar_check(self, kind: str) -> None:
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to {kind}")

    def __bool__(self) -> bool:
        if _trace.ACTIVE is not None:
            _trace.refuse("bool(tensor) (an if or while on a tensor)")
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {'no values' if self._data.size == 0 else 'more than one value'} is ambiguous")
        return bool(_host(self._data).reshape(()))

    def __float__(self) -> float:
        if _trace.ACTIVE is not None:
            _trace.refuse("float(tensor)")
        self._scalar_check("Scalar")
        return float(_host(self._data).reshape(()))

    def __int__(self) -> int:
        if _trace.ACTIVE is not None:
            _trace.refuse("int(tensor)")
        self._scalar_check("Scalar")
        return int(_host(self._data).reshape(()))

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(_host(self._data).reshape(()))

    def __repr__(self) -> str:
        from .formatting import tensor_repr

        grad_fn = self.grad_fn
        return tensor_repr(_host(self._data), dtype_name=self.dtype.name,
                           default_float_dtype_name=_dtypes.get_default_dtype().name,
                           requires_grad=self._requires_grad,
                           grad_fn_name=grad_fn.name() if grad_fn is not None else None,
                           device=str(self.device))

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0 and spec:
            return format(self.item(), spec)
        return repr(self)

    # ---------------------------------------------------------------- autograd surface
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach().")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def grad(self) -> "Tensor | None":
        if self.grad_fn is not None and self._grad is None and not self._retains_grad:
            import warnings

            warn_user(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
                "attribute won't be populated during autograd.backward(). If you indeed want the .grad field "
                "to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you "
                "access the non-leaf Tensor by mistake, make sure you access the leaf Tensor instead.",
                UserWarning)
        return self._grad

    @grad.setter
    def grad(self, value: "Tensor | None") -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type {type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(f"assigned grad has data of a different size: grad {tuple(value.shape)} "
                                   f"vs tensor {tuple(self.shape)}")
            if value.dtype is not self.dtype:
                raise RuntimeError(f"assigned grad has data of a different type: {value.dtype} vs {self.dtype}")
            if value.device != self.device:
                raise RuntimeError("assigned grad has data located on a different device")
        self._grad = value

    @property
    def data(self) -> "Tensor":
        # A fresh version counter: changes made through .data are deliberately not tracked.
        return _wrap(self._data)

    @data.setter
    def data(self, value: "Tensor") -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
        self._data = value._data

    @property
    def output_nr(self) -> int:
        return 0  # every recorded op has a single differentiable output

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def retain_grad(self) -> None:
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None or self._retains_grad:
            return
        self._retains_grad = True
        import weakref

        self.grad_fn.retained = weakref.ref(self)

    def register_hook(self, hook: Callable[["Tensor"], "Tensor | None"]) -> "RemovableHandle":
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            if self.grad_fn.hooks is None:
                self.grad_fn.hooks = []
            hooks = self.grad_fn.hooks
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[["Tensor"], None]) -> "RemovableHandle":
        """Call ``hook(self)`` after ``backward`` has accumulated into this leaf's ``.grad``
        (an optimizer step per parameter, say); its return value is ignored."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = []
        self._post_accumulate_hooks.append(hook)
        return RemovableHandle(self._post_accumulate_hooks, hook)

    def backward(self, gradient: "Tensor | None" = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: "list[Tensor] | None" = None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        _autograd.backward([self], None if gradient is None else [gradient], retain_graph, create_graph,
                           inputs=inputs)

    def detach(self) -> "Tensor":
        out = _wrap(self._data)
        out._counter = self._counter
        return out

    def detach_(self) -> "Tensor":
        if self._base is not None and self._base._requires_grad:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self.grad_fn = None
        self._requires_grad = False
        return self

    def _refresh_view_history(self) -> None:
        """Remake a view's history from its base after the storage changed in place through
        the base or another view (PyTorch does the same, lazily)."""
        base = self._base
        self._view_version = self._counter.value
        if base is None or not base._requires_grad or self._view_chain is None:
            return
        from .ops.movement import replay_view_chain

        remade = replay_view_chain(base, self._effective_chain())
        self.grad_fn = remade.grad_fn
        self._requires_grad = True

    def _effective_chain(self) -> "tuple[tuple[Any, Any], ...]":
        """The view chain from the base's current layout: the base's in-place shape changes made
        since this view was made are undone first."""
        undo = self._base._layout_undo[self._view_epoch:]
        return tuple(reversed(undo)) + self._view_chain if undo else self._view_chain

    def _accumulator(self) -> AccumulateGrad:
        acc = self._grad_acc
        if acc is None:
            acc = self._grad_acc = AccumulateGrad(self)
        return acc

    def _edge(self) -> "Step | AccumulateGrad | None":
        """Where gradients for this tensor flow: its producing step or its leaf sink."""
        if self._base is not None and self._view_version != self._counter.value:
            self._refresh_view_history()
        if not self._requires_grad:
            return None
        step = self.grad_fn
        return step if step is not None else self._accumulator()

    # ---------------------------------------------------------------- conversions
    def to(self, *args: Any, **kwargs: Any) -> "Tensor":
        from .ops.movement import to

        return to(self, *args, **kwargs)

    def type(self, dtype_: Any = None, non_blocking: bool = False) -> "str | Tensor":
        """The legacy type name (``tapegrad.cuda.ByteTensor``), or a copy of another type: a dtype,
        a legacy type (``tapegrad.ShortTensor``) or its name (``"torch.cuda.FloatTensor"``)."""
        on_cuda = not isinstance(self._data, np.ndarray)
        if dtype_ is None:
            return type_name(self).replace("tapegrad.", "tapegrad.cuda.") if on_cuda else type_name(self)
        if isinstance(dtype_, str):
            *module, legacy = dtype_.split(".")
            found = [d for d in _dtypes.ALL if f"{d.scalar_name}Tensor" == legacy]
            if module[:1] not in (["tapegrad"], ["torch"]) or module[1:] not in ([], ["cuda"]) or not found:
                raise ValueError(f"invalid type: '{dtype_}'")
            return self.to("cuda" if module[1:] else "cpu", found[0])
        if isinstance(dtype_, type) and isinstance(getattr(dtype_, "dtype", None), _dtypes.dtype):
            dtype_ = dtype_.dtype  # a legacy type: FloatTensor, ByteTensor, ...
        return self.to(_dtypes.as_dtype(dtype_))

    def float(self) -> "Tensor":
        return self.to(_dtypes.float32)

    def double(self) -> "Tensor":
        return self.to(_dtypes.float64)

    def long(self) -> "Tensor":
        return self.to(_dtypes.int64)

    def int(self) -> "Tensor":
        return self.to(_dtypes.int32)

    def short(self) -> "Tensor":
        return self.to(_dtypes.int16)

    def char(self) -> "Tensor":
        return self.to(_dtypes.int8)

    def byte(self) -> "Tensor":
        return self.to(_dtypes.uint8)

    def bool(self) -> "Tensor":
        return self.to(_dtypes.bool_)

    def cpu(self) -> "Tensor":
        return self if isinstance(self._data, np.ndarray) else self.to(CPU)

    # ---------------------------------------------------------------- interop
    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        """The CUDA array interface (version 3) of a CUDA tensor's memory, shared, not copied."""
        if isinstance(self._data, np.ndarray):
            raise AttributeError(f"Can't get __cuda_array_interface__ on non-CUDA tensor type: {type_name(self)} "
                                 "If CUDA data is required use tensor.cuda() to copy tensor to device memory.")
        if self._requires_grad:
            raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires grad. If gradients "
                               "aren't required, use var.detach() to get Variable that doesn't require grad.")
        return self._data.__cuda_array_interface__

    def __dlpack__(self, stream: Any = None, *, max_version: Any = None, dl_device: Any = None,
                   copy: Any = None) -> Any:
        """A DLPack capsule sharing this tensor's memory (``tapegrad.from_dlpack``, ``torch.from_dlpack``)."""
        from .cuda._interop import to_dlpack

        return to_dlpack(self, stream, max_version=max_version, dl_device=dl_device, copy=copy)

    def __dlpack_device__(self) -> tuple[int, int]:
        from .cuda._interop import dlpack_device

        return dlpack_device(self)

    def __deepcopy__(self, memo: dict) -> "Tensor":
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support "
                               "the deepcopy protocol at the moment.")
        out = _wrap(self._data.copy())
        out._requires_grad = self._requires_grad
        if self._grad is not None:
            out._grad = self._grad.__deepcopy__(memo)
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, protocol: Any) -> Any:
        if not isinstance(self._data, np.ndarray):
            return (_rebuild_cuda, (_host(self._data), self._requires_grad))
        return (_rebuild, (self._data.copy(), self._requires_grad))

    @staticmethod
    def _from_array(data: np.ndarray) -> "Tensor":
        """A leaf over ``data`` without a copy (internal constructor)."""
        return _wrap(data)


def _rebuild(data: np.ndarray, requires_grad: bool) -> Tensor:
    out = _wrap(data)
    out._requires_grad = requires_grad
    return out


def _rebuild_cuda(data: np.ndarray, requires_grad: bool) -> Tensor:
    """Unpickle a CUDA tensor: back onto the device (which must be usable, as in PyTorch)."""
    from . import cuda

    cuda.init()
    from .cuda._arrays import to_device

    return _rebuild(to_device(data), requires_grad)


_NUMPY_OF_CUDA = ("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor "
                  "to host memory first.")


def _host(data: Any) -> np.ndarray:
    """A buffer's values as a NumPy array: the buffer itself on the CPU, a copy from a device."""
    if isinstance(data, np.ndarray):
        return data
    from .cuda._arrays import to_host

    return to_host(data)


_new_tuple = tuple.__new__
_tuple_item = tuple.__getitem__
_tuple_add = tuple.__add__
_tuple_mul = tuple.__mul__


class Size(tuple):
    """``tensor.shape``: a tuple that prints as ``torch.Size([2, 3])`` does; slicing, adding
    and repeating one give a Size, as in PyTorch."""

    def __new__(cls, sizes: Any = ()) -> "Size":
        sizes = tuple(sizes)
        for i, s in enumerate(sizes):
            if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
                if not (isinstance(s, Tensor) and s._data.ndim == 0 and s._data.dtype.kind in "iu"):
                    raise TypeError(f"tapegrad.Size() takes an iterable of 'int' (item {i} is '{type(s).__name__}')")
        return super().__new__(cls, (int(s) for s in sizes))

    def __repr__(self) -> str:
        return f"tapegrad.Size({list(self)})"

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return _new_tuple(Size, _tuple_item(self, key))
        return _tuple_item(self, key)

    def __add__(self, other: Any) -> "Size":
        return Size(_tuple_add(self, other)) if isinstance(other, tuple) else NotImplemented

    def __radd__(self, other: Any) -> "Size":
        return Size(other + tuple(self)) if isinstance(other, tuple) else NotImplemented

    def __mul__(self, n: Any) -> "Size":
        return _new_tuple(Size, _tuple_mul(self, n)) if isinstance(n, int) else NotImplemented

    __rmul__ = __mul__

    def numel(self) -> int:
        total = 1
        for s in self:
            total *= s
        return total


class RemovableHandle:
    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks: list, hook: Callable) -> None:
        self._hooks = hooks
        self._hook = hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


_new_object = object.__new__


def _wrap(data: np.ndarray) -> Tensor:
    """A new leaf Tensor over ``data`` (no copy). The hot path of every op."""
    t = _new_object(Tensor)
    t._data = data
    t._counter = VersionCounter()
    t._requires_grad = False
    t.grad_fn = None
    return t


def _wrap_dim(dim: int, ndim: int) -> int:
    """Normalise a possibly negative dim, raising PyTorch's IndexError when out of range."""
    low, high = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not low <= dim <= high:
        raise IndexError(f"Dimension out of range (expected to be in range of [{low}, {high}], but got {dim})")
    return dim + ndim if dim < 0 else dim


def is_tensor(obj: object) -> bool:
    return isinstance(obj, Tensor)


def grad_enabled() -> bool:
    return grad_mode.state.enabled


# Imported last: the compiler's tracer imports this module.
from .compiler import trace as _trace  # noqa: E402

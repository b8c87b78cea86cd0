"""How elementwise ops run: ``ElementwiseOp`` (an op defined by a scalar function), PyTorch's
type promotion and broadcasting for its operands, and the paths from tensors to the backend's
generated kernels (a lean one for the common same-shape cases, a general one otherwise).

CUDA tensors (a numba device array as ``_data``) take the general path to the CUDA kernels
generated from the same scalar functions (``_apply_cuda``); the lean CPU paths test only that
their buffers are exact NumPy arrays (a type check), and leave anything else to ``apply``.

The ops themselves (scalar forward, saved values, VJP) are in ``elementwise.py``.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes as _dtypes
from ..autograd import grad_mode
from ..autograd.tape import Step
from ..backends import cpu
from ..compiler import trace
from ..compiler import rules
from ..tensor import Tensor, VersionCounter as _VersionCounter, _wrap
from .registry import OUTPUT, OpDef, record, record_pair, record_single

SAME, FLOAT, BOOL = "same", "float", "bool"
_SCALARS = (bool, int, float)
_NDARRAY = np.ndarray


class DeviceAttrs(tuple):
    """The attrs of a step recorded by an op run on CUDA: a tuple that cannot be hashed.

    Backward-time fusion (``autograd.fused_backward``) compiles CPU kernels for tapes it has
    seen before, keyed by a hash of their steps; an unhashable step keeps a CUDA tape on the
    ordinary sweep, whose VJPs run on CUDA."""

    __hash__ = None  # type: ignore[assignment]


CUDA_STEP = DeviceAttrs()

class ElementwiseOp(OpDef):
    """``saves`` names what the VJP gets after the gradient: "x0", "x1", … (inputs) or "out".

    ``only_for`` maps a name of ``saves`` to the inputs whose gradients alone use it; a step
    saves it only when one of those inputs requires grad, and the VJP gets None otherwise. As
    in PyTorch, ``y * 2`` then saves nothing of ``y``, so writing into ``y`` afterwards in place
    does not invalidate the step."""

    __slots__ = ("scalar", "result", "saves", "only_for", "loops", "_saved_inputs", "_conditional")

    def __init__(self, name: str, grad_name: str, scalar: Callable[..., Any],
                 rule: Callable[..., Sequence[Tensor | None]] | None,
                 saves: tuple[str, ...] = (), result: str = SAME,
                 only_for: dict[str, tuple[int, ...]] | None = None) -> None:
        super().__init__(name, grad_name, rule)
        self.scalar = scalar
        self.result = result
        self.saves = saves
        self.only_for = only_for or {}
        # Input number for each saved name (-1: the output), parsed once, not at every record.
        self._saved_inputs = tuple(-1 if name == "out" else int(name[1:]) for name in saves)
        self._conditional = tuple(self.only_for.get(name) for name in saves) if only_for else None
        # operand pattern -> the backend's loop-nest kernels by rank (filled on first use)
        self.loops: dict[str, Any] = {}

    def to_save(self, args: Sequence[Any], all_require_grad: bool = False) -> Sequence[Any]:
        """What ``record`` saves for a step of this op applied to ``args`` (see ``only_for``);
        ``all_require_grad``: every arg is a tensor that requires grad, so ``only_for`` keeps all.
        (Loops, not comprehensions: on the hot paths a comprehension's call costs more.)"""
        saved: list[Any] = []
        if self._conditional is None or all_require_grad:
            for k in self._saved_inputs:
                saved.append(OUTPUT if k < 0 else args[k])
            return saved
        for k, users in zip(self._saved_inputs, self._conditional):
            if users is not None and not _any_requires_grad(args, users):
                saved.append(None)
            else:
                saved.append(OUTPUT if k < 0 else args[k])
        return saved

    def loop(self, pattern: str, ndim: int) -> Any:
        kernels = self.loops.get(pattern)
        if kernels is None:
            kernels = self.loops[pattern] = cpu.loop_kernels(self.scalar, pattern)
        return kernels[ndim]

    def renamed(self, name: str, grad_name: str) -> "ElementwiseOp":
        """The same op under another grad_fn name (e.g. ``2 - x`` is ``RsubBackward1``)."""
        return ElementwiseOp(name, grad_name, self.scalar, self.rule, self.saves, self.result, self.only_for)

    def vjp(self, step: Step, grad: Tensor) -> Sequence[Tensor | None]:
        if self.rule is None:
            raise RuntimeError(f"the derivative for '{self.name}' is not implemented")
        if step.attrs is CUDA_STEP and type(grad._data) is _NDARRAY:
            # A gradient made on the host (backward's implicit ones) for a step that ran on CUDA.
            grad = _to_cuda(grad)
        needs = tuple(edge is not None for edge in step.edges)
        grads = self.rule(needs, grad, *step.saved_values())
        return tuple(_reduce_to_input(g, meta) if g is not None and meta is not None else None
                     for g, meta in zip(grads, step.input_meta))

    def __call__(self, *args: Any) -> Tensor:
        return apply(self, args)

    def binary_method(self, reflected: bool = False) -> Callable[[Any, Any], Tensor]:
        """``x.__add__``-style method: the operator path without keyword handling. ``reflected``
        (``__radd__``): a NumPy array on the left is refused (NotImplemented), as in PyTorch."""
        op = self

        def method(x: Any, y: Any) -> Tensor:
            if isinstance(y, Tensor):
                result = _same_shape_pair(op, x, y)
            elif type(y) is float or type(y) is int:
                result = _tensor_scalar(op, x, y)
            elif reflected and isinstance(y, np.ndarray):
                return NotImplemented
            else:
                result = None
            if result is not None:
                return result
            args = (x, y)
            result = _apply_fast(op, args)
            return result if result is not None else apply(op, args)

        method.__name__ = self.name
        return method


def _any_requires_grad(args: Sequence[Any], indices: tuple[int, ...]) -> bool:
    for k in indices:
        a = args[k]
        if isinstance(a, Tensor) and a._requires_grad:
            return True
    return False


def _reduce_to_input(grad: Tensor, meta: tuple[tuple[int, ...], np.dtype]) -> Tensor:
    shape, dtype = meta
    if grad._data.shape != shape:
        if isinstance(grad._data, _NDARRAY):
            from .reduce import sum_to

            grad = sum_to(grad, shape)
        else:
            grad = cuda_sum_to(grad, shape)
    if grad._data.dtype != dtype:
        grad = grad.to(_dtypes.from_numpy_dtype(dtype))
    return grad


# (signature of operands) -> (compute dtype, output dtype); signatures are tiny tuples.
_promotion_cache: dict[tuple[Any, ...], tuple[np.dtype, np.dtype]] = {}


def _promote(op: ElementwiseOp, args: Sequence[Any]) -> tuple[np.dtype, np.dtype]:
    signature = (op.result,) + tuple(
        (a._data.ndim > 0, a._data.dtype) if isinstance(a, Tensor) else type(a) for a in args)
    found = _promotion_cache.get(signature)
    if found is not None:
        return found
    dims, zero_dim, scalars = [], [], []
    for a in args:
        if isinstance(a, Tensor):
            (dims if a._data.ndim > 0 else zero_dim).append(_dtypes.from_numpy_dtype(a._data.dtype))
        else:
            scalars.append(_dtypes.scalar_dtype(a))
    compute = _dtypes.result_type(dims, zero_dim, scalars)
    if op.result == FLOAT and not compute.is_floating_point:
        compute = _dtypes.get_default_dtype()
    out = _dtypes.bool_ if op.result == BOOL else compute
    found = _promotion_cache[signature] = (compute.numpy, out.numpy)
    return found


def _broadcast_shape(args: Sequence[Any]) -> tuple[int, ...]:
    shape: tuple[int, ...] | None = None
    mismatch = False
    for a in args:
        if isinstance(a, Tensor):
            s = a._data.shape
            if shape is None:
                shape = s
            elif s != shape:
                mismatch = True
    if not mismatch:
        return shape if shape is not None else ()
    shapes = [a._data.shape for a in args if isinstance(a, Tensor)]
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise RuntimeError(_broadcast_error(shapes)) from None


def _broadcast_error(shapes: list[tuple[int, ...]]) -> str:
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    for d in range(ndim):
        sizes = {p[d] for p in padded} - {1}
        if len(sizes) > 1:
            a, b = sorted(sizes)[:2]
            which = [i for i, p in enumerate(padded) if p[d] in (a, b)]
            names = "ab"
            return (f"The size of tensor {names[0]} ({padded[which[0]][d]}) must match the size of "
                    f"tensor {names[1]} ({padded[which[1]][d]}) at non-singleton dimension {d}")
    return f"shapes {shapes} cannot be broadcast together"


def as_operand(value: Any, args: Sequence[Any] = ()) -> Any:
    """A NumPy scalar as the Python number it holds; a NumPy array (``t * array``, which
    PyTorch's operators hand to NumPy) as a tensor of a copy of it (backward may save it) in the
    dtype NumPy's promotion with the tensors among ``args`` gives: PyTorch's result dtype."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        dtype = np.result_type(value.dtype, *(a._data.dtype for a in args if isinstance(a, Tensor)))
        return _wrap(np.array(value, dtype=_dtypes.from_numpy_dtype(dtype).numpy))
    raise TypeError(f"unsupported operand type {type(value).__name__!r} for a tensor op; "
                    "expected a Tensor or a Python number")


def apply(op: ElementwiseOp, args: Sequence[Any], out: np.ndarray | None = None) -> Tensor:
    """Run ``op`` on tensors and Python scalars with broadcasting and PyTorch promotion."""
    if out is None:
        fast = _apply_fast(op, args)
        if fast is not None:
            return fast
    args = tuple(a if isinstance(a, (Tensor,) + _SCALARS) else as_operand(a, args) for a in args)
    for a in args:
        if isinstance(a, Tensor) and type(a._data) is not _NDARRAY and not isinstance(a._data, _NDARRAY):
            return _apply_cuda(op, args, out)
    compute, out_dtype = _promote(op, args)
    shape = _broadcast_shape(args)
    operands = [
        (a._data if a._data.dtype == compute else a._data.astype(compute))
        if isinstance(a, Tensor) else _dtypes.wrapped_scalar(a, compute) if type(a) is int else compute.type(a)
        for a in args]
    data = cpu.elementwise(op.scalar, operands, shape, out_dtype, out)
    result = _wrap(data)
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.ELEMENTWISE, args, data, (op.scalar, compute))
    if op.rule is not None and grad_mode.state.enabled:
        for a in args:
            if isinstance(a, Tensor) and a._requires_grad:
                return record(op, args, result, None, op.to_save(args))
    return result


_BOOL = np.dtype(np.bool_)
_INT63 = 1 << 63
_new_tensor = object.__new__


def _small_loop(op: ElementwiseOp, pattern: str, ndim: int) -> Any:
    """``op.loop(pattern, ndim)`` (kept apart so the hot paths below inline only the lookup)."""
    return op.loop(pattern, ndim)


def _same_shape_pair(op: ElementwiseOp, x: Tensor, y: Tensor) -> Tensor | None:
    """The hottest case, two small float tensors of one dtype and shape; None otherwise.

    This path is what W1 times, so even ``_run_small`` (below) is inlined here: a Python call
    costs about as much as the kernel's dispatch."""
    xd = x._data
    yd = y._data
    dtype = xd.dtype
    shape = xd.shape
    size = xd.size
    # Dtypes by identity first (the usual case), then by value: arrays made by compiled code can
    # carry an equal dtype object that is not NumPy's canonical one.
    if (type(xd) is not _NDARRAY or type(yd) is not _NDARRAY or (dtype is not yd.dtype and dtype != yd.dtype)
            or dtype.kind != "f" or shape != yd.shape or size >= cpu.PARALLEL_THRESHOLD or len(shape) > 8):
        return None
    out = np.empty(shape, _BOOL if op.result == BOOL else dtype)
    if size:
        kernels = op.loops.get("aa")
        kernel = kernels[xd.ndim] if kernels is not None else _small_loop(op, "aa", xd.ndim)
        try:
            kernel(out, xd, yd)
        except TypeError:
            cpu.add_loop_specialisations(kernel, out, (xd, yd))
            kernel(out, xd, yd)
    result = _new_tensor(Tensor)
    result._data = out
    result._counter = _VersionCounter()
    result._requires_grad = False
    result.grad_fn = None
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.ELEMENTWISE, (x, y), out, (op.scalar, dtype))
    if (x._requires_grad or y._requires_grad) and op.rule is not None and grad_mode.state.enabled:
        return record_pair(op, x, y, result,
                           op.to_save((x, y), x._requires_grad and y._requires_grad) if op.saves else ())
    return result


def _tensor_scalar(op: ElementwiseOp, x: Tensor, value: float | int) -> Tensor | None:
    """``op(x, value)`` for a small float tensor (any strides) and a Python float or int: the
    other hot case (``x * 0.5``, ``y + 1``); None otherwise."""
    data = x._data
    dtype = data.dtype
    if type(data) is not _NDARRAY or dtype.kind != "f" or data.size >= cpu.PARALLEL_THRESHOLD or data.ndim > 8:
        return None
    result = _run_small(op, "as", data, (data, _float_scalar(value, dtype)))
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.ELEMENTWISE, (x, value), result._data, (op.scalar, dtype))
    if x._requires_grad and op.rule is not None and grad_mode.state.enabled:
        args = (x, value)
        return record_single(op, args, result, op.to_save(args) if op.saves else ())
    return result


def _unary(op: ElementwiseOp, x: Any) -> Tensor | None:
    """``op(x)`` for a small float tensor (any strides), the activations' hot path; None otherwise."""
    if not isinstance(x, Tensor):
        return None
    data = x._data
    dtype = data.dtype
    if type(data) is not _NDARRAY or dtype.kind != "f" or data.size >= cpu.PARALLEL_THRESHOLD or data.ndim > 8:
        return None
    result = _run_small(op, "a", data, (data,))
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.ELEMENTWISE, (x,), result._data, (op.scalar, dtype))
    if x._requires_grad and op.rule is not None and grad_mode.state.enabled:
        args = (x,)
        return record_single(op, args, result, op.to_save(args) if op.saves else ())
    return result


def _run_small(op: ElementwiseOp, pattern: str, like: np.ndarray, operands: tuple[Any, ...]) -> Tensor:
    """A new tensor holding ``op``'s loop kernel for ``pattern`` run over ``operands`` (small,
    shaped as the array ``like``): ``cpu.run_loop`` inlined, for the fast paths."""
    out = np.empty(like.shape, _BOOL if op.result == BOOL else like.dtype)
    if like.size:
        kernels = op.loops.get(pattern)
        kernel = kernels[like.ndim] if kernels is not None else _small_loop(op, pattern, like.ndim)
        try:
            kernel(out, *operands)
        except TypeError:
            cpu.add_loop_specialisations(kernel, out, operands)
            kernel(out, *operands)
    return _wrap(out)


# dtype character -> {Python number: the NumPy scalar of that dtype}. The kernels take scalars
# of the compute dtype (see ``cpu.run_loop``), and making one costs more than the kernel.
_SCALAR_CACHE: dict[str, dict[float | int, Any]] = {}
_SCALAR_CACHE_SIZE = 512


def _float_scalar(value: float | int, dtype: np.dtype) -> Any:
    """``value`` as a scalar of the float ``dtype``; an int beyond 64 bits raises PyTorch's OverflowError."""
    cache = _SCALAR_CACHE.get(dtype.char)
    if cache is None:
        cache = _SCALAR_CACHE[dtype.char] = {}
    found = cache.get(value)
    if found is not None:
        return found
    if type(value) is int and not -_INT63 < value < _INT63:
        return _dtypes.wrapped_scalar(value, dtype)
    with np.errstate(over="ignore"):  # 1e300 as float32 is inf, quietly, as in PyTorch
        found = dtype.type(value)
    # Zero is never cached: -0.0 == 0.0 would find the other's sign. (NaNs never match, and the
    # size bound keeps them, and any other stream of new values, from growing the table.)
    if value:
        if len(cache) >= _SCALAR_CACHE_SIZE:
            cache.clear()
        cache[value] = found
    return found


def _apply_fast(op: ElementwiseOp, args: Sequence[Any], out: np.ndarray | None = None) -> Tensor | None:
    """The common cases without promotion or broadcasting work: float tensors of one dtype
    and shape (any strides) and Python scalars, at most two operands. None otherwise.
    With ``out`` (same shape and dtype as the operands) the result is written there."""
    if len(args) > 2:
        return None
    if out is None and len(args) == 1:
        result = _unary(op, args[0])
        if result is not None:
            return result
    first = args[0]
    second = args[1] if len(args) == 2 else None
    tensor = first if isinstance(first, Tensor) else second
    if not isinstance(tensor, Tensor):
        return None
    if (out is None and tensor is first and isinstance(second, Tensor) and not first._data.ndim
            and second._data.ndim):
        tensor = second  # a 0-d first operand acts as a number (below)
    data = tensor._data
    dtype = data.dtype
    if type(data) is not _NDARRAY or dtype.kind != "f" or data.ndim > 8:
        return None
    operands = []
    pattern = ""
    for arg in args:
        if isinstance(arg, Tensor):
            other = arg._data
            if (other.dtype is not dtype and other.dtype != dtype) or type(other) is not _NDARRAY:
                return None
            if other.shape == data.shape:
                operands.append(other)
                pattern += "a"
            elif not other.ndim:
                # A 0-d tensor of the same dtype (a loss's upstream gradient) broadcasts as a number.
                operands.append(other[()])
                pattern += "s"
            else:
                return None
        elif isinstance(arg, (int, float)) and not isinstance(arg, bool):
            operands.append(_float_scalar(arg, dtype))
            pattern += "s"
        else:
            return None
    if out is None:
        out = np.empty(data.shape, _BOOL if op.result == BOOL else dtype)
    size = data.size
    if size >= cpu.PARALLEL_THRESHOLD and out.flags.c_contiguous and all(
            not isinstance(x, np.ndarray) or x.flags.c_contiguous for x in operands):
        cpu.parallel_kernel(op.scalar, pattern)(out, *operands)
    elif size:
        cpu.run_loop(op.loop(pattern, data.ndim), out, operands)
    result = _wrap(out)
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.ELEMENTWISE, args, out, (op.scalar, dtype))
    if op.rule is not None and grad_mode.state.enabled and (
            (isinstance(first, Tensor) and first._requires_grad) or
            (isinstance(second, Tensor) and second._requires_grad)):
        return record(op, args, result, None, op.to_save(args) if op.saves else ())
    return result


# ---------------------------------------------------------------- CUDA

_SAME_DEVICE = ("Expected all tensors to be on the same device, but found at least two devices, "
                "cuda:0 and cpu!")


def _to_cuda(tensor: Tensor) -> Tensor:
    from .movement import to

    return to(tensor, "cuda")


def _apply_cuda(op: ElementwiseOp, args: tuple[Any, ...], out: Any = None) -> Tensor:
    """``apply`` for operands on CUDA (0-d CPU tensors act as scalars, as in PyTorch)."""
    compute, out_dtype = _promote(op, args)
    shape = tuple(_broadcast_shape(args))
    recording = op.rule is not None and grad_mode.state.enabled
    operands = []
    moved = list(args)
    for k, a in enumerate(args):
        if not isinstance(a, Tensor):
            operands.append(a)
        elif not isinstance(a._data, _NDARRAY):
            operands.append(a._data)
        elif a._data.ndim:
            raise RuntimeError(_SAME_DEVICE)
        elif recording and a._requires_grad:
            # Copied to the device by a recorded step, so its gradient flows back to the host.
            moved[k] = _to_cuda(a)
            operands.append(moved[k]._data)
        else:
            operands.append(a._data.item())
    from ..cuda import _ops

    result = _wrap(_ops.elementwise(op.scalar, operands, shape, compute, out_dtype, out))
    if trace.ACTIVE is not None:
        if any(isinstance(a, Tensor) and isinstance(a._data, _NDARRAY) for a in moved):
            raise trace.TraceError("tapegrad.compile: a CPU tensor is used as a number in a CUDA op; its value "
                                   "would be frozen into the recorded step (pass a Python number or a CUDA tensor)")
        trace.ACTIVE.emit(rules.ELEMENTWISE, moved, result._data, (op.scalar, compute))
    if recording:
        for a in moved:
            if isinstance(a, Tensor) and a._requires_grad:
                return record(op, moved, result, CUDA_STEP, op.to_save(moved))
    return result


def cuda_sum_to(grad: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``reduce.sum_to`` for a CUDA gradient: summed over the broadcast dimensions (recorded as
    ``reduce.sum(dim, keepdim=True)`` is, so higher-order gradients expand it back)."""
    from ..cuda import _ops
    from .reduce import SUM_DIM

    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + d for d, s in enumerate(shape)
                                      if s == 1 and grad.shape[lead + d] != 1)
    if axes:
        summed = _wrap(_ops.sum_keepdim(grad._data, axes))
        if trace.ACTIVE is not None:
            trace.ACTIVE.emit(rules.SUM, (grad,), summed._data, (axes, 1))
        if grad_mode.state.enabled and grad._requires_grad:
            summed = record(SUM_DIM, (grad,), summed, DeviceAttrs((axes, True)))
        grad = summed
    return grad.reshape(shape) if tuple(grad.shape) != tuple(shape) else grad

"""Recording a step: while a ``Tracer`` is active, every op that compile supports reports what
it computed (``emit``), and the tracer turns those reports into a ``Graph``.

The step runs eagerly while it is traced, so the traced call returns real results. Arrays are
identified by object identity: an op's result array becomes a node's value; an array the
tracer has never seen must be a view of one it has (recorded as a view node), the buffer of
a call argument, or the buffer of a tensor found by scanning what the function can reach
(its arguments, closure, globals, bound ``self``: modules' parameters and buffers,
optimizers' parameters and state). Anything else was computed by code compile cannot record,
and using it raises ``TraceError`` instead of freezing its trace-time value into the replay.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Iterable

import numpy as np

from ..tensor import Tensor
from .graph import ARGUMENT, CAPTURED, HOST, NODE, Graph, Node, Value

ACTIVE: "Tracer | None" = None
"""The tracer of the step being recorded, or None (the eager fast path checks only this)."""


class TraceError(RuntimeError):
    """The function does something ``tapegrad.compile`` cannot record faithfully."""


ON_CUDA = ("tapegrad.compile does not record this op on CUDA yet (compiled CUDA steps cover elementwise "
           "ops, sums and means, cumulative sums, max/min, cat and stack, matrix products, softmax, class-index and binary "
           "losses, dropout, convolution, pooling, padding, norms, gather, embedding and optimizer updates). "
           "Run the step eagerly (CUDA ops already run as generated kernels), or move its tensors to the CPU.")


def refuse(what: str) -> None:
    """Raise for a data-dependent use of a traced value (``.item()``, ``bool()``, ...)."""
    raise TraceError(
        f"tapegrad.compile: {what} reads a tensor's value in Python while the step is being recorded, "
        "so the recorded step would replay with this call's value forever. Keep such reads outside the "
        "compiled function (return the tensor and call .item() on the result), or run this function "
        "eagerly.")


def _address(array: Any) -> int:
    interface = array.__array_interface__ if isinstance(array, np.ndarray) else array.__cuda_array_interface__
    return interface["data"][0]


def _base(array: Any) -> Any:
    """The array ``array`` is a NumPy view of, or None (device arrays keep no such link)."""
    return array.base if isinstance(array, np.ndarray) else None


def _is_array(x: Any) -> bool:
    """A NumPy array or a CUDA device array (a tensor's buffer on either device)."""
    return isinstance(x, np.ndarray) or hasattr(x, "__cuda_array_interface__")


def _device_of(array: Any) -> str:
    return "cpu" if isinstance(array, np.ndarray) else "cuda"


def _byte_bounds(array: Any) -> tuple[int, int]:
    """The first and one-past-last byte addresses ``array`` touches."""
    low = high = _address(array)
    for size, stride in zip(array.shape, array.strides):
        if size == 0:
            return low, low
        extent = (size - 1) * stride
        if extent < 0:
            low += extent
        else:
            high += extent
    return low, high + array.itemsize


def _inside(array: Any, candidate: Any) -> bool:
    """Whether ``array`` lies within contiguous ``candidate``'s memory (same dtype)."""
    if (candidate.dtype != array.dtype or not candidate.flags.c_contiguous
            or _device_of(candidate) != _device_of(array)):
        return False
    low, high = _byte_bounds(array)
    start, end = _byte_bounds(candidate)
    return start <= low and high <= end


class Tracer:
    """Builds the ``Graph`` of one call. ``arguments`` maps ``id(buffer)`` to the argument's
    path and its tensor (or the buffer itself); ``externals`` maps ``id(buffer)`` to a tensor
    found by the reachability scan."""

    def __init__(self, arguments: dict[int, tuple[Any, Any]], externals: dict[int, Tensor]) -> None:
        self.graph = Graph()
        self.arguments = arguments
        self.externals = externals
        self.known: dict[int, Value] = {}
        self._alive: list[Any] = []          # keeps every seen array alive so ids stay unique
        self.bumps: dict[int, int] = {}       # id(version counter) -> in-place writes recorded
        self.view_base: dict[int, Value] = {}  # view value index -> value whose storage it views
        self.adopted: list[Tensor] = []       # tensors created while tracing, read by reference later
        self.views_by_step = _views_by_step(x for _, x in arguments.values())
        self.views_by_step.update(_views_by_step(externals.values()))
        self.device: str | None = None  # "cpu" or "cuda": one step runs on one device

    def _on_device(self, array: Any) -> None:
        device = _device_of(array)
        if self.device is None:
            self.device = device
        elif device != self.device:
            raise TraceError(f"tapegrad.compile: the step mixes {self.device} and {device} arrays; a compiled step "
                             "runs on one device (move its tensors there, or run it eagerly)")

    # ------------------------------------------------------------------ resolving inputs
    def value(self, x: "Tensor | np.ndarray") -> Value:
        array = x._data if isinstance(x, Tensor) else x
        found = self.known.get(id(array))
        if found is not None:
            return found
        self._on_device(array)
        found = self._leaf(array)
        if found is not None:
            return found
        # A tensor view knows what it was made from: follow that first, so that a slice of a
        # captured data set that happens to share memory with this call's batch still reads
        # the data set. Memory overlap decides only for arrays whose origin is unknown.
        traced_view = isinstance(x, Tensor) and x._base is not None and x._view_chain is not None
        if traced_view:
            found = self._through_base(x)
            if found is not None:
                return found
        if _base(array) is not None and not traced_view:
            # A view of an argument (a batch sliced from a data set the step can also reach)
            # must follow the argument, not the buffer it happens to live in.
            for _, argument in self.arguments.values():
                candidate = argument._data if isinstance(argument, Tensor) else argument
                if _base(candidate) is not None and _inside(array, candidate):
                    return self._view(array, candidate, self.value(candidate))
        base = _base(array)
        while isinstance(base, np.ndarray):
            base_value = self.known.get(id(base)) or self._leaf(base)
            if base_value is not None:
                return self._view(array, base, base_value)
            base = base.base
        if _base(array) is not None or not isinstance(array, np.ndarray):
            # A view whose owner the tracer never saw (an input that is itself a view of a
            # bigger buffer), or a device array (which keeps no link to what it views): find
            # a contiguous array it knows that spans the same memory. (Every array it has
            # seen is kept alive, so a fresh allocation never lies inside one.)
            container = self._containing(array, with_arguments=not traced_view)
            if container is not None:
                return self._view(array, container, self.value(container))
        raise TraceError(
            f"tapegrad.compile: a {array.dtype.name} array of shape {list(array.shape)} was computed by code "
            f"the compiler cannot record ({_producer(x)}{_caller()}). Supported are the tensor ops of "
            "tapegrad's nn, optim and autograd; pass other tensors in as arguments, or run this function "
            "eagerly.")

    def _through_base(self, x: Tensor) -> Value | None:
        """``x`` as a view of the nearest tensor on its own view chain that the tracer knows:
        a tensor it was made from by views (an argument, a captured tensor), else its base."""
        base, chain = x._base, x._view_chain
        ancestors = [self.views_by_step.get(id(step)) for step in chain[:-1]]
        for ancestor in reversed([base, *ancestors]):
            if ancestor is None or (ancestor is not base and ancestor._base is not base):
                continue
            data = ancestor._data
            if data.dtype != x._data.dtype:
                continue
            if not data.flags.c_contiguous:
                if self._from_argument(data):
                    # Replays pass a contiguous copy of such an argument: a view of it would
                    # read the wrong memory.
                    raise TraceError(
                        f"tapegrad.compile: the step takes a view of a non-contiguous argument "
                        f"({list(data.shape)}, strides {list(data.strides)}); pass a contiguous tensor "
                        "(.contiguous()) instead")
                continue  # view nodes address a row-major buffer: try an older ancestor
            value = self.known.get(id(data))
            if value is None:
                value = self._leaf(data)
                if value is None:
                    continue
            elif value.index in self.view_base:
                continue  # a view of a view: take it of the buffer underneath instead
            return self._view(x._data, data, value)
        return None

    def _containing(self, array: np.ndarray, with_arguments: bool = True) -> np.ndarray | None:
        candidates = [t._data for t in self.externals.values()]
        if with_arguments:
            candidates = [x._data if isinstance(x, Tensor) else x for _, x in self.arguments.values()] + candidates
        candidates += [a for a in self._alive if _is_array(a) and (with_arguments or not self._from_argument(a))]
        for candidate in reversed(candidates):
            if _inside(array, candidate):
                return candidate
        return None

    def _from_argument(self, array: np.ndarray) -> bool:
        """Whether ``array`` is an argument's buffer, a version of it, or a view of either."""
        value = self.known.get(id(array))
        if value is None:
            return id(array) in self.arguments
        while value.index in self.view_base:
            value = self.view_base[value.index]
        return value.storage.kind == ARGUMENT

    def _leaf(self, array: np.ndarray) -> Value | None:
        key = id(array)
        if key in self.arguments:
            path, tensor = self.arguments[key]
            value = self.graph.new_value(array.shape, array.dtype, ARGUMENT, path)
        elif key in self.externals:
            tensor = self.externals[key]
            if not array.flags.c_contiguous:
                raise TraceError(
                    f"tapegrad.compile: a tensor the step reads ({list(array.shape)}, strides "
                    f"{list(array.strides)}) is not contiguous; make it contiguous before compiling")
            value = self.graph.new_value(array.shape, array.dtype, CAPTURED, tensor)
        else:
            return None
        self._remember(array, value)
        return value

    def _view(self, array: np.ndarray, base: np.ndarray, base_value: Value) -> Value:
        from . import rules

        if array.dtype != base.dtype:
            raise TraceError(f"tapegrad.compile: a view changing dtype ({base.dtype} to {array.dtype}) is not supported")
        if base_value.kind != NODE and not base.flags.c_contiguous:
            raise TraceError("tapegrad.compile: views of non-contiguous inputs are not supported")
        itemsize = array.itemsize
        offset = (_address(array) - _address(base)) // itemsize
        strides = tuple(s // itemsize for s in array.strides)
        out = self.graph.new_value(array.shape, array.dtype, NODE)
        self.graph.add(Node(rules.VIEW, (base_value,), (out,), (tuple(array.shape), strides, offset)))
        self.view_base[out.index] = base_value
        self._remember(array, out)
        return out

    def _remember(self, array: np.ndarray, value: Value) -> None:
        self.known[id(array)] = value
        self._alive.append(array)

    # ------------------------------------------------------------------ what ops report
    def emit(self, rule: Any, inputs: Iterable[Any], outputs: Any, attrs: Any = None,
             into: "tuple[Tensor, ...]" = ()) -> Node:
        """Record ``outputs = rule(inputs, attrs)`` (a tensor/array or a tuple of them). An
        in-place op names the tensors it writes in ``into``; its outputs are their new
        versions, in the same order (their arrays are the written buffers)."""
        args = tuple(self._input(x) for x in inputs)
        arrays = outputs if isinstance(outputs, tuple) else (outputs,)
        arrays = tuple(x._data if isinstance(x, Tensor) else x for x in arrays)
        for array in arrays:
            self._on_device(array)
        if self.device == "cuda":
            from .cuda_program import check_rule

            check_rule(rule)
        writes = []
        for target in into:
            value = self.value(target)
            if value.index in self.view_base or value.kind == HOST:
                raise TraceError("tapegrad.compile: an in-place write through a view is not supported")
            writes.append(value)
            key = id(target._counter)
            self.bumps[key] = self.bumps.get(key, 0) + 1
        values = tuple(self.graph.new_value(array.shape, array.dtype, NODE) for array in arrays)
        node = self.graph.add(Node(rule, args, values, attrs, tuple(writes)))
        for target in writes:
            self._forget_views_of(target.storage)
        for array, value in zip(arrays, values):
            self._remember(array, value)
        return node

    def adopt(self, tensor: Tensor) -> None:
        """``tensor`` persists by reference after this call (optimizer state the traced call
        created, e.g. for a parameter group added since the last trace): replays read its
        buffer then, as they read any captured tensor."""
        key = id(tensor._data)
        if key not in self.known and key not in self.arguments and key not in self.externals:
            self.externals[key] = tensor
            self.adopted.append(tensor)

    def alias(self, array: np.ndarray, same_as: "Tensor | np.ndarray") -> None:
        """``array`` holds the same values as ``same_as`` (a copy made by glue code)."""
        self._remember(array, self.value(same_as))

    def host(self, provider: Callable[[dict], tuple[np.ndarray, Any]], current: np.ndarray) -> Value:
        """An array Python computes before each replay: ``provider(memo)`` returns it and a
        callable to run once the replay has succeeded (or None); ``memo`` is a dict shared by
        one replay's providers (for work they have in common); ``current`` is this call's."""
        value = self.graph.new_value(current.shape, current.dtype, HOST, provider)
        self._remember(current, value)
        return value

    def constant(self, array: Any) -> Value:
        """``array`` was made inside the step from Python numbers (``arange``, ``linspace``,
        ``eye``): every replay gets a fresh copy of this call's values. The numbers came from
        what the trace read, which the replay's guards check (shapes, argument values, bound
        names), as for the number a ``full`` bakes in."""
        self._on_device(array)
        if isinstance(array, np.ndarray):
            saved = array.copy()

            def provide(memo: dict) -> tuple[Any, None]:
                return saved.copy(), None
        else:
            from ..cuda._ops import contiguous_copy

            saved = contiguous_copy(array)

            def provide(memo: dict) -> tuple[Any, None]:
                return contiguous_copy(saved), None
        return self.host(provide, array)

    def _input(self, x: Any) -> Any:
        if isinstance(x, Tensor) or _is_array(x):
            return self.value(x)
        if isinstance(x, np.generic):
            return x.item()
        return x

    def _forget_views_of(self, storage: Value) -> None:
        # Views made before an in-place write would replay the old version: drop them, so a
        # later use makes a new view of the written value.
        stale = [key for key, value in self.known.items()
                 if value.index in self.view_base and self.view_base[value.index].storage is storage]
        for key in stale:
            del self.known[key]


def _views_by_step(tensors: Iterable[Any]) -> dict[int, Tensor]:
    """Views among ``tensors`` by the last step of their view chain. A view chain's steps are
    shared by every view made from it, so a tensor whose chain contains that step object was
    made from the indexed one (not merely from the same base in the same way)."""
    found: dict[int, Tensor] = {}
    for tensor in tensors:
        if isinstance(tensor, Tensor) and tensor._base is not None and tensor._view_chain:
            found.setdefault(id(tensor._view_chain[-1]), tensor)
    return found


def _producer(x: Any) -> str:
    """Which op made ``x`` (or the tensor ``x`` views), where autograd history says so, for
    error messages."""
    if not isinstance(x, Tensor):
        return ""
    for tensor, what in ((x, "made by"), (x._base, "a view of the result of")):
        op = getattr(getattr(tensor, "grad_fn", None), "op", None)
        if op is not None:
            return f"{what} the op `{op.name}` ({op.grad_name}), which the compiler does not record; used in "
    return ""


def _caller() -> str:
    """The innermost tapegrad function on the stack outside the compiler, for error messages."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if "compiler" not in name:
            return f"{frame.f_code.co_name} in {name.rsplit('/', 1)[-1]}"
        frame = frame.f_back
    return "unknown"


def emit(rule: Any, inputs: Iterable[Any], outputs: Any, attrs: Any = None, into: tuple = ()) -> None:
    """Report an op to the active tracer (callers check ``trace.ACTIVE`` first)."""
    tracer = ACTIVE
    if tracer is not None:
        tracer.emit(rule, inputs, outputs, attrs, into)

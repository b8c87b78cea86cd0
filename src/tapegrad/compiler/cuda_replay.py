"""Compiled CUDA steps replayed from a recording of their device work.

A :class:`~tapegrad.compiler.cuda_program.CudaProgram` replay runs a Python function per
unit, and each of them builds device-array objects, allocates results and packs kernel
parameters again, although a step's shapes, and so all of that, are the same every call.
Once, the program replays under a ``backends.cuda_capture`` recording; after that a call only
refreshes the inputs and issues the recorded launches, copies and checks again. The memory
of every intermediate value is the recorded call's, kept by the recording, so a call allocates
only the arrays it hands back.

What changes between calls, and how a call meets it:

- **arguments** the step only reads are copied into buffers of the recording's own (their
  tensors are new each call in a training loop);
- **captured** tensors (parameters, optimizer state, gradients written in place) and arguments
  the step writes are used where they are: a call whose buffer moved records anew;
- **host** arrays (the optimizer's per-step scalars, computed in Python before each call) are
  uploaded into device buffers, one copy per dtype; they reach only optimizer updates, which
  read their scalars from the device. Other host values (dropout masks) are device arrays
  made per call, staged as read-only arguments are;
- **outputs** (the loss, new gradients) are copied out into new arrays, since Python keeps them
  while the next call reuses the recorded buffers.

A program is replayed unit by unit as before where recording cannot reproduce it: optimizer
scalars also read by other nodes, an output living in an input's memory, a device value
read back to decide what to do (the recording marks itself invalid), or
``TAPEGRAD_CUDA_RECORD=0``.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np

from .graph import ARGUMENT, HOST, Graph, Value
from .rules import FUSED_UPDATE, VIEW, _c_strides

# A program whose bound buffers keep moving (a new tensor every call) stops recording after this
# many recordings and replays unit by unit.
MAX_RECORDINGS = 4


def enabled() -> bool:
    return os.environ.get("TAPEGRAD_CUDA_RECORD", "1") != "0"


def _root(value: Value) -> Value:
    """The value whose buffer ``value`` lives in (through in-place writes and views)."""
    while True:
        value = value.storage
        producer = value.producer
        if producer is None or producer.rule is not VIEW:
            return value
        value = producer.inputs[0]


class Layout:
    """How each input of a program meets a recording (see the module docstring), or why the
    program cannot be recorded (``refused``)."""

    def __init__(self, graph: Graph) -> None:
        inputs = graph.arguments + graph.captured + graph.host
        written = {_root(w).index for node in graph.nodes for w in node.writes}
        self.refused: str | None = None
        self.staged: list[int] = []                 # positions of read-only arguments
        self.bound: list[int] = []                  # positions used in place
        self.host: list[tuple[int, np.dtype]] = []  # positions of host arrays, the dtype they are read in
        for position, value in enumerate(inputs):
            if value.kind == HOST and not self._optimizer_scalars(graph, value):
                self.staged.append(position)  # a device array made per call (a dropout mask)
            elif value.kind == HOST:
                dtype = self._host_dtype(graph, value)
                if dtype is None:
                    self.refused = f"host value {value!r} is read by more than optimizer updates of one dtype"
                self.host.append((position, dtype))
            elif value.kind == ARGUMENT and value.index not in written:
                self.staged.append(position)
            else:
                self.bound.append(position)
        roots = {value.index for value in inputs}
        for value in graph.outputs:
            if _root(value).index in roots:
                self.refused = f"output {value!r} lives in an input's memory"

    @staticmethod
    def _optimizer_scalars(graph: Graph, value: Value) -> bool:
        """Whether the host array ``value`` is an optimizer update's scalars (a NumPy array);
        other host values are device arrays their providers make."""
        return any(node.rule is FUSED_UPDATE and node.inputs[-1] is value for node in graph.nodes)

    @staticmethod
    def _host_dtype(graph: Graph, value: Value) -> np.dtype | None:
        """The dtype an optimizer update reads the host array in (its parameter's)."""
        dtypes = set()
        for node in graph.nodes:
            if any(x is value for x in node.inputs):
                if node.rule is not FUSED_UPDATE or node.inputs[-1] is not value:
                    return None
                dtypes.add(node.inputs[0].dtype)
        return dtypes.pop() if len(dtypes) == 1 else None


def _address(array: Any) -> tuple[int, tuple[int, ...]]:
    return array.__cuda_array_interface__["data"][0], tuple(array.strides)


def _copy(dst: Any, src: Any) -> None:
    """``dst[...] = src`` for two C-contiguous device arrays of one shape and dtype."""
    from ..cuda._arrays import flat

    if dst.size:
        flat(dst).copy_to_device(flat(src))


class _HostUpload:
    """The host arrays of one dtype, uploaded per call into one device buffer in one copy."""

    def __init__(self, positions: list[int], arrays: Sequence[Any], dtype: np.dtype) -> None:
        from ..cuda._arrays import empty, view

        self.positions = positions
        self.dtype = dtype
        sizes = [int(np.size(arrays[p])) for p in positions]
        self.staging = np.empty(sum(sizes), dtype)
        self.device = empty((self.staging.size,), dtype)
        self.slices: list[slice] = []
        self.views: list[Any] = []
        start = 0
        for position, size in zip(positions, sizes):
            shape = np.shape(arrays[position])
            self.slices.append(slice(start, start + size))
            self.views.append(view(self.device, shape, tuple(s * dtype.itemsize for s in _c_strides(shape)),
                                   start * dtype.itemsize))
            start += size

    def __call__(self, arrays: Sequence[Any]) -> None:
        from ..backends import cuda_kernels as ck

        for position, part in zip(self.positions, self.slices):
            self.staging[part] = np.ravel(arrays[position])
        if self.staging.size:
            # A copy from pageable memory: ``staging`` may change as soon as it returns.
            self.device.copy_to_device(self.staging, stream=ck.queued(0))


class Recorded:
    """One recording of a program and the buffers it was made with: called with a call's
    arrays, it refreshes the inputs, issues the recording and returns copies of the outputs."""

    def __init__(self, layout: Layout, arrays: Sequence[Any]) -> None:
        from ..cuda._arrays import empty

        self.bound = [(position, arrays[position], _address(arrays[position])) for position in layout.bound]
        self.staged = [(position, empty(arrays[position].shape, arrays[position].dtype))
                       for position in layout.staged]
        by_dtype: dict[np.dtype, list[int]] = {}
        for position, dtype in layout.host:
            by_dtype.setdefault(dtype, []).append(position)
        self.uploads = [_HostUpload(positions, arrays, dtype) for dtype, positions in by_dtype.items()]
        self.ops: list[Callable[[], Any]] = []
        self.outputs: list[Any] = []

    def inputs(self, arrays: Sequence[Any]) -> list[Any]:
        """The arrays the recorded call runs on (staged and uploaded inputs in place of the
        call's own), after refreshing them from ``arrays``."""
        bound = list(arrays)
        for position, stage in self.staged:
            _copy(stage, arrays[position])
            bound[position] = stage
        for upload in self.uploads:
            upload(arrays)
            for position, device in zip(upload.positions, upload.views):
                bound[position] = device
        return bound

    def accepts(self, arrays: Sequence[Any]) -> bool:
        """Whether this call's bound inputs are the recorded buffers."""
        for position, array, address in self.bound:
            current = arrays[position]
            if current is not array and _address(current) != address:
                return False
        return True

    def keep(self, ops: list[Callable[[], Any]], outputs: Sequence[Any]) -> str | None:
        """Adopt the recorded operations and the recorded call's output arrays; returns why
        they cannot be replayed, or None."""
        for output in outputs:
            if not output.is_c_contiguous():
                return "an output is a strided view"
        self.ops = ops
        self.outputs = list(outputs)
        return None

    def copy_outputs(self) -> tuple:
        """New arrays holding the outputs (one per distinct output buffer)."""
        from ..cuda._arrays import empty

        copies: dict[int, Any] = {}
        result = []
        for output in self.outputs:
            copy = copies.get(id(output))
            if copy is None:
                copy = copies[id(output)] = empty(output.shape, output.dtype)
                _copy(copy, output)
            result.append(copy)
        return tuple(result)

    def __call__(self, arrays: Sequence[Any]) -> tuple:
        from ..backends import cuda_capture

        self.inputs(arrays)
        cuda_capture.replay(self.ops)
        return self.copy_outputs()

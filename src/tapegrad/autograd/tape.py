"""The tape: one small slotted ``Step`` per recorded op.

A step records the op, an edge per input (the step that produced it, or the leaf's
``AccumulateGrad``; None when that input needs no gradient), the values its VJP needs, and a
sequence number. Every op has one differentiable output, so an edge is just that node. Steps
link only backwards, so a step lives exactly as long as some tensor (or a later step) that
needs it, and backward replays steps in decreasing sequence number:
recording order is a topological order.
"""
from __future__ import annotations

import itertools
import re
import weakref
from typing import TYPE_CHECKING, Any, Callable

from .. import tensor as _tensor  # the module (partly made when this loads): no import per call
from . import anomaly_mode

if TYPE_CHECKING:
    from ..ops.registry import OpDef
    from ..tensor import Tensor

_sequence = itertools.count()

RELEASED = "released"


class AccumulateGrad:
    """The gradient sink of a leaf that requires grad (``grad_fn.next_functions`` shows it)."""

    __slots__ = ("variable", "__weakref__")

    def __init__(self, variable: "Tensor") -> None:
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"




class SavedTensor:
    """A tensor saved for backward, with the version it had when saved.

    An op's own output is saved as its buffer and version counter alone (``tensor`` None):
    keeping the tensor would make a reference cycle through the step. Unpacking gives a
    tensor over them attached to the step, so higher-order gradients flow through it.

    Made by ``registry._saved_items`` alone, which sets the slots itself (recording is a hot
    path): ``tensor`` and ``version`` for an input; ``tensor`` None, ``data``, ``counter`` and
    ``version`` for an output.
    """

    __slots__ = ("tensor", "version", "data", "counter")

    @property
    def is_output(self) -> bool:
        return self.tensor is None

    def array_and_version(self) -> tuple[Any, int]:
        """The saved buffer and the version its storage is at now."""
        tensor = self.tensor
        if tensor is None:
            return self.data, self.counter.value
        return tensor._data, tensor._counter.value


class Step:
    """One recorded op application; printed as PyTorch prints a grad_fn.

    ``registry.record_pair`` (the hottest recording path) sets these fields itself instead of
    calling ``__init__``: a field added here must be set there too."""

    __slots__ = ("op", "edges", "saved", "attrs", "seq", "input_meta", "__dict__", "__weakref__")

    # Rarely set: class-level defaults keep recording a step cheap.
    hooks: "list[Callable[[Any], Any]] | None" = None
    retained: "weakref.ref | None" = None

    def __init__(self, op: "OpDef", edges: "tuple[Step | AccumulateGrad | None, ...]",
                 attrs: Any, input_meta: tuple[tuple[tuple[int, ...], Any], ...]) -> None:
        self.op = op
        self.edges = edges
        self.attrs = attrs
        self.input_meta = input_meta
        self.saved: tuple[Any, ...] | str = ()
        self.seq = next(_sequence)
        if anomaly_mode.state.enabled:
            self.forward_stack = anomaly_mode.forward_stack()

    # --- what VJPs use -------------------------------------------------------------------
    def saved_values(self) -> tuple[Any, ...]:
        """Saved tensors (version-checked) and saved plain values, in saving order."""
        saved = self.saved
        if saved is RELEASED:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Saved intermediate values of the "
                "graph are freed when you call .backward() or autograd.grad(). Specify "
                "retain_graph=True if you need to backward through the graph a second time or "
                "if you need to access saved tensors after calling backward.")
        return tuple(self._unpack(item) if isinstance(item, SavedTensor) else item
                     for item in saved)

    def needs_input_grad(self, index: int) -> bool:
        return self.edges[index] is not None

    def _unpack(self, item: SavedTensor) -> "Tensor":
        tensor = item.tensor
        if tensor is None:
            tensor = _attach(item.data, item.counter, self)
        if tensor._counter.value != item.version:
            from ..tensor import type_name

            # As PyTorch, the op that made the tensor is named, when there is one (a saved
            # output's is this step).
            creator = tensor.grad_fn
            made_by = (f", which is output 0 of {re.sub(r'Backward[0-9]*$', '', creator.name())},"
                       if creator is not None else "")
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{type_name(tensor)} {list(tensor.shape)}]{made_by} is at version "
                f"{tensor._counter.value}; expected version {item.version} instead. Hint: the value was "
                "changed in place after this op used it; use an out-of-place op or clone() it first.")
        return tensor

    def release(self) -> None:
        if self.saved:
            self.saved = RELEASED

    # --- PyTorch's grad_fn surface -------------------------------------------------------
    def name(self) -> str:
        return self.op.grad_name

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        return tuple((edge, 0) for edge in self.edges)

    def register_hook(self, hook: Callable[..., Any]) -> None:
        raise RuntimeError("grad_fn.register_hook is not supported; use Tensor.register_hook")

    def __repr__(self) -> str:
        return f"<{self.op.grad_name} object at {hex(id(self))}>"


_new_object = object.__new__


def _attach(data: Any, counter: Any, step: Step) -> "Tensor":
    """A tensor over a saved output's buffer and version counter whose history is ``step``."""
    out = _new_object(_tensor.Tensor)
    out._data = data
    out._counter = counter
    out._requires_grad = True
    out.grad_fn = step
    return out

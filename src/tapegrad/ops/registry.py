"""Op definitions and recording.

An ``OpDef`` is one primitive: its name, the grad_fn name PyTorch users know, and its VJP
written with tapegrad ops (so backward can itself be recorded for higher-order gradients).
Each op module defines its ops' forward next to their ``OpDef``; ``record`` appends the step.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from ..autograd import grad_mode
from ..autograd import anomaly_mode
from ..autograd.tape import SavedTensor, Step, _sequence
from ..tensor import Tensor

VJP = Callable[[Step, Tensor], Sequence["Tensor | None"]]

REGISTRY: dict[str, "OpDef"] = {}


class OpDef:
    """A differentiable primitive. ``vjp(step, grad)`` returns one gradient per input
    (None where the input needs none); ``rule`` None marks a non-differentiable op."""

    __slots__ = ("name", "grad_name", "rule")

    def __init__(self, name: str, grad_name: str, rule: Callable[..., Any] | None) -> None:
        self.name = name
        self.grad_name = grad_name
        self.rule = rule
        REGISTRY[name] = self

    def vjp(self, step: Step, grad: Tensor) -> Sequence[Tensor | None]:
        if self.rule is None:
            raise RuntimeError(f"the derivative for '{self.name}' is not implemented")
        return self.rule(step, grad)

    def __repr__(self) -> str:
        return f"OpDef({self.name!r})"


def needs_grad(*values: Any) -> bool:
    """True when grad mode is on and some tensor among ``values`` requires grad."""
    if not grad_mode.state.enabled:
        return False
    for v in values:
        if isinstance(v, Tensor) and v._requires_grad:
            return True
    return False


def record(op: OpDef, inputs: Sequence[Any], out: Tensor, attrs: Any = None,
           saved: Sequence[Any] = ()) -> Tensor:
    """Append a step making ``out`` from ``inputs`` (tensors or plain values) and return ``out``.

    ``saved`` holds what the VJP needs: tensors (saved with their version), plain values,
    or ``OUTPUT`` for the op's own result.
    """
    edges = []
    meta = []
    for x in inputs:
        if isinstance(x, Tensor):
            if x._base is not None and x._view_version != x._counter.value:
                x._refresh_view_history()
            if x._requires_grad:
                producer = x.grad_fn
                edges.append(producer if producer is not None else x._accumulator())
            else:
                edges.append(None)
            data = x._data
            meta.append((data.shape, data.dtype))
        else:
            edges.append(None)
            meta.append(None)
    step = Step(op, tuple(edges), attrs, tuple(meta))
    if saved:
        step.saved = _saved_items(out, saved)
    out.grad_fn = step
    out._requires_grad = True
    return out


def record_pair(op: OpDef, x: Tensor, y: Tensor, out: Tensor, saved: Sequence[Any]) -> Tensor:
    """``record(op, (x, y), out, None, saved)`` for two tensors of one shape and dtype: the hot
    path of small elementwise ops (W1), with the per-input loop unrolled and one meta shared."""
    if x._base is not None and x._view_version != x._counter.value:
        x._refresh_view_history()
    if y._base is not None and y._view_version != y._counter.value:
        y._refresh_view_history()
    if x._requires_grad:
        edge_x = x.grad_fn
        if edge_x is None:
            edge_x = x._grad_acc or x._accumulator()
    else:
        edge_x = None
    if y._requires_grad:
        edge_y = y.grad_fn
        if edge_y is None:
            edge_y = y._grad_acc or y._accumulator()
    else:
        edge_y = None
    data = x._data
    meta = (data.shape, data.dtype)
    # Step(op, (edge_x, edge_y), None, (meta, meta)) without the call of its __init__, which costs
    # a twentieth of W1 (tests/autograd/test_backward.py checks that the two make the same step).
    step = _new_object(Step)
    step.op = op
    step.edges = (edge_x, edge_y)
    step.attrs = None
    step.input_meta = (meta, meta)
    step.saved = _saved_items(out, saved) if saved else ()
    step.seq = next(_sequence)
    if anomaly_mode.state.enabled:
        step.forward_stack = anomaly_mode.forward_stack()
    out.grad_fn = step
    out._requires_grad = True
    return out


def record_single(op: OpDef, inputs: tuple[Any, ...], out: Tensor, saved: Sequence[Any]) -> Tensor:
    """``record(op, inputs, out, None, saved)`` when ``inputs[0]``, which requires grad, is the
    only tensor among at most two inputs: the hot path of activations and ``x * 0.5``."""
    x = inputs[0]
    if x._base is not None and x._view_version != x._counter.value:
        x._refresh_view_history()
    edge = x.grad_fn
    if edge is None:
        edge = x._grad_acc or x._accumulator()
    data = x._data
    meta = (data.shape, data.dtype)
    if len(inputs) == 1:
        step = Step(op, (edge,), None, (meta,))
    else:
        step = Step(op, (edge, None), None, (meta, None))
    if saved:
        step.saved = _saved_items(out, saved)
    out.grad_fn = step
    out._requires_grad = True
    return out


def _saved_items(out: Tensor, saved: Sequence[Any]) -> tuple[Any, ...]:
    """What a step keeps of ``saved``: tensors with their versions (``OUTPUT``: ``out``), plain values as they are.

    The SavedTensors' slots are set here directly (no constructor call): this runs for nearly
    every recorded op."""
    items = []
    for item in saved:
        if item is OUTPUT:
            kept = _new_object(SavedTensor)
            counter = out._counter
            kept.tensor = None
            kept.data = out._data
            kept.counter = counter
            kept.version = counter.value
            items.append(kept)
        elif isinstance(item, Tensor):
            kept = _new_object(SavedTensor)
            kept.tensor = item
            kept.version = item._counter.value
            items.append(kept)
        else:
            items.append(item)
    return tuple(items)


_new_object = object.__new__


class _Output:
    """Marker for "save this op's output" in ``record``."""

    def __repr__(self) -> str:
        return "OUTPUT"


OUTPUT: Any = _Output()

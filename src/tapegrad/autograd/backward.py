"""The reverse sweep over the tape.

Collect the steps reachable from the roots, replay them in decreasing sequence number (the
reverse of recording order, hence a reverse topological order), and keep pending gradients
in a dict keyed by (node, output number), popping each as soon as its step consumes it.
"""
from __future__ import annotations

import sys
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from numba.core.runtime._nrt_python import _MemInfo

from .. import tensor as _tensor  # the module (partly made when this loads): no import per call
from ..compiler import trace
from ..compiler import rules
from . import anomaly_mode, fused_backward, grad_mode
from .tape import AccumulateGrad, Step

if TYPE_CHECKING:
    from ..tensor import Tensor


def _reachable_steps(roots: Sequence[Any]) -> list[Step]:
    steps: list[Step] = []
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if type(node) is Step:
            steps.append(node)
            for edge in node.edges:
                if edge is not None and id(edge) not in seen:
                    stack.append(edge)
    steps.sort(key=_SEQUENCE, reverse=True)
    return steps


_SEQUENCE = attrgetter("seq")


def _filled_like(t: "Tensor", value: int) -> "Tensor":
    """A new tensor of ``t``'s shape and dtype filled with ``value``, on ``t``'s device."""
    _wrap = _tensor._wrap
    data = t._data
    if isinstance(data, np.ndarray):
        filled = np.empty(data.shape, data.dtype)
        filled.fill(value)  # (np.full costs a microsecond more: it runs on every backward())
        return _wrap(filled)
    from ..cuda._ops import full

    return _wrap(full(tuple(data.shape), value, data.dtype))


def _root_gradients(tensors: Sequence["Tensor"], grads: Sequence["Tensor | None"] | None,
                    ) -> list["Tensor"]:
    Tensor = _tensor.Tensor
    out = []
    for i, t in enumerate(tensors):
        g = grads[i] if grads is not None else None
        if g is None:
            if t._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if not t.is_floating_point():
                raise RuntimeError(f"grad can be implicitly created only for real scalar outputs but got {t.dtype}")
            g = _filled_like(t, 1)
            if trace.ACTIVE is not None:
                trace.ACTIVE.emit(rules.FULL, (), g, 1.0)
        elif not isinstance(g, Tensor):
            raise TypeError(f"gradient must be a Tensor or None, got {type(g).__name__}")
        elif g.shape != t.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(g.shape)} and "
                               f"output[{i}] has a shape of {tuple(t.shape)}.")
        out.append(g)
    return out


def _accumulate(pending: dict, key: Any, grad: "Tensor") -> None:
    previous = pending.get(key)
    pending[key] = grad if previous is None else previous + grad


def _run(roots: Sequence["Tensor"], root_grads: Sequence["Tensor"], retain_graph: bool,
         create_graph: bool, capture: dict[int, Any] | None, steps: list[Step] | None = None,
         chains: "dict[Step, fused_backward.Chain] | None" = None) -> dict:
    """Sweep backward; returns the pending gradients left at leaf sinks and captured steps.

    ``chains`` maps the head of each fusable chain to it: reaching the head, the chain may run
    as one kernel, its members then get no gradient here and are only released."""
    pending: dict[Any, "Tensor"] = {}  # node (step or leaf sink) -> gradient arriving there
    for t, g in zip(roots, root_grads):
        if not t._requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        _accumulate(pending, t._edge(), g)
    if steps is None:
        steps = _reachable_steps(list(pending))
    state = grad_mode.state
    previous_mode = state.enabled
    state.enabled = create_graph
    try:
        for step in steps:
            grad = pending.pop(step, None)
            if grad is None:
                if not retain_graph:
                    step.release()
                continue
            if step.hooks:
                for hook in step.hooks:
                    replaced = hook(grad)
                    if replaced is not None:
                        grad = replaced
            if step.retained is not None:
                tensor = step.retained()
                if tensor is not None:
                    _store_grad(tensor, grad, create_graph)
            if capture is not None and id(step) in capture:
                capture[id(step)] = grad
            chain = chains.get(step) if chains is not None else None
            if chain is not None:
                sunk = fused_backward.run_chain(chain, grad)
                if sunk is not None:
                    if not retain_graph:
                        step.release()
                    for node, g in sunk.items():
                        _accumulate(pending, node, g)
                    continue
            if anomaly_mode.state.enabled:
                input_grads = anomaly_mode.checked_vjp(step, grad)
            else:
                input_grads = step.op.vjp(step, grad)
            if not retain_graph:
                step.release()
            for edge, g in zip(step.edges, input_grads):
                if edge is not None and g is not None:
                    _accumulate(pending, edge, g)
    finally:
        state.enabled = previous_mode
    return pending


def _store_grad(tensor: "Tensor", grad: "Tensor", create_graph: bool, owned: bool = False) -> None:
    """Accumulate into ``tensor.grad`` as PyTorch does (a new tensor under create_graph).

    ``owned``: ``grad``'s buffer may become ``.grad`` as it is (see ``_sole_reference``)."""
    if grad._data.dtype != tensor._data.dtype:
        grad = grad.to(tensor.dtype)
    if create_graph:
        tensor._grad = grad if tensor._grad is None else tensor._grad + grad
    elif tensor._grad is None and owned and trace.ACTIVE is None:
        # No copy (PyTorch steals such a gradient too): the copy of a large weight's gradient
        # cost as much as a matrix product of the backward pass.
        tensor._grad = _tensor._wrap(grad._data)
    elif tensor._grad is None:
        # An owned, contiguous copy: the same gradient tensor may reach several leaves, or
        # be a broadcast view, and .grad is later updated in place.
        copy = grad._data.copy()
        if trace.ACTIVE is not None:
            trace.ACTIVE.emit(rules.ELEMENTWISE, (grad,), copy, (rules.identity, copy.dtype))
        tensor._grad = _tensor._wrap(copy)
    else:
        state = grad_mode.state
        previous = state.enabled
        state.enabled = False
        try:
            tensor._grad.add_(grad.detach())
        finally:
            state.enabled = previous


def _sole_reference(grad: "Tensor") -> bool:
    """Whether ``grad``'s buffer can become a leaf's ``.grad`` without a copy, as PyTorch steals
    such gradients: the caller's variable is the only reference to ``grad``, ``grad`` the only one
    to its writable C-contiguous NumPy array, and that array owns its memory, views all of a
    base nothing else refers to, or is the only array over memory a kernel allocated. Not
    another leaf's gradient too (``a + b`` hands both the same tensor), nor one a hook or the
    user kept, nor memory of compiled code's."""
    # Each count includes getrefcount's own argument. grad: the caller's variable and this
    # parameter; its array: the tensor's slot and ``data``; a base array: the view and ``base``
    # (and the base tensor's slot); a base tensor: the view tensor and ``holder``.
    if sys.getrefcount(grad) > 3:
        return False
    data = grad._data
    if type(data) is not np.ndarray or not data.flags.c_contiguous or not data.flags.writeable:
        return False
    if sys.getrefcount(data) > 3:
        return False
    base = data.base
    if base is None:
        return True
    if type(base) is _MemInfo:
        # An array a generated kernel allocated (a fused backward's gradient): its memory is
        # counted by the runtime, which sees every array (and compiled code) sharing it.
        return base.refcount == 1
    if type(base) is not np.ndarray or base.base is not None or base.nbytes != data.nbytes:
        return False
    # A view of a whole array (a weight's gradient comes back through a transpose's backward).
    holder = grad._base
    if holder is None:
        return sys.getrefcount(base) <= 3
    return holder._data is base and sys.getrefcount(holder) <= 3 and sys.getrefcount(base) <= 4


def _apply_leaf_hooks(leaf: "Tensor", grad: "Tensor") -> "Tensor":
    if leaf._hooks:
        for hook in leaf._hooks:
            replaced = hook(grad)
            if replaced is not None:
                grad = replaced
    return grad


def backward(tensors: Sequence["Tensor"], grad_tensors: Sequence["Tensor | None"] | None = None,
             retain_graph: bool | None = None, create_graph: bool = False,
             inputs: Sequence["Tensor"] | None = None) -> None:
    """``tapegrad.autograd.backward``: accumulate gradients of ``tensors`` into leaves' ``.grad``."""
    Tensor = _tensor.Tensor
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    if isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors]
    if retain_graph is None:
        retain_graph = create_graph
    capture = None
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        if not inputs:
            raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
        for t in inputs:
            if not t._requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        # Non-leaf inputs get the gradient arriving at their step in ``.grad``.
        capture = {id(t.grad_fn): None for t in inputs if t.grad_fn is not None} or None
    roots = list(tensors)
    root_grads = _root_gradients(roots, grad_tensors)
    pending = None
    if (capture is None and not create_graph and len(roots) == 1 and roots[0].grad_fn is not None
            and not anomaly_mode.state.enabled):
        # One root with history: the sweep may run as one fused kernel (fused_backward.py).
        steps = _reachable_steps([roots[0].grad_fn])
        pending = fused_backward.run(roots[0], root_grads[0], steps, retain_graph,
                                     lambda: _run(roots, root_grads, True, False, None, steps))
        if pending is None:
            # Not fused whole (a mixed tape, say): chains of elementwise steps may still be.
            pending = _run(roots, root_grads, retain_graph, create_graph, None, steps,
                           fused_backward.chains(steps))
    else:
        pending = _run(roots, root_grads, retain_graph, create_graph, capture)
    wanted = None if inputs is None else {id(t) for t in inputs}
    if capture is not None:
        for t in inputs:
            grad = None if t.grad_fn is None else capture.get(id(t.grad_fn))
            if grad is not None:
                _store_grad(t, grad, create_graph)
    for node in list(pending):
        grad = pending.pop(node)  # (popped: a gradient held by this loop alone can be stolen)
        if isinstance(node, AccumulateGrad):
            leaf = node.variable
            if wanted is not None and id(leaf) not in wanted:
                continue
            grad = _apply_leaf_hooks(leaf, grad)
            owned = _sole_reference(grad)  # (not inside the call below: its arguments hold grad)
            _store_grad(leaf, grad, create_graph, owned)
            if leaf._post_accumulate_hooks:
                for hook in list(leaf._post_accumulate_hooks):
                    hook(leaf)


def grad(outputs: "Tensor | Sequence[Tensor]", inputs: "Tensor | Sequence[Tensor]",
         grad_outputs: "Tensor | Sequence[Tensor | None] | None" = None,
         retain_graph: bool | None = None, create_graph: bool = False,
         only_inputs: bool = True, allow_unused: bool | None = None,
         materialize_grads: bool = False) -> tuple["Tensor | None", ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, returned instead of accumulated.

    >>> x = tapegrad.tensor(3.0, requires_grad=True)
    >>> (g,) = tapegrad.autograd.grad(x ** 3, x, create_graph=True)
    >>> tapegrad.autograd.grad(g, x)
    (tensor(18.),)
    """
    Tensor = _tensor.Tensor
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single_input = isinstance(inputs, Tensor)
    inputs = [inputs] if single_input else list(inputs)
    if isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if retain_graph is None:
        retain_graph = create_graph
    for i, t in enumerate(inputs):
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    root_grads = _root_gradients(outputs, grad_outputs)
    # Non-leaf inputs: capture the gradient arriving at their step (output 0).
    capture: dict[Any, Any] = {id(t.grad_fn): None for t in inputs if t.grad_fn is not None}
    pending = _run(outputs, root_grads, retain_graph, create_graph, capture)
    results: list[Tensor | None] = []
    for t in inputs:
        if t.grad_fn is None:
            g = pending.get(t._accumulator())
            if g is not None:
                g = _apply_leaf_hooks(t, g)
        else:
            g = capture.get(id(t.grad_fn))
        if g is None:
            if materialize_grads:
                g = _filled_like(t, 0)
            elif not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
        elif not create_graph:
            g = g.detach()
        results.append(g)
    return tuple(results)

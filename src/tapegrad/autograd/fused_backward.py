"""Backward-time fusion in eager mode.

When ``backward()`` runs, the reachable part of the tape is known. Runs of elementwise steps
and sums (an activation chain, a pointwise loss, a bias add) then need not launch one kernel
per VJP op: their VJPs are recorded once with the compiler's tracer (they are written with
tapegrad ops), fused into one loop per shape, compiled, and cached under the structure of the
steps (ops, wiring, shapes, dtypes, strides, saved scalars). A later backward over steps of
the same structure passes the incoming gradient and the saved tensors to that kernel instead.

Two granularities:

* the whole tape (``run``), when every reachable step is fusable or one of the common layers
  of a small network (matrix products, their transposes and reshapes, softmax, the MSE and
  class-index losses; ``_layer_ops``): one kernel from the root gradient to the leaves'
  gradients, its matrix products BLAS calls inside it. On a small network the per-op Python
  of the ordinary sweep costs more than its arithmetic;
* chains, on a mixed tape (``chains``): the fusable steps are partitioned into maximal
  connected chains, each entered through its head only (every other member gets its gradient
  from members alone). A chain of at least two steps runs as one kernel when the sweep
  reaches its head, whose gradient is complete then, and hands gradients to the steps and
  leaves it feeds; matrix products and other steps run as in the ordinary sweep.

Compiling costs a fraction of a second (once per structure, then cached on disk), so a
structure is fused only once it has been seen ``FUSE_AFTER`` times: one-off backward calls
never pay for it. Anything unusual (hooks, ``retain_grad``, modified saved tensors, more
than one root, ``create_graph``) takes the ordinary sweep.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .. import tensor as _tensor  # the module (partly made when this loads): no import per call
from ..compiler import trace
from .tape import RELEASED, AccumulateGrad, SavedTensor, Step

if TYPE_CHECKING:
    from ..tensor import Tensor

FUSE_AFTER = 3
MAX_STEPS = 64
# Sightings are forgotten past this many structures, so shapes that keep changing (sequences
# of every length) cannot grow the table without bound.
SEEN_LIMIT = 4096

Kernel = Callable[..., tuple]

_seen: dict[tuple, int] = {}
# structure -> (kernel, argument positions, sink numbers with a gradient), or None: not fusable
_compiled: dict[tuple, "tuple[Kernel, list[int], list[int]] | None"] = {}


# What a step's op lets the kernels record of its VJP: FUSABLE (elementwise or a sum: chains
# and whole tapes), LAYER (whole tapes only: its VJP has matrix products, gathers or
# reductions along one axis, which a chain's one loop per shape cannot hold), or OTHER.
OTHER, LAYER, FUSABLE = 0, 1, 2
# op -> its kind (asked for every step of every sweep)
_op_kinds: dict[Any, int] = {}


def _layer_ops() -> tuple[Any, ...]:
    """Non-elementwise ops whose VJPs the whole-tape kernel records. Each VJP's Python reads
    nothing but what the structure key holds (attrs, input shapes, saved arrays' shapes,
    dtypes and strides), so the kernel recorded once is the VJP for every tape of the key."""
    from ..nn import functional
    from ..ops import composite, matmul, movement

    return (matmul.MM, matmul.ADDMM, movement.T_OP, movement.TRANSPOSE, movement.VIEW,
            composite.SOFTMAX, composite.LOG_SOFTMAX, functional.MSE_LOSS, functional.NLL_LOSS)


def _kind(op: Any) -> int:
    found = _op_kinds.get(op)
    if found is None:
        from ..ops.pointwise import ElementwiseOp
        from ..ops.reduce import MEAN_ALL, MEAN_DIM, SUM_ALL, SUM_DIM

        if (isinstance(op, ElementwiseOp) and op.rule is not None) or op in (SUM_ALL, SUM_DIM, MEAN_ALL, MEAN_DIM):
            found = FUSABLE
        else:
            found = LAYER if op in _layer_ops() else OTHER
        _op_kinds[op] = found
    return found


def _fusable(step: Step) -> bool:
    return _kind(step.op) == FUSABLE


def _unusual(step: Step) -> bool:
    """Hooks and retained gradients need the gradient of this very step: no fusion at all."""
    return bool(step.hooks) or step.retained is not None


def _structure(grad: "Tensor", steps: list[Step], least: int
               ) -> "tuple[tuple, list[Any], list[Step | AccumulateGrad]] | None":
    """(key, arrays the kernel reads, sinks in numbering order), or None if not fusable (a
    step of an op of kind below ``least``, or something unusual).

    ``steps`` run in this order starting from ``grad`` at ``steps[0]``; an edge to a node
    outside ``steps`` (a leaf, or a step after the chain) is a sink the kernel returns a
    gradient for, numbered -1, -2, ... in order of appearance. Written for speed: it runs at
    every backward of a small tape, where it costs more than the fused kernel itself. The
    key may hold unhashable attrs; the caller's dict lookup finds that out."""
    data = grad._data
    if not isinstance(data, np.ndarray):
        return None  # a CUDA gradient: the fused kernels are CPU code
    number = {id(s): i for i, s in enumerate(steps)}  # steps, then sinks (negative numbers)
    sinks: list[Step | AccumulateGrad] = []
    arrays = [data]
    # One flat list (a tuple per part costs more): per step (its op, input metadata, attrs and
    # the counts of what follows), then an entry per edge and one per saved item.
    parts: list[Any] = [data.shape, data.dtype, data.strides]
    append = parts.append
    kinds = _op_kinds
    for step in steps:
        if step.hooks or step.retained is not None or step.saved is RELEASED:
            return None
        op = step.op
        kind = kinds.get(op)
        if (_kind(op) if kind is None else kind) < least:
            return None
        saved_items = step.saved
        edges = step.edges
        append((op, step.input_meta, step.attrs, len(edges), len(saved_items)))
        for edge in edges:
            if edge is not None:
                index = number.get(id(edge))
                if index is None:
                    sinks.append(edge)
                    index = number[id(edge)] = -len(sinks)
                append(index)
            else:
                append(None)
        for item in saved_items:
            if type(item) is SavedTensor:
                tensor = item.tensor
                if tensor is None:
                    array = item.data
                    version = item.counter.value
                else:
                    array = tensor._data
                    version = tensor._counter.value
                if version != item.version:
                    return None  # the ordinary sweep raises the in-place modification error
                if type(array) is not np.ndarray:
                    return None
                base = array.base
                if (base is not None and type(base) is np.ndarray and base.nbytes == array.nbytes
                        and base.flags.c_contiguous):
                    # A view of a whole buffer (``weight.t()``, saved by a linear layer): the
                    # tracer reads it, and the views its VJP takes, through the base, which is
                    # then the argument (it cannot view a non-contiguous argument).
                    arrays.append(base)
                    append((array.shape, array.dtype, array.strides, base.shape))
                    continue
                arrays.append(array)
                append((array.shape, array.dtype, array.strides))
            else:
                append(item)
    # Which arrays are one and the same (``x * x.detach()``): the kernel reads each array
    # through one argument, so a tape that shares them differently needs its own kernel.
    first: dict[int, int] = {}
    for i, array in enumerate(arrays):
        append(first.setdefault(id(array), i))
    return tuple(parts), arrays, sinks


def _fused(grad: "Tensor", steps: list[Step], sweep: Callable[[], dict], least: int) -> dict | None:
    """The gradients arriving at the sinks of ``steps`` from the kernel of their structure;
    None when they must run unfused (``sweep`` runs them, traced, to record a structure seen
    often enough; it releases no saved tensor, so it can run again untraced if recording
    fails). ``least``: the kind of op every step must have (see ``_structure``)."""
    found = _structure(grad, steps, least)
    if found is None:
        return None
    key, arrays, sinks = found
    try:
        compiled = _compiled.get(key, False)
    except TypeError:
        return None  # unhashable attrs (a step that ran on CUDA)
    if compiled is False:
        if len(_seen) >= SEEN_LIMIT and key not in _seen:
            _seen.clear()
        seen = _seen[key] = _seen.get(key, 0) + 1
        if seen < FUSE_AFTER:
            return None
        return _record(key, arrays, sinks, sweep)
    if compiled is None:
        return None
    kernel, positions, with_grad = compiled
    outputs = kernel(*[arrays[i] for i in positions])
    wrap = _tensor._wrap
    return {sinks[sink]: wrap(out) for sink, out in zip(with_grad, outputs)}


# ------------------------------------------------------------------ the whole tape

def run(root: "Tensor", root_grad: "Tensor", steps: list[Step], retain_graph: bool,
        sweep: Callable[[], dict]) -> dict | None:
    """The gradients arriving at leaf sinks, computed by the fused kernel of this tape's
    structure; None when the ordinary sweep must run instead. ``sweep`` runs it retaining
    the graph: this runs it, traced, to record a structure seen often enough."""
    if trace.ACTIVE is not None or not steps or len(steps) > MAX_STEPS:
        return None
    for step in steps:
        if _kind(step.op) == OTHER:
            return None  # a tape with another op: ``chains`` may fuse parts of it
    pending = _fused(root_grad, steps, sweep, LAYER)
    if pending is not None and not retain_graph:
        for step in steps:
            step.release()
    return pending


# ------------------------------------------------------------------ chains on a mixed tape

class Chain:
    """Connected fusable steps in sweep order; only ``steps[0]`` (the head) gets gradients
    from outside, so its gradient is the chain's whole input once the sweep reaches it."""

    __slots__ = ("steps", "members")

    def __init__(self, head: Step) -> None:
        self.steps = [head]
        self.members = {id(head)}

    def add(self, step: Step) -> None:
        self.steps.append(step)
        self.members.add(id(step))


def chains(steps: list[Step]) -> dict[Step, Chain] | None:
    """Chains of at least two steps keyed by their heads, for a sweep over ``steps`` (in sweep
    order); None when there is nothing to fuse, or the whole-tape kernel covers the tape."""
    if trace.ACTIVE is not None:
        return None
    fusable = []
    for step in steps:
        if _unusual(step):
            return None
        fusable.append(_fusable(step) and step.saved is not RELEASED)
    if all(fusable) and len(steps) <= MAX_STEPS:
        return None  # ``run`` owns such tapes
    found = [chain for chain in _partition(steps, fusable) if len(chain.steps) >= 2]
    return {chain.steps[0]: chain for chain in found} or None


def _partition(steps: list[Step], fusable: list[bool]) -> list[Chain]:
    """Greedy, in sweep order: a fusable step joins the chain of its consumers when they all
    belong to that one chain, otherwise it heads a new chain. A member's gradient then comes
    from inside its chain alone, so running a chain at its head never waits on a step that
    itself waits on the chain (the chains and other steps stay acyclic)."""
    consumers: dict[int, list[Step]] = {}
    for step in steps:
        for edge in step.edges:
            if isinstance(edge, Step):
                consumers.setdefault(id(edge), []).append(step)
    owner: dict[int, Chain] = {}
    result = []
    for step, ok in zip(steps, fusable):
        if not ok:
            continue
        users = consumers.get(id(step), ())
        chain = owner.get(id(users[0])) if users else None
        if chain is None or len(chain.steps) >= MAX_STEPS or any(owner.get(id(u)) is not chain for u in users):
            chain = Chain(step)
            result.append(chain)
        else:
            chain.add(step)
        owner[id(step)] = chain
    return result


def run_chain(chain: Chain, grad: "Tensor") -> dict | None:
    """The gradients the chain hands to the nodes it feeds, given the gradient at its head;
    None when its steps run in the ordinary sweep this time. Releasing the chain's saved
    tensors is the sweep's business (its members get no gradient of their own)."""
    return _fused(grad, chain.steps, lambda: _sweep_chain(chain, grad), FUSABLE)


def _sweep_chain(chain: Chain, grad: "Tensor") -> dict:
    """The chain's VJPs one by one, as the ordinary sweep runs them: what it is recorded from.
    Sink gradients are summed here, so the kernel returns one gradient per sink."""
    inside: dict[Step, Tensor] = {chain.steps[0]: grad}
    sunk: dict[Step | AccumulateGrad, Tensor] = {}
    for step in chain.steps:
        g = inside.pop(step, None)
        if g is None:
            continue
        for edge, input_grad in zip(step.edges, step.op.vjp(step, g)):
            if edge is not None and input_grad is not None:
                _add(inside if id(edge) in chain.members else sunk, edge, input_grad)
    return sunk


def _add(pending: dict, key: Any, grad: "Tensor") -> None:
    previous = pending.get(key)
    pending[key] = grad if previous is None else previous + grad


# ------------------------------------------------------------------ recording and compiling

def _serialized(kernel: Kernel) -> Kernel:
    """A threaded kernel behind the backend's lock for parallel launches."""
    from ..backends import cpu

    def run(*args: Any) -> tuple:
        with cpu._PARALLEL_LOCK:
            return kernel(*args)

    return run


def _record(key: tuple, arrays: list[Any], sinks: "list[Step | AccumulateGrad]", sweep: Callable[[], dict]) -> dict:
    """Run ``sweep`` under the tracer, and compile what it did for next time."""
    tracer = trace.Tracer({id(array): (position, array) for position, array in enumerate(arrays)}, {})
    _seen.pop(key, None)
    trace.ACTIVE = tracer
    try:
        pending = sweep()
    except trace.TraceError:
        # A VJP did something the tracer cannot record. The sweep only made new tensors
        # (it released no saved tensor and stored no gradient), so it can simply run again.
        trace.ACTIVE = None
        _compiled[key] = None
        return sweep()
    finally:
        trace.ACTIVE = None
    try:
        with_grad = [number for number, sink in enumerate(sinks) if sink in pending]
        kernel, positions = _compile(tracer, [pending[sinks[number]] for number in with_grad])
        _compiled[key] = (kernel, positions, with_grad)
    except trace.TraceError:
        _compiled[key] = None
    return pending


def _compile(tracer: Any, outputs: list["Tensor"]) -> tuple[Kernel, list[int]]:
    """The kernel returning ``outputs`` from the traced arrays, and the positions of the
    arrays it takes."""
    from ..backends import kernel_cache
    from ..compiler import codegen, fusion, passes

    graph = tracer.graph
    graph.outputs = [tracer.value(out) for out in outputs]
    passes.fold_constants(graph)
    passes.eliminate_dead(graph)
    units = fusion.fuse(graph)
    source, parallel = codegen.generate(graph, units)
    module = kernel_cache.load_module("backward", source)
    return (_serialized(module.step) if parallel else module.step), [value.source for value in graph.arguments]

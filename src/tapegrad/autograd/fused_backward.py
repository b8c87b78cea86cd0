"""Backward-time fusion in eager mode.

When ``backward()`` runs, the reachable part of the tape is known. If every step in it is an
elementwise op or a sum (``((a*b+1).tanh()*a).sum()``, an activation chain, a pointwise loss),
the whole sweep can run as one generated kernel: the VJPs are recorded once with the
compiler's tracer (they are written with tapegrad ops), fused into one loop per shape,
compiled, and cached under the tape's structure (ops, wiring, shapes, dtypes, strides,
saved scalars). A later backward over a tape of the same structure passes the root gradient
and the saved tensors to that kernel instead of launching one kernel per VJP op.

Compiling costs a fraction of a second (once per structure, then cached on disk), so a
structure is fused only once it has been seen ``FUSE_AFTER`` times: one-off backward calls
never pay for it. Anything unusual (hooks, ``retain_grad``, modified saved tensors, more
than one root, ``create_graph``) takes the ordinary sweep.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .tape import RELEASED, AccumulateGrad, SavedTensor, Step

if TYPE_CHECKING:
    from ..tensor import Tensor

FUSE_AFTER = 3
MAX_STEPS = 64

_seen: dict[tuple, int] = {}
# structure -> (kernel, argument positions, leaf numbers with a gradient), or None: not fusable
_compiled: dict[tuple, "tuple[Callable[..., tuple], list[int], list[int]] | None"] = {}


def _fusable(step: Step) -> bool:
    from ..ops.pointwise import ElementwiseOp
    from ..ops.reduce import MEAN_ALL, MEAN_DIM, SUM_ALL, SUM_DIM

    op = step.op
    return (isinstance(op, ElementwiseOp) and op.rule is not None) or op in (SUM_ALL, SUM_DIM, MEAN_ALL, MEAN_DIM)


def _structure(root_grad: "Tensor", steps: list[Step]) -> tuple[tuple, list[Any], list[AccumulateGrad]] | None:
    """(key, arrays the kernel reads, leaf sinks in numbering order), or None if not fusable."""
    number = {id(s): i for i, s in enumerate(steps)}
    leaves: list[AccumulateGrad] = []
    leaf_number: dict[int, int] = {}
    data = root_grad._data
    arrays = [data]
    parts: list[Any] = [(data.shape, data.dtype.str, data.strides)]
    for step in steps:
        if step.hooks or step.retained is not None or step.saved is RELEASED or not _fusable(step):
            return None
        edges = []
        for edge in step.edges:
            if edge is None:
                edges.append(None)
            elif isinstance(edge, AccumulateGrad):
                if id(edge) not in leaf_number:
                    leaf_number[id(edge)] = len(leaves)
                    leaves.append(edge)
                edges.append(-1 - leaf_number[id(edge)])
            else:
                edges.append(number[id(edge)])
        saved = []
        for item in step.saved:
            if isinstance(item, SavedTensor):
                tensor = item.tensor
                if tensor._version.value != item.version:
                    return None  # the ordinary sweep raises the in-place modification error
                array = tensor._data
                arrays.append(array)
                saved.append((array.shape, array.dtype.str, array.strides))
            else:
                saved.append(item)
        parts.append((step.op.name, tuple(edges), step.input_meta, step.attrs, tuple(saved)))
    key = tuple(parts)
    try:
        hash(key)
    except TypeError:
        return None
    return key, arrays, leaves


def run(root: "Tensor", root_grad: "Tensor", steps: list[Step], retain_graph: bool,
        sweep: Callable[[], dict]) -> dict | None:
    """The gradients arriving at leaf sinks, computed by the fused kernel of this tape's
    structure; None when the ordinary ``sweep`` must run instead (it may run it itself, to
    record a structure seen often enough)."""
    from ..compiler import trace

    if trace.ACTIVE is not None or not steps or len(steps) > MAX_STEPS:
        return None
    found = _structure(root_grad, steps)
    if found is None:
        return None
    key, arrays, leaves = found
    if key not in _compiled:
        seen = _seen[key] = _seen.get(key, 0) + 1
        if seen < FUSE_AFTER:
            return None
        return _record(key, arrays, leaves, sweep)
    compiled = _compiled[key]
    if compiled is None:
        return None
    kernel, positions, with_grad = compiled
    from ..tensor import _wrap

    outputs = kernel(*[arrays[i] for i in positions])
    if not retain_graph:
        for step in steps:
            step.release()
    return {leaves[leaf]: _wrap(out) for leaf, out in zip(with_grad, outputs)}


def _serialized(kernel: Callable[..., tuple]) -> Callable[..., tuple]:
    """A threaded kernel behind the backend's lock for parallel launches."""
    from ..backends import cpu

    def run(*args: Any) -> tuple:
        with cpu._PARALLEL_LOCK:
            return kernel(*args)

    return run


def _record(key: tuple, arrays: list[Any], leaves: list[AccumulateGrad], sweep: Callable[[], dict]) -> dict:
    """Run the ordinary sweep under the tracer, and compile what it did for next time."""
    from ..compiler import codegen, fusion, passes, trace
    from ..backends import kernel_cache

    tracer = trace.Tracer({id(array): (position, array) for position, array in enumerate(arrays)}, {})
    trace.ACTIVE = tracer
    try:
        pending = sweep()
    finally:
        trace.ACTIVE = None
    try:
        graph = tracer.graph
        with_grad = [number for number, leaf in enumerate(leaves) if leaf in pending]
        graph.outputs = [tracer.value(pending[leaves[number]]) for number in with_grad]
        passes.fold_constants(graph)
        passes.eliminate_dead(graph)
        units = fusion.fuse(graph)
        source, parallel = codegen.generate(graph, units)
        module = kernel_cache.load_module("backward", source)
        _compiled[key] = (_serialized(module.step) if parallel else module.step,
                          [value.source for value in graph.arguments], with_grad)
    except trace.TraceError:
        _compiled[key] = None
    _seen.pop(key, None)
    return pending

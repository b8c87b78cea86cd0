"""``tapegrad.compile``: trace a step once, then replay its generated code.

Per input signature (shapes, dtypes, requires_grad and whether a ``.grad`` exists of the
tensor arguments, which of them share memory, the other arguments' values, grad mode), the
first call runs eagerly (it creates what steps create lazily, such as optimizer state), the
second is traced (it also runs eagerly and returns real results) and compiled, and later calls
replay: guards on what the trace read by reference (the closure cells, globals and attributes
it names, buffer shapes and dtypes, requires_grad, modules' train/eval mode and parameters,
optimizers' parameter groups and flags) are checked, Python computes the optimizer's per-step
scalars, and one call runs the generated function. A failed guard retraces and keeps both
versions, up to ``cache_size``.
"""
from __future__ import annotations

import functools
import operator
import os
import sys
import threading
from collections import OrderedDict
from typing import Any, Callable, NamedTuple

import numpy as np

from ..autograd import grad_mode
from ..backends import cpu, kernel_cache
from ..tensor import Tensor, _wrap
from . import codegen, fusion, passes, planning, trace
from .graph import ARGUMENT, CAPTURED, HOST, Graph
from .scan import Binding, bindings, reachable_tensors

_TRACE_LOCK = threading.Lock()


class GuardFailure(Exception):
    """A replay's assumption does not hold this call: retrace."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _log_enabled(debug: bool) -> bool:
    return debug or "compile" in os.environ.get("TAPEGRAD_LOG", "").split(",")


def _log(message: str) -> None:
    print(f"[tapegrad.compile] {message}", file=sys.stderr)


def _flatten(value: Any, path: tuple, found: list[tuple[tuple, Tensor]]) -> Any:
    """The call's structure with tensors replaced by their position in ``found``."""
    if isinstance(value, Tensor):
        found.append((path, value))
        return _Slot(len(found) - 1)
    if isinstance(value, (list, tuple)):
        items = [_flatten(v, path + (i,), found) for i, v in enumerate(value)]
        return type(value)(items) if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: _flatten(v, path + (k,), found) for k, v in value.items()}
    return value


class _Slot:
    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"<tensor {self.index}>"


def _rebuild(template: Any, values: list[Any]) -> Any:
    if isinstance(template, _Slot):
        return values[template.index]
    if isinstance(template, list):
        return [_rebuild(v, values) for v in template]
    if isinstance(template, tuple):
        return tuple(_rebuild(v, values) for v in template)
    if isinstance(template, dict):
        return {k: _rebuild(v, values) for k, v in template.items()}
    return template


class _GradOf(NamedTuple):
    """The source of an argument's existing ``.grad``: the step reads it and accumulates into
    it in place, so every replay takes it from that call's argument, as it does the argument."""

    path: tuple


def _signature(found: list[tuple[tuple, Tensor]], structure: Any) -> tuple:
    # The buffer's type is the device (NumPy: CPU), so a CUDA argument is a new signature.
    tensors = tuple((type(t._data), t._data.shape, t._data.dtype, t._requires_grad, t._grad is not None)
                    for _, t in found)
    try:
        hash(repr(structure))
        shape_key = repr(structure)
    except Exception:  # noqa: BLE001 - an unprintable argument: key by its type only
        shape_key = repr(type(structure))
    return grad_mode.state.enabled, tensors, _aliasing([t for _, t in found]), shape_key


def _aliasing(tensors: list[Tensor]) -> tuple[tuple[int, int, bool], ...]:
    """``(i, j, same_buffer)`` for the tensor arguments ``i < j`` that share memory. A trace
    records one value per buffer, so f(x, x) and f(x, y) need traces of their own."""
    if len(tensors) < 2:
        return ()
    by_owner: dict[int, list[int]] = {}
    for i, tensor in enumerate(tensors):
        owner = tensor._data
        while isinstance(owner, np.ndarray) and owner.base is not None:
            owner = owner.base
        by_owner.setdefault(id(owner), []).append(i)
    if len(by_owner) == len(tensors):
        return ()  # the usual case: no two arguments live in the same allocation
    pairs = []
    for members in by_owner.values():
        for n, i in enumerate(members):
            for j in members[n + 1:]:
                a, b = tensors[i]._data, tensors[j]._data
                if a is b or np.may_share_memory(a, b):
                    pairs.append((i, j, a is b))
    return tuple(pairs)


def _argument_grad(tensor: Tensor, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """The buffer of ``tensor.grad``, which the step accumulates into in place."""
    grad = tensor._grad
    if grad is None:
        raise GuardFailure("an argument's .grad is None now")
    data = grad._data
    if data.shape != shape or data.dtype != dtype or not data.flags.c_contiguous:
        raise GuardFailure(f"an argument's .grad is now {data.dtype.name}{list(data.shape)} "
                           f"({'' if data.flags.c_contiguous else 'not '}contiguous), traced as "
                           f"contiguous {dtype.name}{list(shape)}")
    return data


def _contiguous(data: Any) -> Any:
    """A C-contiguous copy of an argument's buffer, on its device."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data)
    from ..cuda._ops import contiguous_copy

    return contiguous_copy(data)


def _same_params(group: dict[str, Any], params: tuple[Tensor, ...]) -> bool:
    current = group["params"]
    return len(current) == len(params) and all(map(operator.is_, current, params))


class _Guards:
    """What the trace read by reference, checked before every replay: the names it read
    (closure cells, globals, attributes), modules' mode and parameters, optimizers' parameter
    groups, the gradients it accumulates into, and arguments that were also reachable by
    reference. Each check is a few attribute reads per item: no scanning."""

    def __init__(self, names: list[Binding], modules: list[Any], optimizers: list[Any],
                 grads_read: list[tuple[Tensor, Tensor]], aliased: list[tuple[int, np.ndarray]]) -> None:
        self.names = names
        self.modules = [(m, m.training, tuple(m._parameters.values())) for m in modules]
        self.optimizers = [(o, tuple(tuple(g["params"]) for g in o.param_groups)) for o in optimizers]
        self.grads_read = grads_read
        self.aliased = aliased

    def check(self, tensors: list[Tensor]) -> None:
        for binding in self.names:
            current = binding.current()
            if not binding.holds(current):
                raise GuardFailure(binding.describe(current))
        for module, training, parameters in self.modules:
            if module.training is not training:
                raise GuardFailure(f"{type(module).__name__}.training changed to {module.training}")
            if not all(map(operator.is_, module._parameters.values(), parameters)):
                raise GuardFailure(f"a parameter of {type(module).__name__} was replaced")
        for optimizer, groups in self.optimizers:
            current = optimizer.param_groups
            if len(current) != len(groups) or not all(map(_same_params, current, groups)):
                raise GuardFailure(f"{type(optimizer).__name__}'s parameter groups changed "
                                   f"({len(current)} groups, traced with {len(groups)})")
        for tensor, grad in self.grads_read:
            if tensor._grad is not grad:
                raise GuardFailure("a gradient the step accumulates into was replaced or reset")
        for slot, data in self.aliased:
            if tensors[slot]._data is not data:
                raise GuardFailure(f"argument {slot} was traced as a tensor the function also reads by reference")


class CompiledStep:
    """One traced version of the function: its code and what to check before replaying."""

    def __init__(self, graph: Graph, units: list[Any], function: Callable[..., tuple], parallel: bool,
                 argument_slots: list[tuple[int, tuple | None]], captured: list[tuple[Tensor, tuple, np.dtype, bool]],
                 result_template: Any, result_slots: list[int], grad_outputs: list[tuple[Tensor, int | None]],
                 bumps: list[Tensor], guards: _Guards, argument_grads: list[tuple[int, int | None]],
                 argument_bumps: list[tuple[int, bool, int]], device: str = "cpu") -> None:
        self.graph = graph
        self.device = device
        self.units = units
        self.function = function
        self.parallel = parallel
        # (slot, None) reads argument ``slot``; (slot, (shape, dtype)) its existing .grad.
        self.argument_slots = argument_slots
        self.captured = captured
        self.result_template = result_template
        self.result_slots = result_slots
        self.grad_outputs = grad_outputs
        self.bumps = bumps
        self.guards = guards
        self.argument_grads = argument_grads
        self.argument_bumps = argument_bumps  # (slot, of its .grad, in-place writes to count)

    def replay(self, tensors: list[Tensor]) -> Any:
        self.guards.check(tensors)
        arrays = []
        for slot, grad_meta in self.argument_slots:
            if grad_meta is not None:
                arrays.append(_argument_grad(tensors[slot], *grad_meta))
                continue
            data = tensors[slot]._data
            arrays.append(data if data.flags.c_contiguous else _contiguous(data))
        on_cpu = self.device == "cpu"
        for tensor, shape, dtype, requires_grad in self.captured:
            data = tensor._data
            if (type(data) is np.ndarray) is not on_cpu:
                raise GuardFailure(f"a captured tensor moved to {tensor.device}")
            if data.shape != shape or data.dtype != dtype or not data.flags.c_contiguous:
                raise GuardFailure(f"a captured tensor is now {data.dtype.name}{list(data.shape)}, "
                                   f"traced as {dtype.name}{list(shape)}")
            if tensor._requires_grad is not requires_grad:
                raise GuardFailure("a captured tensor's requires_grad changed")
            arrays.append(data)
        after = []
        memo: dict = {}
        host: dict[int, Any] = {}
        # Providers that draw random numbers run last, so that one failing a guard (an
        # optimizer's changed flag) has not moved a generator: the retrace draws as eager does.
        for value in sorted(self.graph.host, key=lambda v: getattr(v.source, "draws", False)):
            host[value.index], commit = value.source(memo)
            if commit is not None:
                after.append(commit)
        arrays += [host[value.index] for value in self.graph.host]
        if self.parallel:
            with cpu._PARALLEL_LOCK:
                outputs = self.function(*arrays)
        else:
            outputs = self.function(*arrays)
        for commit in after:
            commit()
        for tensor, index in self.grad_outputs:
            tensor._grad = None if index is None else _wrap(outputs[index])
        for slot, index in self.argument_grads:
            tensors[slot]._grad = None if index is None else _wrap(outputs[index])
        for tensor in self.bumps:
            tensor._counter.value += 1
        for slot, of_grad, count in self.argument_bumps:
            tensor = tensors[slot]
            (tensor._grad if of_grad else tensor)._counter.value += count
        return _rebuild(self.result_template, [_wrap(outputs[i]) for i in self.result_slots])


class CompiledFunction:
    """The callable ``tapegrad.compile(fn)`` returns; ``tape`` is the last traced list."""

    def __init__(self, fn: Callable[..., Any], debug: bool = False, cache_size: int = 8) -> None:
        self.fn = fn
        self.debug = debug
        self.cache_size = cache_size
        self._steps: OrderedDict[tuple, list[CompiledStep]] = OrderedDict()
        self._seen: set[tuple] = set()
        self.tape: Graph | None = None
        self.traces = 0
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        found: list[tuple[tuple, Tensor]] = []
        key = _signature(found, _flatten((args, kwargs), (), found))
        candidates = self._steps.get(key)
        if candidates:
            tensors = [t for _, t in found]
            for compiled in candidates:
                try:
                    return compiled.replay(tensors)
                except GuardFailure as failure:
                    if _log_enabled(self.debug):
                        _log(f"guard failed for {self.__name__}: {failure.reason}; retracing")
        if key not in self._seen:
            # The first call of a signature runs eagerly: steps create state lazily
            # (optimizer buffers, gradients), and the trace should see it existing.
            self._seen.add(key)
            return self.fn(*args, **kwargs)
        return self._trace(key, args, kwargs)

    def _trace(self, key: tuple, args: tuple, kwargs: dict) -> Any:
        found: list[tuple[tuple, Tensor]] = []
        template = _flatten((args, kwargs), (), found)
        arguments: dict[int, tuple[Any, Tensor]] = {id(t._data): (path, t) for path, t in found}
        externals, modules, optimizers, by_reference = reachable_tensors(self.fn, args, kwargs)
        aliased = [(slot, t._data) for slot, (_, t) in enumerate(found) if id(t._data) in by_reference]
        for path, t in found:
            externals.pop(id(t._data), None)
        for path, t in found:
            if t._grad is not None and id(t._grad._data) not in arguments:
                # Read and accumulated into through this call's argument, not captured.
                externals.pop(id(t._grad._data), None)
                arguments[id(t._grad._data)] = (_GradOf(path), t._grad)
        before = {id(t): (t, t._data, t._counter.value, t._grad) for t in externals.values()}
        argument_grads = [t._grad for _, t in found]
        argument_versions = _argument_versions(found)
        names = bindings(self.fn)
        tracer = trace.Tracer(arguments, externals)
        with _TRACE_LOCK:
            if trace.ACTIVE is not None:
                raise trace.TraceError("tapegrad.compile: a compiled function called another one while tracing")
            trace.ACTIVE = tracer
            try:
                result = self.fn(*args, **kwargs)
            finally:
                trace.ACTIVE = None
        _check_not_rebound(names)
        guards = _Guards(names, modules, optimizers, [], aliased)
        compiled = self._build(tracer, template, found, result, before, guards, argument_grads, argument_versions)
        entries = self._steps.setdefault(key, [])
        entries.append(compiled)
        while sum(len(v) for v in self._steps.values()) > self.cache_size:
            oldest = next(iter(self._steps))
            self._steps[oldest].pop(0)
            if not self._steps[oldest]:
                del self._steps[oldest]
        self._steps.move_to_end(key)
        return result

    def _build(self, tracer: trace.Tracer, template: Any, found: list, result: Any, before: dict,
               guards: _Guards, argument_grads: list[Tensor | None],
               argument_versions: list[tuple[int, bool, Tensor, int]]) -> CompiledStep:
        graph = tracer.graph
        result_found: list[tuple[tuple, Tensor]] = []
        result_template = _flatten(result, (), result_found)
        result_slots = []
        for _, tensor in result_found:
            graph.outputs.append(tracer.value(tensor))
            result_slots.append(len(graph.outputs) - 1)
        grad_outputs: list[tuple[Tensor, int | None]] = []
        bumps: list[Tensor] = []
        counted: set[int] = set()
        for tensor, data, version, grad in before.values():
            if tensor._data is not data:
                raise trace.TraceError("tapegrad.compile: the step replaced a tensor's buffer (.data = ...); "
                                       "use in-place ops such as copy_() instead")
            # Views and aliases share a version counter: check and replay each counter once.
            if id(tensor._counter) not in counted:
                counted.add(id(tensor._counter))
                recorded = tracer.bumps.get(id(tensor._counter), 0)
                if tensor._counter.value - version != recorded:
                    raise trace.TraceError(
                        f"tapegrad.compile: a {tensor.dtype} tensor of shape {list(tensor.shape)} was changed in "
                        "place by code the compiler cannot record")
                bumps += [tensor] * recorded
            new_grad = tensor._grad
            if new_grad is grad:
                continue
            if new_grad is None:
                grad_outputs.append((tensor, None))
            else:
                graph.outputs.append(tracer.value(new_grad))
                grad_outputs.append((tensor, len(graph.outputs) - 1))
        for tensor in tracer.adopted:
            # Created by this call (new optimizer state): replays change it in place as it did.
            if id(tensor._counter) not in counted:
                counted.add(id(tensor._counter))
                bumps += [tensor] * tracer.bumps.get(id(tensor._counter), 0)
        argument_bumps = _argument_bumps(tracer, argument_versions, counted)
        argument_outputs: list[tuple[int, int | None]] = []
        for slot, ((_, tensor), grad) in enumerate(zip(found, argument_grads)):
            if tensor._grad is not grad:
                if tensor._grad is None:
                    argument_outputs.append((slot, None))
                else:
                    graph.outputs.append(tracer.value(tensor._grad))
                    argument_outputs.append((slot, len(graph.outputs) - 1))
        _check_argument_grads(graph, found, argument_grads)
        captured_sources = {id(v.source) for v in graph.captured}
        guards.grads_read = [(t, grad) for t, _, _, grad in before.values()
                             if grad is not None and id(grad) in captured_sources]
        on_cuda = tracer.device == "cuda"
        # One kernel for all of an optimizer's parameters is a CPU loop; on CUDA each
        # parameter's update stays one launch.
        counts = [passes.split_bias_products(graph), passes.fold_constants(graph), passes.fold_transposes(graph),
                  passes.elide_copies(graph), passes.eliminate_dead(graph),
                  0 if on_cuda else passes.fuse_updates(graph)]
        units = fusion.fuse(graph, any_sum=on_cuda)
        name = getattr(self.fn, "__name__", "step").strip("<>") or "step"
        if on_cuda:
            from .cuda_program import CudaProgram

            function: Callable[..., tuple] = CudaProgram(graph, units)
            layout: Any = "CUDA program: no buffer plan"
            parallel = False
        else:
            plan = planning.plan(graph, units, fusion.stored_values(graph, units))
            source, parallel = codegen.generate(graph, units, plan)
            module = kernel_cache.load_module(f"step_{name}", source)
            function, layout = planning.with_workspaces(module.step, plan), plan
        self.tape = graph
        self.traces += 1
        if _log_enabled(self.debug):
            _log(f"traced {name}: split {counts[0]} bias products, folded {counts[1]} constants and {counts[2]} "
                 f"transposes, elided {counts[3]} copies, removed {counts[4]} dead nodes, merged {counts[5]} "
                 f"optimizer updates; {layout!r}\n"
                 f"{graph.format()}\nfused groups:\n" + "\n".join(f"  {u!r}" for u in units
                                                                  if isinstance(u, fusion.Group)))
        slots_by_path = {path: i for i, (path, _) in enumerate(found)}
        argument_slots = [(slots_by_path[value.source.path], (value.shape, value.dtype))
                          if isinstance(value.source, _GradOf) else (slots_by_path[value.source], None)
                          for value in graph.arguments]
        captured = [(value.source, value.shape, value.dtype, value.source._requires_grad) for value in graph.captured]
        assert all(v.kind == HOST for v in graph.host) and all(v.kind == ARGUMENT for v in graph.arguments)
        assert all(v.kind == CAPTURED for v in graph.captured)
        return CompiledStep(graph, units, function, parallel, argument_slots, captured, result_template,
                            result_slots, grad_outputs, bumps, guards, argument_outputs, argument_bumps,
                            "cuda" if on_cuda else "cpu")


def _argument_versions(found: list[tuple[tuple, Tensor]]) -> list[tuple[int, bool, Tensor, int]]:
    """``(slot, of_grad, tensor, version)`` for every argument and existing argument gradient."""
    versions = []
    for slot, (_, tensor) in enumerate(found):
        versions.append((slot, False, tensor, tensor._counter.value))
        if tensor._grad is not None:
            versions.append((slot, True, tensor._grad, tensor._grad._counter.value))
    return versions


def _argument_bumps(tracer: trace.Tracer, versions: list[tuple[int, bool, Tensor, int]],
                    counted: set[int]) -> list[tuple[int, bool, int]]:
    """The in-place writes to arguments (and their gradients) a replay must count on that
    call's tensors; a write the tracer did not see is refused, as for captured tensors."""
    bumps = []
    for slot, of_grad, tensor, version in versions:
        key = id(tensor._counter)
        if key in counted:
            continue  # shared with a captured tensor (a view) or an earlier argument
        counted.add(key)
        recorded = tracer.bumps.get(key, 0)
        if tensor._counter.value - version != recorded:
            what = "an argument's gradient" if of_grad else "an argument"
            raise trace.TraceError(
                f"tapegrad.compile: {what} ({tensor.dtype}, shape {list(tensor.shape)}) was changed in place "
                "by code the compiler cannot record")
        if recorded:
            bumps.append((slot, of_grad, recorded))
    return bumps


def _check_argument_grads(graph: Graph, found: list[tuple[tuple, Tensor]],
                          argument_grads: list[Tensor | None]) -> None:
    """Replays write an argument's gradient in place, so it must be a buffer the generated
    code can write directly: a contiguous copy would lose the update."""
    slots = {path: i for i, (path, _) in enumerate(found)}
    for value in graph.arguments:
        if isinstance(value.source, _GradOf):
            grad = argument_grads[slots[value.source.path]]
            if grad is not None and not grad._data.flags.c_contiguous:
                raise trace.TraceError(
                    "tapegrad.compile: the step accumulates into an argument's .grad that is not contiguous; "
                    "give the argument a contiguous gradient (x.grad = x.grad.contiguous()) or none (x.grad = None)")


def _check_not_rebound(names: list[Binding]) -> None:
    """A step that assigns a global, nonlocal or attribute it reads would do so only when
    traced: a replay runs no Python. Refuse it rather than replay a stale value."""
    for binding in names:
        current = binding.current()
        if not binding.holds(current):
            raise trace.TraceError(
                f"tapegrad.compile: the step assigns a name it reads while it runs ({binding.describe(current)}); "
                "a replay runs no Python, so the assignment would not happen again. Make the assignment outside "
                "the compiled function (pass the value in as an argument, or return it), or run this function "
                "eagerly.")


def compile(fn: Callable[..., Any] | None = None, *, debug: bool = False, cache_size: int = 8) -> Any:
    """Compile a training or inference step: ``tapegrad.compile(step)`` or ``@tapegrad.compile``.

    The first call per signature runs eagerly, the second records forward, ``backward()`` and
    optimizer updates as one list and compiles it, later calls replay it as one Numba call.
    Returned tensors are detached; gradients land in ``.grad`` as in eager mode.

    A replay runs no Python, so what the step read by reference is guarded instead: the
    closure variables and globals its code names (and those of the user-defined functions it
    reaches through them) and the referenced attributes of its bound object must still be the
    same objects, and Python numbers among them (``int``, ``float``, ``bool``, also strings
    and tuples of such) must still have the traced value, since the trace baked them into the
    code as constants. A changed one (an annealed loss weight, a rebound tensor) traces again;
    a step that assigns such a name itself is refused with ``TraceError``. Module parameters
    and train/eval mode, optimizers' parameter groups and flags, and captured tensors' shapes
    are guarded too. Values inside containers or other objects (``config["beta"]``,
    ``args.beta``) are not: pass those in as arguments.

    >>> import tapegrad
    >>> w = tapegrad.ones(3, requires_grad=True)
    >>> @tapegrad.compile
    ... def step(x):
    ...     w.grad = None
    ...     loss = (w * x).sum()
    ...     loss.backward()
    ...     return loss
    >>> [step(tapegrad.arange(3.0)).item() for _ in range(3)]
    [3.0, 3.0, 3.0]
    >>> w.grad
    tensor([0., 1., 2.])
    """
    if fn is None:
        return functools.partial(compile, debug=debug, cache_size=cache_size)
    return CompiledFunction(fn, debug, cache_size)

"""What a function can reach: the tensors a traced step may read by reference.

The scan follows the function's arguments, closure cells, the globals its code names,
its bound ``self``, and from there modules (parameters, buffers, submodules, tensor
attributes), optimizers (parameters and state), containers and plain objects' attributes,
a few levels deep. Each tensor's gradient is included, since a step reads and writes
``.grad``. Modules and optimizers found are returned too: their train/eval mode, parameters
and parameter groups are guarded.

``bindings`` lists the names a step reads by reference (closure cells, globals its code
names, attributes of its bound object), so that a replay can check they still hold what the
trace read: the same object, or for plain Python constants an equal value.
"""
from __future__ import annotations

import functools
import os
import sysconfig
import types
from typing import Any, Callable

import numpy as np

from ..tensor import Tensor

_DEPTH = 4
_MAX_FUNCTIONS = 32  # user functions whose names are guarded, reached through closures/globals

MISSING = object()
"""What a binding holds when its cell is empty or its name is not (or no longer) defined."""


def reachable_tensors(fn: Callable[..., Any], args: tuple,
                      kwargs: dict) -> tuple[dict[int, Tensor], list[Any], list[Any], set[int]]:
    """``({id(buffer): tensor}, [modules], [optimizers], by_reference)`` for everything ``fn``
    can reach; ``by_reference`` holds the buffers it reaches without its arguments."""
    from ..nn.module import Module
    from ..optim.optimizer import Optimizer

    tensors: dict[int, Tensor] = {}
    modules: list[Any] = []
    optimizers: list[Any] = []
    seen: set[int] = set()

    def visit(obj: Any, depth: int) -> None:
        if obj is None or isinstance(obj, (int, float, str, bytes, bool)) or id(obj) in seen:
            return
        if isinstance(obj, Tensor):
            seen.add(id(obj))
            tensors.setdefault(id(obj._data), obj)
            if obj._grad is not None:
                tensors.setdefault(id(obj._grad._data), obj._grad)
            return
        if depth <= 0:
            return  # not marked seen: a shorter path may still reach it
        seen.add(id(obj))
        if isinstance(obj, Module):
            modules.append(obj)
            for value in list(obj._parameters.values()) + list(obj._buffers.values()):
                visit(value, depth)
            for child in obj._modules.values():
                visit(child, depth)
            for value in obj.__dict__.values():
                visit(value, depth - 1)
            return
        if isinstance(obj, Optimizer):
            optimizers.append(obj)
            for group in obj.param_groups:
                for p in group["params"]:
                    visit(p, depth)
            for entry in obj.state.values():
                for value in entry.values():
                    visit(value, depth)
            return
        if isinstance(obj, (list, tuple, set, frozenset)):
            for value in obj:
                visit(value, depth - 1)
            return
        if isinstance(obj, dict):
            for value in obj.values():
                visit(value, depth - 1)
            return
        if isinstance(obj, (types.FunctionType, types.MethodType)):
            visit_function(obj, depth - 1)
            return
        if isinstance(obj, (types.ModuleType, type)):
            return
        attributes = getattr(obj, "__dict__", None)
        if isinstance(attributes, dict):
            for value in attributes.values():
                visit(value, depth - 1)

    def visit_function(function: Any, depth: int) -> None:
        if isinstance(function, types.MethodType):
            visit(function.__self__, depth)
            function = function.__func__
        code = getattr(function, "__code__", None)
        if code is None:
            visit(function, depth)
            return
        for cell in function.__closure__ or ():
            try:
                visit(cell.cell_contents, depth)
            except ValueError:  # an empty cell
                pass
        globals_ = function.__globals__
        for name in _names(code):
            if name in globals_:
                visit(globals_[name], depth)
        for default in function.__defaults__ or ():
            visit(default, depth)

    callable_self = fn if not isinstance(fn, (types.FunctionType, types.MethodType)) else None
    visit_function(fn if callable_self is None else type(fn).__call__.__get__(fn), _DEPTH)
    by_reference = set(tensors)
    for value in list(args) + list(kwargs.values()):
        visit(value, _DEPTH)
    return tensors, modules, optimizers, by_reference


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


class Binding:
    """One name a step reads by reference and what it held when traced: a closure ``cell``
    (``key`` None), or ``key`` of a namespace dict (a module's globals, an object's
    ``__dict__``). ``by_value``: a plain constant, compared by type and value, since the trace
    baked it into the code; anything else must be the very same object."""

    __slots__ = ("by_value", "key", "label", "value", "where")

    def __init__(self, where: Any, key: str | None, value: Any, label: str) -> None:
        self.where = where
        self.key = key
        self.value = value
        self.by_value = _is_constant(value)
        self.label = label

    def current(self) -> Any:
        if self.key is None:
            try:
                return self.where.cell_contents
            except ValueError:  # an empty cell
                return MISSING
        return self.where.get(self.key, MISSING)

    def holds(self, current: Any) -> bool:
        value = self.value
        return current is value or (self.by_value and type(current) is type(value) and current == value)

    def describe(self, current: Any) -> str:
        if _is_constant(current) and _is_constant(self.value):
            return f"{self.label} is now {_show(current)}, traced as {_show(self.value)}"
        return f"{self.label} is now {_show(current)}, another object than the traced {_show(self.value)}"


def _show(value: Any) -> str:
    if value is MISSING:
        return "undefined"
    return repr(value) if _is_constant(value) else f"{type(value).__name__}"


def bindings(fn: Callable[..., Any]) -> list[Binding]:
    """The closure cells, referenced globals and bound object's referenced attributes of
    ``fn`` and of the user functions reachable from those (library code is skipped: its
    names do not change between steps, and checking them would slow every replay)."""
    found: list[Binding] = []
    pending: list[Any] = [fn]
    if not isinstance(fn, (types.FunctionType, types.MethodType)):
        # A callable object: its __call__, and a module's forward (Module.__call__ is library code).
        pending = [type(fn).__call__.__get__(fn)]
        forward = getattr(fn, "forward", None)
        if isinstance(forward, types.MethodType):
            pending.append(forward)
    done: set[int] = set()
    while pending and len(done) < _MAX_FUNCTIONS:
        function = pending.pop()
        owner = None
        if isinstance(function, types.MethodType):
            owner, function = function.__self__, function.__func__
        code = getattr(function, "__code__", None)
        if code is None or id(function) in done or _is_library(code):
            continue
        done.add(id(function))
        name = getattr(function, "__qualname__", code.co_name)
        names = sorted(_names(code))
        for var, cell in zip(code.co_freevars, function.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:
                value = MISSING
            found.append(Binding(cell, None, value, f"closure variable {var!r} of {name}"))
            if isinstance(value, (types.FunctionType, types.MethodType)):
                pending.append(value)
        namespace = function.__globals__
        for var in names:
            if var in namespace:
                value = namespace[var]
                found.append(Binding(namespace, var, value, f"global {var!r} of {name}"))
                if isinstance(value, (types.FunctionType, types.MethodType)):
                    pending.append(value)
        attributes = getattr(owner, "__dict__", None)
        if isinstance(attributes, dict):
            for var in names:
                if var in attributes:
                    found.append(Binding(attributes, var, attributes[var],
                                         f"attribute {var!r} of {type(owner).__name__}"))
    return found


def _is_constant(value: Any) -> bool:
    """A plain value whose equality is cheap and means "the same" to a trace."""
    if isinstance(value, (bool, int, float, complex, str, bytes, np.generic)):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_is_constant(v) for v in value)
    return False


@functools.cache
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tapegrad itself
    return tuple(os.path.join(root, "") for root in roots)


def _is_library(code: types.CodeType) -> bool:
    return os.path.abspath(code.co_filename).startswith(_library_roots())

"""What a function can reach: the tensors a traced step may read by reference.

The scan follows the function's arguments, closure cells, the globals its code names,
its bound ``self``, and from there modules (parameters, buffers, submodules, tensor
attributes), optimizers (parameters and state), containers and plain objects' attributes,
a few levels deep. Each tensor's gradient is included, since a step reads and writes
``.grad``. Modules found are returned too: their train/eval mode is guarded.
"""
from __future__ import annotations

import types
from typing import Any, Callable

from ..tensor import Tensor

_DEPTH = 4


def reachable_tensors(fn: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[dict[int, Tensor], list[Any]]:
    """``({id(buffer): tensor}, [modules])`` for everything ``fn`` can reach."""
    from ..nn.module import Module
    from ..optim.optimizer import Optimizer

    tensors: dict[int, Tensor] = {}
    modules: list[Any] = []
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
    for value in list(args) + list(kwargs.values()):
        visit(value, _DEPTH)
    return tensors, modules


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names

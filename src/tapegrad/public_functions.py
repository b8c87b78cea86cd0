"""Thin wrappers over the public functions, for what PyTorch's argument parser does before a call:

* NumPy's keyword names as aliases: ``axis`` for ``dim`` and ``keepdims`` for ``keepdim``
  (``x.sum(axis=0)``, ``tapegrad.cat(xs, axis=1)``), for every function and Tensor method with
  a ``dim`` parameter;
* a TypeError naming the argument when something other than a tensor is passed where a tensor
  must be (``tapegrad.mm(x, 1)``: "mm(): argument 'mat2' (position 2) must be Tensor, not
  int"), for every function with parameters annotated ``Tensor``. The check runs only once the
  call has failed with an AttributeError (what a number or list shows where a tensor's
  attributes are read), so a call that succeeds pays nothing for it.

A wrapper is one extra Python call and one test of the keywords (about 0.1 us). Signatures are
read once per function, from code objects and annotations, when the package is imported.
"""
from __future__ import annotations

import functools
import inspect
from types import FunctionType
from typing import Any, Callable

_RENAMED = {"axis": "dim", "keepdims": "keepdim"}
# original function -> its wrapper: a function bound under several names, or both as a function
# and as a method (``tapegrad.sum``, ``Tensor.sum``), gets one wrapper.
_wrappers: dict[Callable[..., Any], Callable[..., Any]] = {}


def _renamed(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in kwargs.items():
        new = _RENAMED.get(key, key)
        if new in out:
            raise TypeError(f"{name}() got multiple values for argument '{new}' (passed as '{key}')")
        out[new] = value
    return out


def _check_tensors(name: str, tensors: tuple[tuple[int, str], ...], args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> None:
    """PyTorch's TypeError for the first argument declared a tensor that is not one."""
    from .tensor import Tensor

    for position, parameter in tensors:
        if position < len(args):
            value = args[position]
        elif parameter in kwargs:
            value = kwargs[parameter]
        else:
            continue
        if not isinstance(value, Tensor):
            raise TypeError(f"{name}(): argument '{parameter}' (position {position + 1}) must be Tensor, not "
                            f"{type(value).__name__}")


def _wrap(fn: Callable[..., Any], aliases: bool, tensors: tuple[tuple[int, str], ...]) -> Callable[..., Any]:
    name = fn.__name__

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if aliases and kwargs and ("axis" in kwargs or "keepdims" in kwargs):
            kwargs = _renamed(name, kwargs)
        try:
            return fn(*args, **kwargs)
        except AttributeError:
            if tensors:
                _check_tensors(name, tensors, args, kwargs)
            raise

    call.__numpy_aliases__ = aliases  # type: ignore[attr-defined]
    call.__tensor_arguments__ = tensors  # type: ignore[attr-defined]
    return call


def _parameters(fn: Any) -> tuple[bool, tuple[tuple[int, str], ...]] | None:
    """(whether ``fn`` or the function it wraps has a ``dim`` that can be named, its positional
    parameters annotated ``Tensor`` with their positions), or None for a non-function or one
    already wrapped. Read from the code object and the (string) annotations: a fraction of the
    cost of ``inspect.signature``."""
    if not isinstance(fn, FunctionType) or hasattr(fn, "__tensor_arguments__"):
        return None
    inner = inspect.unwrap(fn)
    code = getattr(inner, "__code__", None)
    if code is None:
        return None
    named = code.co_varnames[code.co_posonlyargcount:code.co_argcount + code.co_kwonlyargcount]
    annotations = getattr(inner, "__annotations__", {})
    positional = code.co_varnames[:code.co_argcount]
    tensors = tuple((i, p) for i, p in enumerate(positional) if annotations.get(p) in ("Tensor", "'Tensor'"))
    return "dim" in named, tensors


def install(namespace: dict[str, Any], owner: Any = None, check_tensors: bool = True) -> None:
    """Wraps the public functions of ``namespace`` that have a ``dim`` (or, with
    ``check_tensors``, tensor parameters), set back on ``owner`` (a class or module) when given,
    into ``namespace`` otherwise."""
    for key, value in list(namespace.items()):
        found = None if key.startswith("_") else _parameters(value)
        if found is None:
            continue
        aliases, tensors = found
        if not check_tensors:
            tensors = ()
        if not aliases and not tensors:
            continue
        wrapper = _wrappers.get(value)
        if wrapper is None:
            wrapper = _wrappers[value] = _wrap(value, aliases, tensors)
            # Named for where it is found first, so that pickle (which saves a function by its
            # module and qualified name) finds this wrapper again, not the function it wraps.
            if owner is None:
                wrapper.__module__, wrapper.__qualname__ = namespace["__name__"], key
            elif isinstance(owner, type):
                wrapper.__module__, wrapper.__qualname__ = owner.__module__, f"{owner.__qualname__}.{key}"
            else:
                wrapper.__module__, wrapper.__qualname__ = owner.__name__, key
        if owner is None:
            namespace[key] = wrapper
        else:
            setattr(owner, key, wrapper)

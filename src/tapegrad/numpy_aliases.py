"""NumPy's keyword names as aliases, as PyTorch's argument parser takes them: ``axis`` for ``dim``
and ``keepdims`` for ``keepdim`` (``x.sum(axis=0)``, ``tapegrad.cat(xs, axis=1)``).

Every function of the tapegrad namespace and every Tensor method with a ``dim`` parameter gets
a thin wrapper that renames the two keywords before the call. It is one extra Python call and
one test of the keywords (about 0.1 us), paid only by calls that pass keywords at all; the
signature is read once per function, when the package is imported.
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


def _aliased(fn: Callable[..., Any]) -> Callable[..., Any]:
    name = fn.__name__

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if kwargs and ("axis" in kwargs or "keepdims" in kwargs):
            kwargs = _renamed(name, kwargs)
        return fn(*args, **kwargs)

    call.__numpy_aliases__ = True  # type: ignore[attr-defined]
    return call


def _takes_dim(fn: Any) -> bool:
    """Whether ``fn`` (or the function it wraps) has a ``dim`` parameter that can be named: read
    from its code object, which costs a fraction of ``inspect.signature`` at import."""
    if not isinstance(fn, FunctionType) or getattr(fn, "__numpy_aliases__", False):
        return False
    code = getattr(inspect.unwrap(fn), "__code__", None)
    if code is None:
        return False
    return "dim" in code.co_varnames[code.co_posonlyargcount:code.co_argcount + code.co_kwonlyargcount]


def install(namespace: dict[str, Any], owner: Any = None) -> None:
    """Wraps the functions with a ``dim`` parameter among ``namespace``'s public names (set back
    on ``owner``, a class or module, when given; into ``namespace`` otherwise)."""
    for key, value in list(namespace.items()):
        if key.startswith("_") or not _takes_dim(value):
            continue
        wrapper = _wrappers.get(value)
        if wrapper is None:
            wrapper = _wrappers[value] = _aliased(value)
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

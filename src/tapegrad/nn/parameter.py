"""``Parameter``: a leaf tensor that a ``Module`` registers as trainable."""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad by default and is collected by ``Module.parameters()``."""

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> "Parameter":
        if data is None:
            data = Tensor()
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter data must be a Tensor, got {type(data).__name__}")
        out = object.__new__(cls)
        out._data = data._data
        out._version = data._version
        out._requires_grad = False
        out.grad_fn = None
        if requires_grad:
            out.requires_grad_(True)
        return out

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> "Parameter":
        out = Parameter(Tensor._from_array(self._data.copy()), self._requires_grad)
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild_parameter, (self._data.copy(), self._requires_grad))


class _BufferMeta(type):
    # ``Buffer(...)`` returns a plain tensor marked as a buffer, as PyTorch's does, so that
    # isinstance checks the mark.
    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, Tensor) and getattr(instance, "_is_buffer", False)


class Buffer(metaclass=_BufferMeta):
    """A tensor that a ``Module`` registers as a buffer when assigned as an attribute
    (``persistent`` buffers are saved in its ``state_dict``).

    >>> m = nn.Module(); m.counts = nn.Buffer(tapegrad.zeros(2)); list(m.state_dict())
    ['counts']
    """

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True) -> Tensor:  # type: ignore[misc]
        if data is None:
            data = Tensor()
        out = data.detach().requires_grad_(data.requires_grad)
        out.persistent = persistent
        out._is_buffer = True
        return out


def zero_grads(params: Iterable[Tensor], set_to_none: bool) -> None:
    """Reset gradients: drop them (``set_to_none``) or zero them in place, detached."""
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            p.grad.detach_()
            p.grad.zero_()


def _rebuild_parameter(data: np.ndarray, requires_grad: bool) -> Parameter:
    return Parameter(Tensor._from_array(data), requires_grad)

"""``Variable``: the pre-0.4 wrapper, kept so old scripts run. It returns a plain Tensor."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..tensor import Tensor


def Variable(data: Any, requires_grad: bool = False, volatile: bool = False) -> "Tensor":
    """``Variable(t, requires_grad=True)``: a leaf sharing ``t``'s data."""
    from ..tensor import Tensor

    if not isinstance(data, Tensor):
        raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
    out = data.detach()
    if requires_grad:
        out.requires_grad_(True)
    return out

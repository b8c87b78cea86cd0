"""Flattening parameters into one vector and back."""
from __future__ import annotations

from typing import Iterable

from ...ops import movement
from ...tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and concatenated into one vector (gradients flow back).

    >>> nn.utils.parameters_to_vector([tapegrad.ones(2, 2), tapegrad.zeros(1)])
    tensor([1., 1., 1., 1., 0.])
    """
    return movement.cat([param.view(-1) for param in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Make each parameter's data the next slice of ``vec`` (shared, not copied), in order.

    >>> p = tapegrad.zeros(2, 2)
    >>> nn.utils.vector_to_parameters(tapegrad.arange(4.), [p]); p
    tensor([[0., 1.],
            [2., 3.]])
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected tapegrad.Tensor, but got: {type(vec).__name__}")
    pointer = 0
    for param in parameters:
        count = param.numel()
        param.data = vec[pointer:pointer + count].view_as(param).data
        pointer += count

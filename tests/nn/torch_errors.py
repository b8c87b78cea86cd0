"""Checking that a call fails in tapegrad as it does in PyTorch."""
from __future__ import annotations

from typing import Any, Callable

import pytest

import tapegrad

# PyTorch's names for its own types, as tapegrad writes them.
_NAMES = [("torch.Size", "tapegrad.Size"), ("torch.FloatTensor", "tapegrad.FloatTensor"),
          ("<class 'torch.Tensor'>", "<class 'tapegrad.tensor.Tensor'>")]


def raises_as_torch(call: Callable[[Any], Any]) -> None:
    """``call(lib)`` raises the same exception type with the same message for ``lib`` PyTorch
    and tapegrad (PyTorch's type names read as tapegrad's, and without the tensor PyTorch prints
    after some messages)."""
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(type(theirs.value)) as ours:
        call(tapegrad)
    expected = str(theirs.value).split("\n[")[0]
    for name, ours_name in _NAMES:
        expected = expected.replace(name, ours_name)
    assert str(ours.value) == expected

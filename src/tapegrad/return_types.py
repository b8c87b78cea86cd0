"""The named tuples ops return (``x.max(1)``, ``x.sort()``, ...), one type per op as in
PyTorch, printing as PyTorch's do::

    tapegrad.return_types.max(
    values=tensor([2.]),
    indices=tensor([1]))
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any


def _structseq(name: str, fields: tuple[str, ...]) -> Any:
    """A named tuple type ``tapegrad.return_types.<name>`` with PyTorch's repr."""
    base = namedtuple(name, fields)  # type: ignore[misc]

    def __repr__(self: Any) -> str:
        items = ",\n".join(f"{field}={value!r}" for field, value in zip(self._fields, self))
        return f"tapegrad.return_types.{name}(\n{items})"

    # The module and name pickling looks the type up by.
    return type(name, (base,), {"__slots__": (), "__repr__": __repr__, "__module__": __name__, "__qualname__": name})


_VALUES_INDICES = ("values", "indices")

max = _structseq("max", _VALUES_INDICES)
min = _structseq("min", _VALUES_INDICES)
sort = _structseq("sort", _VALUES_INDICES)
topk = _structseq("topk", _VALUES_INDICES)
kthvalue = _structseq("kthvalue", _VALUES_INDICES)
median = _structseq("median", _VALUES_INDICES)
nanmedian = _structseq("nanmedian", _VALUES_INDICES)
mode = _structseq("mode", _VALUES_INDICES)
cummax = _structseq("cummax", _VALUES_INDICES)
cummin = _structseq("cummin", _VALUES_INDICES)
aminmax = _structseq("aminmax", ("min", "max"))
histogram = _structseq("histogram", ("hist", "bin_edges"))

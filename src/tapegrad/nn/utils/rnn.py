"""``nn.utils.rnn``: padding and packing batches of sequences of different lengths.

A ``PackedSequence`` holds the time steps of a batch one after another: step ``t`` contributes
the rows of the ``batch_sizes[t]`` sequences still running at ``t`` (the batch sorted by length,
longest first; ``sorted_indices`` and ``unsorted_indices`` map between that order and the
caller's). The recurrent layers take one and run each step on just those rows.

Packing and unpacking are each one ``index_select`` by a map computed from the lengths, so
gradients flow through them on either device. ``batch_sizes`` and lengths live on the CPU as
int64, as in PyTorch.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from ... import creation
from ... import dtypes as _dtypes
from ...ops.movement import cat, stack
from ...ops.padding import pad
from ...tensor import Tensor

__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence", "pad_sequence",
           "unpack_sequence", "unpad_sequence"]


class _PackedFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedFields):
    """The steps of a batch of sequences, packed (see the module docstring).

    >>> packed = nn.utils.rnn.pack_sequence([tapegrad.tensor([1., 2., 3.]), tapegrad.tensor([4., 5.])])
    >>> packed.data, packed.batch_sizes
    (tensor([1., 4., 2., 5., 3.]), tensor([2, 2, 1]))
    """

    def to(self, *args: Any, **kwargs: Any) -> "PackedSequence":
        """The data and index maps moved or cast as ``Tensor.to`` does; ``batch_sizes`` stays on the CPU."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        device = data.device
        indices = [None if i is None else i.to(device) for i in (self.sorted_indices, self.unsorted_indices)]
        return type(self)(data, self.batch_sizes, *indices)

    def cuda(self, *args: Any, **kwargs: Any) -> "PackedSequence":
        return self.to(self.data.cuda(*args, **kwargs).device)

    def cpu(self) -> "PackedSequence":
        return self.to("cpu")

    def double(self) -> "PackedSequence":
        return self.to(_dtypes.float64)

    def float(self) -> "PackedSequence":
        return self.to(_dtypes.float32)

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda


def _invert(permutation: Tensor) -> Tensor:
    inverse = np.empty(permutation.shape[0], np.int64)
    inverse[permutation.numpy(force=True)] = np.arange(permutation.shape[0])
    return creation.tensor(inverse, device=permutation.device)


def _lengths(lengths: Any) -> np.ndarray:
    """``lengths`` as int64 on the host: a list, or a 1-D CPU tensor as PyTorch requires."""
    if not isinstance(lengths, Tensor):
        return np.asarray(lengths, dtype=np.int64).reshape(-1)
    if lengths.ndim != 1 or lengths.device.type != "cpu":
        raise RuntimeError("'lengths' argument should be a 1D CPU int64 tensor, but got "
                           f"{lengths.ndim}D {lengths.device} Long tensor")  # PyTorch casts to int64 first
    return lengths.numpy(force=True).astype(np.int64)


def _rows(batch_sizes: np.ndarray, batch: int) -> np.ndarray:
    """For each packed row, its place ``t * batch + b`` in the (time, batch) grid."""
    return np.concatenate([t * batch + np.arange(size) for t, size in enumerate(batch_sizes)]).astype(np.int64)


def pack_padded_sequence(input: Tensor, lengths: Any, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded ``(T, B, *)`` batch (``(B, T, *)`` with ``batch_first``) of sequences of
    ``lengths``. With ``enforce_sorted`` the lengths must be decreasing; else the batch is
    sorted first and the packed sequence remembers the order.

    >>> padded = tapegrad.tensor([[1., 4.], [2., 5.], [3., 0.]])
    >>> nn.utils.rnn.pack_padded_sequence(padded, [3, 2]).data
    tensor([1., 4., 2., 5., 3.])
    """
    lengths = _lengths(lengths)
    batch = input.shape[0 if batch_first else 1]
    if lengths.shape[0] != batch:  # before sorting: an index_select by fewer lengths would drop sequences
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {lengths.shape[0]} "
                           f"(batch_size={batch})")
    sorted_indices = None
    if not enforce_sorted:
        order = np.argsort(-lengths, kind="stable")
        lengths = lengths[order]
        sorted_indices = creation.tensor(order, device=input.device)
        input = input.index_select(0 if batch_first else 1, sorted_indices)
    if batch_first:
        input = input.transpose(0, 1)
    steps, batch = input.shape[0], input.shape[1]
    if input.numel() == 0:
        raise RuntimeError("Cannot pack empty tensors.")
    if lengths[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that "
                           "is <= 0")
    if (np.diff(lengths) > 0).any():
        raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can "
                           "pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep "
                           "this requirement if you do not need ONNX exportability.")
    if lengths[0] > steps:
        raise RuntimeError(f"Expected every length to be at most the padded sequence length {steps}, but got "
                           f"{int(lengths[0])}")
    batch_sizes = (lengths[None, :] > np.arange(int(lengths[0]))[:, None]).sum(1).astype(np.int64)
    flat = input.reshape((steps * batch,) + tuple(input.shape[2:]))
    data = flat.index_select(0, creation.tensor(_rows(batch_sizes, batch), device=input.device))
    unsorted = None if sorted_indices is None else _invert(sorted_indices)
    return PackedSequence(data, creation.tensor(batch_sizes), sorted_indices, unsorted)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Unpack to ``(padded, lengths)``: the ``(T, B, *)`` batch (``(B, T, *)`` with
    ``batch_first``) in the caller's order, padded with ``padding_value`` to the longest length
    or ``total_length``, and each sequence's length (int64, CPU).

    >>> packed = nn.utils.rnn.pack_sequence([tapegrad.tensor([1., 2., 3.]), tapegrad.tensor([4., 5.])])
    >>> nn.utils.rnn.pad_packed_sequence(packed, batch_first=True)
    (tensor([[1., 2., 3.],
            [4., 5., 0.]]), tensor([3, 2]))
    """
    data, batch_sizes, _, unsorted_indices = sequence
    sizes = batch_sizes.numpy(force=True).astype(np.int64)
    steps = sizes.shape[0]
    if total_length is not None:
        if total_length < steps:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, but "
                             f"got total_length={total_length} and max sequence length being {steps}")
        steps = total_length
    batch = int(sizes[0])
    # Each grid place reads its packed row, or one appended row of padding_value.
    places = np.full(steps * batch, data.shape[0], np.int64)
    places[_rows(sizes, batch)] = np.arange(data.shape[0])
    filler = creation.full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    padded = cat([data, filler]).index_select(0, creation.tensor(places, device=data.device))
    padded = padded.reshape((steps, batch) + tuple(data.shape[1:]))
    lengths = (sizes[None, :] > np.arange(batch)[:, None]).sum(1).astype(np.int64)
    if batch_first:
        padded = padded.transpose(0, 1)
    if unsorted_indices is not None:
        padded = padded.index_select(0 if batch_first else 1, unsorted_indices)
        lengths = lengths[unsorted_indices.numpy(force=True)]
    return padded, creation.tensor(lengths)


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences of shapes ``(L_i, *)`` into ``(T, B, *)`` (``(B, T, *)`` with
    ``batch_first``), padded with ``padding_value`` on the ``padding_side`` to the longest.

    >>> nn.utils.rnn.pad_sequence([tapegrad.tensor([1., 2.]), tapegrad.tensor([3.])], batch_first=True)
    tensor([[1., 2.],
            [3., 0.]])
    """
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    if len(sequences) == 0:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        widths = [0, 0] * (s.ndim - 1) + ([missing, 0] if padding_side == "left" else [0, missing])
        padded.append(pad(s, widths, value=padding_value) if missing else s)
    return stack(padded, 0 if batch_first else 1)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences of shapes ``(L_i, *)`` (decreasing lengths with ``enforce_sorted``)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths: Any, batch_first: bool = False) -> list[Tensor]:
    """The list of sequences a padded batch holds: ``pad_sequence``'s inverse."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [row[:int(n)] for row, n in zip(padded_sequences.unbind(0), _lengths(lengths))]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences a packed sequence holds: ``pack_sequence``'s inverse."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)

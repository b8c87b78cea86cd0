"""``nn.utils.rnn`` and the recurrent layers over packed sequences: outputs, final states and
gradients against PyTorch (float64; sorted and unsorted batches, both directions, several
layers, projections, initial states), padding and packing round trips, finite-difference
gradients, PyTorch's errors, and the refusal to compile a packed step."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
from tapegrad.compiler import TraceError
from tapegrad.nn.utils import rnn

LAYERS: list[tuple[str, dict]] = [
    ("LSTM", dict(bidirectional=True, num_layers=2)),
    ("GRU", dict(batch_first=True)),
    ("RNN", dict(nonlinearity="relu", bidirectional=True)),
    ("LSTM", dict(proj_size=2, batch_first=True)),
]


def _data(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _states(hidden: Any) -> tuple[Any, ...]:
    return hidden if isinstance(hidden, tuple) else (hidden,)


@pytest.mark.torch
@pytest.mark.parametrize("sort", [False, True], ids=["unsorted", "sorted"])
@pytest.mark.parametrize("initial", [False, True], ids=["zeros", "hx"])
@pytest.mark.parametrize("name, options", LAYERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(LAYERS)])
def test_layers_over_packed_sequences_match_torch(name: str, options: dict, initial: bool, sort: bool) -> None:
    torch = pytest.importorskip("torch")
    lengths = [6, 4, 3, 1] if sort else [3, 6, 1, 4]
    batch_first = options.get("batch_first", False)
    x = _data((4, 6, 3) if batch_first else (6, 4, 3), 1)
    results = []
    for lib, utils in ((tapegrad, rnn), (torch, torch.nn.utils.rnn)):
        lib.manual_seed(0)
        module = getattr(lib.nn, name)(3, 5, dtype=lib.float64, **options)
        leaf = lib.tensor(x, requires_grad=True)
        packed = utils.pack_padded_sequence(leaf, lengths, batch_first=batch_first, enforce_sorted=sort)
        hx = None
        if initial:
            directions = 2 if options.get("bidirectional") else 1
            layers = options.get("num_layers", 1) * directions
            h = lib.tensor(_data((layers, 4, options.get("proj_size") or 5), 2))
            hx = (h, lib.tensor(_data((layers, 4, 5), 3))) if name == "LSTM" else h
        out, hidden = module(packed, hx)
        padded, out_lengths = utils.pad_packed_sequence(out, batch_first=batch_first, total_length=7)
        loss = (padded * lib.tensor(_data(tuple(padded.shape), 4))).sum()
        for k, state in enumerate(_states(hidden)):
            loss = loss + (state * (k + 2)).square().sum()
        loss.backward()
        results.append([out.data, padded, out_lengths, *_states(hidden), leaf.grad,
                        *[p.grad for p in module.parameters()]])
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("options", [dict(), dict(batch_first=True, padding_value=-1.0),
                                     dict(padding_side="left", padding_value=2.0)])
def test_pad_sequence_matches_torch(options: dict) -> None:
    torch = pytest.importorskip("torch")
    arrays = [_data((n, 2, 3), n) for n in (2, 5, 3)]
    ours = rnn.pad_sequence([tapegrad.tensor(a) for a in arrays], **options)
    theirs = torch.nn.utils.rnn.pad_sequence([torch.tensor(a) for a in arrays], **options)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_packing_round_trips_and_keeps_the_callers_order() -> None:
    sequences = [tapegrad.tensor(_data((n, 2), n)) for n in (2, 5, 3)]
    packed = rnn.pack_sequence(sequences, enforce_sorted=False)
    assert packed.batch_sizes.tolist() == [3, 3, 2, 1, 1] and packed.batch_sizes.dtype == tapegrad.int64
    assert packed.sorted_indices.tolist() == [1, 2, 0] and packed.unsorted_indices.tolist() == [2, 0, 1]
    for got, want in zip(rnn.unpack_sequence(packed), sequences, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    padded, lengths = rnn.pad_packed_sequence(packed)
    assert lengths.tolist() == [2, 5, 3] and tuple(padded.shape) == (5, 3, 2)
    for got, want in zip(rnn.unpad_sequence(padded, lengths), sequences, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert isinstance(packed, tuple) and packed._fields == ("data", "batch_sizes", "sorted_indices",
                                                             "unsorted_indices")
    as_float = packed.float()
    assert as_float.data.dtype == tapegrad.float32 and as_float.batch_sizes is packed.batch_sizes


def test_packing_and_a_packed_lstm_gradcheck() -> None:
    tapegrad.manual_seed(0)
    lstm = nn.LSTM(2, 3, bidirectional=True, dtype=tapegrad.float64)
    lengths = [2, 4, 1]

    def run(x: Any, *params: Any) -> Any:
        packed = rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
        out, (h, c) = lstm(packed)
        return rnn.pad_packed_sequence(out, padding_value=0.5)[0].sum() + h.square().sum() + c.sum()

    x = tapegrad.tensor(_data((4, 3, 2), 5), requires_grad=True)
    assert tapegrad.autograd.gradcheck(run, (x, *lstm.parameters()))


ERRORS: list[tuple[Callable[[Any, Any], Any], type]] = [
    (lambda L, R: R.pack_padded_sequence(L.ones(4, 3, 2), [2, 4, 1]), RuntimeError),
    (lambda L, R: R.pack_padded_sequence(L.ones(4, 3, 2), [2, 0, 1], enforce_sorted=False), RuntimeError),
    (lambda L, R: R.pack_padded_sequence(L.ones(4, 3, 2), [4, 2]), RuntimeError),
    (lambda L, R: R.pack_padded_sequence(L.ones(4, 3, 2), L.tensor([[4, 2, 1]])), RuntimeError),
    (lambda L, R: R.pad_packed_sequence(R.pack_sequence([L.ones(4), L.ones(2)]), total_length=3), ValueError),
    (lambda L, R: R.pad_sequence([]), RuntimeError),
    (lambda L, R: R.pad_sequence([L.ones(2), L.ones(3)], padding_side="middle"), RuntimeError),
    (lambda L, R: R.pack_sequence([L.ones(2), L.ones(3)]), RuntimeError),
    (lambda L, R: L.nn.GRU(2, 3)(R.pack_sequence([L.ones(3, 4), L.ones(2, 4)])), RuntimeError),
    (lambda L, R: L.nn.GRU(2, 3)(R.pack_sequence([L.ones(3, 2), L.ones(2, 2)]), L.zeros(1, 3, 3)), RuntimeError),
]


@pytest.mark.torch
@pytest.mark.parametrize("call, error", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torch(call: Callable[[Any, Any], Any], error: type) -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(error) as ours:
        call(tapegrad, rnn)
    with pytest.raises(error) as theirs:
        call(torch, torch.nn.utils.rnn)
    assert str(ours.value) == str(theirs.value)


def test_lengths_past_the_padded_length_or_too_few_are_refused() -> None:
    # PyTorch reads past the end of its input for the first, and drops a sequence for the second
    # (unsorted lengths select that many sequences); tapegrad says what is wrong.
    with pytest.raises(RuntimeError, match="at most the padded sequence length 4, but got 5"):
        rnn.pack_padded_sequence(tapegrad.ones(4, 3, 2), [5, 4, 1])
    with pytest.raises(RuntimeError, match=r"Expected `len\(lengths\)` to be equal to batch_size, but got 2 "
                                           r"\(batch_size=3\)"):
        rnn.pack_padded_sequence(tapegrad.ones(4, 3, 2), [4, 2], enforce_sorted=False)


def test_a_compiled_step_over_a_packed_sequence_is_refused() -> None:
    gru = nn.GRU(2, 3)

    @tapegrad.compile
    def step(packed: Any) -> Any:
        return gru(packed)[1].sum()

    packed = rnn.pack_padded_sequence(tapegrad.ones(3, 2, 2), [3, 1])
    step(packed)  # the first call runs eagerly
    with pytest.raises(TraceError, match="PackedSequence"):
        step(packed)


def test_docstring_examples_run() -> None:
    import doctest

    result = doctest.testmod(rnn, extraglobs={"tapegrad": tapegrad, "nn": nn})
    assert result.attempted and not result.failed

"""flip, roll, repeat, tile, tril, triu, cumsum and the sorts beyond the op table (which checks
their values, gradients and second derivatives): they return copies, take PyTorch's argument
forms and dtypes, and raise PyTorch's errors."""
from __future__ import annotations

import pytest

import tapegrad


@pytest.mark.parametrize("make", [lambda x: x.flip(0), lambda x: x.roll(1, 0), lambda x: x.repeat(1, 1),
                                  lambda x: x.tril(5), lambda x: x.triu(-5), lambda x: x.flip([])],
                         ids=["flip", "roll", "repeat", "tril", "triu", "flip_no_dims"])
def test_results_are_copies_even_when_nothing_moves(make):
    x = tapegrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = make(x)
    out[0, 0] = 9.0
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]


ERRORS = [
    (lambda L, x: L.flip(x, (0, -2)), "dim 0 appears multiple times in the list of dims"),
    (lambda L, x: L.roll(x, (1, 2), 0), "shifts and dimensions must align. shifts: 2, dims:1"),
    (lambda L, x: L.roll(x, (1, 2)), "shifts and dimensions must align. shifts: 2, dims:0"),
    (lambda L, x: x.repeat(2), "Number of dimensions of repeat dims can not be smaller than number of dimensions "
                               "of tensor"),
    (lambda L, x: x.repeat(2, -1), "Trying to create tensor with negative dimension -3: [4, -3]"),
    (lambda L, x: L.tril(x[0]), "tril: input tensor must have at least 2 dimensions"),
    (lambda L, x: x[0].triu(), "triu: input tensor must have at least 2 dimensions"),
    (lambda L, x: x.topk(4), "selected index k out of range"),
    (lambda L, x: L.topk(x, -1, 0), "selected index k out of range"),
    (lambda L, x: L.roll(x, (), ()), "`shifts` required"),
    (lambda L, x: x.cumsum(0, dtype=L.bool), "\"cumsum_out_cpu\" not implemented for 'Bool'"),
    (lambda L, x: L.cumprod(x, 1, dtype=L.bool), "\"cumprod_out_cpu\" not implemented for 'Bool'"),
    (lambda L, x: x.cumprod(2), "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda L, x: x.diagonal(0, 1, -1), "diagonal dimensions cannot be identical 1, -1"),
    (lambda L, x: L.diag(x[None]), "diag(): Supports 1D or 2D tensors. Got 3D"),
    (lambda L, x: L.trace(x[0]), "trace: expected a matrix, but got tensor with dim 1"),
]


@pytest.mark.parametrize("call, message", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torchs(call, message):
    error = (NotImplementedError if "_out_cpu" in message else IndexError if "Dimension out of range" in message
             else RuntimeError)
    with pytest.raises(error) as ours:
        call(tapegrad, tapegrad.ones(2, 3))
    assert str(ours.value) == message
    try:
        import torch
    except ImportError:
        return
    with pytest.raises(error) as theirs:
        call(torch, torch.ones(2, 3))
    assert str(theirs.value) == message


def test_sorts_of_a_0d_tensor_and_argsort_without_history():
    x = tapegrad.tensor(2.5, requires_grad=True)
    values, indices = x.sort()
    assert values.item() == 2.5 and indices.item() == 0 and indices.dtype is tapegrad.int64
    values.backward()
    assert x.grad.item() == 1.0
    assert x.topk(1).values.item() == 2.5
    order = tapegrad.tensor([3.0, 1.0], requires_grad=True).argsort()
    assert order.tolist() == [1, 0] and not order.requires_grad


def test_cumsum_keeps_a_requested_integer_dtype_and_tile_takes_varargs():
    ints = tapegrad.tensor([1, 2, 3], dtype=tapegrad.int32)
    assert ints.cumsum(0).dtype is tapegrad.int64
    assert ints.cumsum(0, dtype=tapegrad.int32).dtype is tapegrad.int32
    assert ints.cumprod(0).dtype is tapegrad.int64 and ints.cumprod(0).tolist() == [1, 2, 6]
    assert ints.cumprod(0, dtype=tapegrad.float64).dtype is tapegrad.float64
    assert tapegrad.tensor([True, True]).cumsum(0).tolist() == [1, 2]
    assert tapegrad.ones(2).tile(2, 1).shape == (2, 2)
    assert tapegrad.ones(2).tile((3,)).shape == (6,)


def test_roll_of_a_0d_tensor():
    assert tapegrad.roll(tapegrad.tensor(2.0), 1).item() == 2.0
    with pytest.raises(IndexError, match="Dimension specified as 0 but tensor has no dimensions"):
        tapegrad.roll(tapegrad.tensor(2.0), 1, 0)


def test_diagonal_is_a_view_that_writes_through():
    x = tapegrad.tensor([[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 10.0, 11.0]])
    d = x.diagonal(1)
    assert d._base is x
    d.mul_(0)
    assert x.tolist()[0][1] == x.tolist()[1][2] == x.tolist()[2][3] == 0.0
    assert x.diagonal().tolist() == [0.0, 5.0, 10.0]

"""``index_put``/``index_put_`` (with and without accumulation), the in-place running ops
``cumsum_``/``cumprod_``, and the transpose properties ``T``, ``mT`` and ``H`` with PyTorch's
warnings and errors."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad.autograd import gradcheck


def test_accumulate_adds_repeated_indices() -> None:
    x = tapegrad.zeros(3, 4)
    rows = tapegrad.tensor([0, 2, 0])
    assert x.index_put((rows,), tapegrad.tensor(1.0), accumulate=True)[:, 0].tolist() == [2.0, 0.0, 1.0]
    cols = tapegrad.tensor([1, 1, 1])
    out = x.index_put((rows, cols), tapegrad.tensor([1.0, 2.0, 3.0]), accumulate=True)
    assert out[:, 1].tolist() == [4.0, 0.0, 2.0] and out.sum().item() == 6.0
    assert x.sum().item() == 0.0  # out of place


def test_without_accumulate_the_values_are_written() -> None:
    x = tapegrad.zeros(2, 3)
    out = tapegrad.index_put(x, (tapegrad.tensor([True, False]),), tapegrad.tensor([1.0, 2.0, 3.0]))
    assert out.tolist() == [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]
    x.index_put_((tapegrad.tensor([1]), tapegrad.tensor([2])), tapegrad.tensor(5.0))
    assert x.tolist() == [[0.0, 0.0, 0.0], [0.0, 0.0, 5.0]]
    assert x._version == 1


def test_gradients_against_finite_differences() -> None:
    x = tapegrad.randn(3, 4, dtype=tapegrad.float64, requires_grad=True)
    values = tapegrad.randn(3, 4, dtype=tapegrad.float64, requires_grad=True)
    # Repeated indices only with accumulation: without it, which write wins is unspecified.
    for rows, accumulate in ((tapegrad.tensor([0, 2, 0]), True), (tapegrad.tensor([2, 0, 1]), False)):
        assert gradcheck(lambda a, v: (a * 1).index_put((rows,), v * v, accumulate=accumulate) ** 2, (x, values))


@pytest.mark.parametrize("call, error, message", [
    (lambda x: x.index_put(tapegrad.tensor([0]), tapegrad.tensor(1.0)), TypeError, "must be tuple of Tensors"),
    (lambda x: x.index_put((tapegrad.tensor([0]),), tapegrad.tensor(1.0, dtype=tapegrad.float64)), RuntimeError,
     "Index put requires the source and destination dtypes match, got Float for the destination and Double"),
    (lambda x: x.index_put((tapegrad.tensor([0, 1, 2]),), tapegrad.ones(2), accumulate=True), RuntimeError,
     r"shape mismatch: value tensor of shape \[2\] cannot be broadcast to indexing result of shape \[3, 4\]"),
    (lambda x: x.index_put((tapegrad.tensor([5]),), tapegrad.tensor(1.0), accumulate=True), IndexError,
     "index 5 is out of bounds for dimension 0 with size 3"),
    (lambda x: x.index_put((tapegrad.tensor([0.5]),), tapegrad.tensor(1.0)), IndexError,
     "tensors used as indices must be long, int, byte or bool tensors"),
    (lambda x: x.index_put((tapegrad.tensor([0]),), 1.0), TypeError, "argument 'values' .* must be Tensor"),
    (lambda x: x.index_put((None,), tapegrad.tensor(1.0)), TypeError, "expected Tensor as element 0"),
])
def test_bad_arguments_are_refused(call: Any, error: type, message: str) -> None:
    x = tapegrad.zeros(3, 4)
    with pytest.raises(error, match=message):
        call(x)
    assert x.sum().item() == 0.0


@pytest.mark.torch
@pytest.mark.parametrize("accumulate", [True, False])
def test_index_put_matches_torch(accumulate: bool) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, v = rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
    rows = np.array([3, 0, 3] if accumulate else [3, 0, 1])  # no repeats without accumulation
    results = []
    for lib in (tapegrad, torch):
        a = lib.tensor(x, requires_grad=True)
        b = lib.tensor(v, requires_grad=True)
        out = (a * 2).index_put((lib.tensor(rows),), b.exp(), accumulate=accumulate)
        (out * out).sum().backward()
        results.append([out.detach().numpy(), a.grad.numpy(), b.grad.numpy()])
        for inplace in (False, True):
            base = a * 2
            written = base.index_put_ if inplace else base.index_put
            assert written((lib.tensor(rows),), b, accumulate=accumulate).grad_fn.name() == \
                "IndexPutBackward0"
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("name", ["cumsum_", "cumprod_"])
def test_in_place_running_ops(name: str) -> None:
    x = tapegrad.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=tapegrad.float64, requires_grad=True)
    expected = getattr(x, name[:-1])(1)
    y = x * 1
    assert getattr(y, name)(1) is y
    np.testing.assert_allclose(y.detach().numpy(), expected.detach().numpy())
    assert gradcheck(lambda a: getattr(a * 1, name)(0), (x,))
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        getattr(x, name)(0)


@pytest.mark.torch
def test_in_place_running_ops_match_torch_grad_fns() -> None:
    torch = pytest.importorskip("torch")
    for name, grad_fn in (("cumsum_", "CumsumBackward0"), ("cumprod_", "CumprodBackward0")):
        ours = getattr(tapegrad.ones(3, requires_grad=True) * 2, name)(0)
        theirs = getattr(torch.ones(3, requires_grad=True) * 2, name)(0)
        assert type(theirs.grad_fn).__name__ == grad_fn == ours.grad_fn.name()
        assert ours.tolist() == theirs.tolist()


# ---------------------------------------------------------------- T, mT, H

def test_matrix_transposes() -> None:
    x = tapegrad.arange(6).reshape(2, 3)
    for name in ("T", "mT", "H"):
        assert getattr(x, name).tolist() == [[0, 3], [1, 4], [2, 5]]
    assert tapegrad.zeros(4, 2, 3).mT.shape == (4, 3, 2)


@pytest.mark.parametrize("shape, name, message", [
    ((3,), "mT", "tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor."),
    ((3,), "mH", "tensor.mH is only supported on matrices or batches of matrices. Got 1-D tensor."),
    ((3,), "H", r"tensor.H is only supported on matrices \(2-D tensors\). Got 1-D tensor."),
    ((2, 3, 4), "H", "Got 3-D tensor. For batches of matrices, consider using tensor.mH"),
])
def test_transposes_of_the_wrong_rank_raise(shape: tuple[int, ...], name: str, message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        getattr(tapegrad.zeros(*shape), name)


def test_T_off_matrices_warns_as_deprecated() -> None:
    with pytest.warns(UserWarning, match="The use of `x.T` on tensors of dimension other than 2"):
        assert tapegrad.zeros(2, 3, 4).T.shape == (4, 3, 2)
    with pytest.warns(UserWarning, match="Tensor.T is deprecated on 0-D tensors"):
        tapegrad.tensor(1.0).T
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tapegrad.zeros(2, 3).T  # a matrix: no warning

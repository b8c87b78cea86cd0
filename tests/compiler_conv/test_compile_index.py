"""``tapegrad.compile`` of steps that index: ``embedding`` (with ``padding_idx`` and
``scale_grad_by_freq``), ``gather``, ``x[index]`` and ``index_select`` along one dim, with their
scatter-add gradients, and the gradients of views made by basic indexing. Each replay reads
that call's indices, checks their range as the eager op does, and gives the eager step's
losses, gradients and parameters."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from test_compile_conv import _rules_used

STEPS = 5


def _train_side_by_side(make: Callable[[], tuple[list[tapegrad.Tensor], Callable[..., tapegrad.Tensor]]],
                        batches: list[tuple[Any, ...]], rtol: float = 1e-5) -> Any:
    """Run an eager and a compiled copy of the step made by ``make()`` (which returns the
    parameters and the step) on ``batches``; assert losses, gradients and parameters agree
    after every step. Returns the compiled step."""
    tapegrad.manual_seed(0)
    eager_params, eager = make()
    tapegrad.manual_seed(0)
    compiled_params, step = make()
    compiled = tapegrad.compile(step)
    for i, batch in enumerate(batches):
        want, got = eager(*batch), compiled(*batch)
        np.testing.assert_allclose(got.item(), want.item(), rtol=rtol, err_msg=f"loss, step {i}")
        for p, q in zip(eager_params, compiled_params):
            np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=rtol, atol=1e-6, err_msg=f"grad, step {i}")
            np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), rtol=rtol, atol=1e-6,
                                       err_msg=f"parameter, step {i}")
    assert compiled.traces == 1
    return compiled


def _embedding_model(dtype: Any = np.float32, **options: Any) -> Callable[[], tuple[list, Callable[..., Any]]]:
    def make() -> tuple[list, Callable[..., Any]]:
        model = nn.Sequential(nn.Embedding(9, 4, **options), nn.Linear(4, 3))
        if np.dtype(dtype) == np.float64:
            model = model.double()
        opt = tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(ids: tapegrad.Tensor, labels: tapegrad.Tensor) -> tapegrad.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(model(ids).mean(1), labels)  # a (batch, tokens, 3) product, averaged
            loss.backward()
            opt.step()
            return loss

        return list(model.parameters()), step

    return make


def _token_batches(index_dtype: Any = np.int64, rows: int = 9, seed: int = 1) -> list[tuple[tapegrad.Tensor, ...]]:
    rng = np.random.default_rng(seed)
    # Repeated tokens in every batch: their gradients accumulate (and count, by frequency).
    return [(tapegrad.tensor(rng.integers(0, rows, (4, 5)).astype(index_dtype)), tapegrad.tensor(rng.integers(0, 3, 4)))
            for _ in range(STEPS)]


EMBEDDINGS = {
    "plain": ({}, np.int64, np.float32, set()),
    "padding_idx": (dict(padding_idx=2), np.int64, np.float32, {"embedding_row_factors"}),
    "by_frequency+padding": (dict(scale_grad_by_freq=True, padding_idx=-1), np.int64, np.float64,
                             {"embedding_row_factors"}),
    "int32_indices": ({}, np.int32, np.float32, set()),
}


@pytest.mark.parametrize("name", sorted(EMBEDDINGS))
def test_embedding_training_matches_eager(name: str) -> None:
    options, index_dtype, dtype, extra_rules = EMBEDDINGS[name]
    compiled = _train_side_by_side(_embedding_model(dtype, **options), _token_batches(index_dtype),
                                   rtol=1e-5 if dtype == np.float32 else 1e-12)
    rules = _rules_used(compiled)
    assert {"embedding", "embedding_backward", "mm"} | extra_rules <= rules
    if not extra_rules:
        assert "embedding_row_factors" not in rules


def test_an_index_out_of_range_raises_as_in_eager_mode_and_changes_nothing() -> None:
    tapegrad.manual_seed(0)
    params, step = _embedding_model()()
    compiled = tapegrad.compile(step)
    for batch in _token_batches()[:3]:
        compiled(*batch)
    assert compiled.traces == 1
    before = [p.detach().numpy().copy() for p in params]
    bad = tapegrad.tensor(np.array([[0, 1, 2, 3, 4]] * 3 + [[5, 6, 11, 7, 8]]))
    labels = tapegrad.tensor([0, 1, 2, 0])
    with pytest.raises(IndexError) as eager_error:
        step(bad, labels)
    with pytest.raises(IndexError) as compiled_error:
        compiled(bad, labels)
    assert str(compiled_error.value) == str(eager_error.value) == \
        "index out of range in self: got index 11, but the weight has 9 rows"
    for p, was in zip(params, before):
        np.testing.assert_array_equal(p.detach().numpy(), was)
    assert compiled.traces == 1  # the next batch replays again
    compiled(*_token_batches(seed=5)[0])


def _gather_step(axis: int, shape: tuple[int, ...], dtype: Any) -> Callable[[], tuple[list, Callable[..., Any]]]:
    def make() -> tuple[list, Callable[..., Any]]:
        weight = tapegrad.tensor(np.random.default_rng(3).standard_normal(shape).astype(dtype), requires_grad=True)

        def step(index: tapegrad.Tensor) -> tapegrad.Tensor:
            weight.grad = None
            picked = tapegrad.gather(weight.tanh() * 2.0, axis, index)
            loss = (picked * picked).sum()
            loss.backward()
            with tapegrad.no_grad():
                weight.sub_(0.1 * weight.grad)
            return loss

        return [weight], step

    return make


GATHERS = {
    # name: (dim, input shape, index shape): indices may be smaller than the input off the axis.
    "dim0": (0, (4, 3), (6, 3)),
    "dim1-of-3d": (1, (2, 5, 3), (2, 4, 2)),
    "last-dim-negative": (-1, (3, 4), (2, 7)),
    "1d": (0, (5,), (8,)),
}


@pytest.mark.parametrize("name", sorted(GATHERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gather_and_its_scatter_add_gradient_match_eager(name: str, dtype: Any) -> None:
    dim, shape, index_shape = GATHERS[name]
    size = shape[dim]
    rng = np.random.default_rng(4)
    batches = [(tapegrad.tensor(rng.integers(0, size, index_shape)),) for _ in range(STEPS)]
    compiled = _train_side_by_side(_gather_step(dim, shape, dtype), batches,
                                   rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert {"gather", "scatter_add"} <= _rules_used(compiled)


@pytest.mark.parametrize("entries, bad", [([0, 9, -1, 7], 9), ([0, -3, 1, 2], -3)], ids=["too-large", "negative"])
def test_gather_index_out_of_range_raises_as_in_eager_mode(entries: list[int], bad: int) -> None:
    # The eager op names the largest entry when one is too large, else the smallest.
    make = _gather_step(1, (2, 4), np.float32)
    params, step = make()
    compiled = tapegrad.compile(step)
    good = tapegrad.tensor([[0, 1, 2, 3], [3, 3, 0, 1]])
    for _ in range(3):
        compiled(good)
    index = tapegrad.tensor([entries, [0, 0, 0, 0]])
    with pytest.raises(RuntimeError) as eager_error:
        step(index)
    before = params[0].detach().numpy().copy()
    with pytest.raises(RuntimeError) as compiled_error:
        compiled(index)
    assert str(compiled_error.value) == str(eager_error.value) == \
        f"index {bad} is out of bounds for dimension 1 with size 4"
    np.testing.assert_array_equal(params[0].detach().numpy(), before)


def test_double_backward_through_gather_and_embedding() -> None:
    # A gradient penalty: the first gradients are recorded scatter-adds, whose backward
    # gathers (gather's) and looks rows up again with the padding factors (embedding's).
    def make() -> tuple[list, Callable[..., Any]]:
        table = nn.Embedding(6, 3, padding_idx=0)
        weight = tapegrad.tensor(np.linspace(-1, 1, 12).reshape(4, 3).astype(np.float32), requires_grad=True)
        params = [table.weight, weight]

        def step(ids: tapegrad.Tensor, index: tapegrad.Tensor) -> tapegrad.Tensor:
            for p in params:
                p.grad = None
            out = (table(ids).sin().sum() + (tapegrad.gather(weight, 0, index) ** 3).sum())
            grads = tapegrad.autograd.grad(out, params, create_graph=True)
            loss = out + sum((g * g).sum() for g in grads)
            loss.backward()
            return loss

        return params, step

    rng = np.random.default_rng(6)
    batches = [(tapegrad.tensor(rng.integers(0, 6, (3, 2))), tapegrad.tensor(rng.integers(0, 4, (5, 3))))
               for _ in range(STEPS)]
    compiled = _train_side_by_side(make, batches)
    expected = {"gather", "scatter_add", "embedding", "embedding_backward", "embedding_row_factors"}
    assert expected <= _rules_used(compiled)


def test_cross_entropy_over_spatial_dims_is_recorded() -> None:
    # Per-pixel class targets: the loss gathers the targets' log-probabilities along dim 1.
    def make() -> tuple[list, Callable[..., Any]]:
        conv = nn.Conv2d(2, 3, 1)
        opt = tapegrad.optim.SGD(conv.parameters(), lr=0.1)

        def step(x: tapegrad.Tensor, target: tapegrad.Tensor) -> tapegrad.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(conv(x), target)
            loss.backward()
            opt.step()
            return loss

        return list(conv.parameters()), step

    rng = np.random.default_rng(7)
    batches = [(tapegrad.tensor(rng.standard_normal((2, 2, 3, 4)).astype(np.float32)),
                tapegrad.tensor(rng.integers(0, 3, (2, 3, 4)))) for _ in range(STEPS)]
    compiled = _train_side_by_side(make, batches)
    assert {"gather", "scatter_add", "nll_targets", "conv2d"} <= _rules_used(compiled)


def _take_step(dtype: Any) -> Callable[[], tuple[list, Callable[..., Any]]]:
    def make() -> tuple[list, Callable[..., Any]]:
        weight = tapegrad.tensor(np.random.default_rng(8).standard_normal((5, 4, 3)).astype(dtype), requires_grad=True)

        def step(rows: tapegrad.Tensor, columns: tapegrad.Tensor, last: tapegrad.Tensor) -> tapegrad.Tensor:
            weight.grad = None
            loss = (((weight * 2.0)[rows] ** 2).sum()                        # dim 0, a 2-d index
                    + (tapegrad.index_select(weight.tanh(), 1, columns) * 3.0).sum()
                    + weight[:, :, last].sin().sum()                         # dim 2
                    + weight[..., 0][rows[0]].sum())                         # Ellipsis, then a view
            loss.backward()
            with tapegrad.no_grad():
                weight.sub_(0.05 * weight.grad)
            return loss

        return [weight], step

    return make


@pytest.mark.parametrize("dtype", [np.float64])
def test_indexing_one_dim_with_a_tensor_matches_eager(dtype: Any) -> None:
    # Negative entries count from the end; repeated ones accumulate in the gradient; int32
    # indices are read as they are.
    rng = np.random.default_rng(9)
    batches = [(tapegrad.tensor(rng.integers(-5, 5, (2, 3))), tapegrad.tensor(rng.integers(0, 4, 6)),
                tapegrad.tensor(rng.integers(-3, 3, 2).astype(np.int32))) for _ in range(STEPS)]
    compiled = _train_side_by_side(_take_step(dtype), batches, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert {"index", "index_backward", "index_view_backward"} <= _rules_used(compiled)


def test_gradients_of_views_made_by_basic_indexing_match_eager() -> None:
    # Ints, slices with steps, None and Ellipsis: each view's gradient is zeros with the
    # incoming gradient written where the view lies.
    def make() -> tuple[list, Callable[..., Any]]:
        weight = tapegrad.tensor(np.random.default_rng(11).standard_normal((4, 5, 3)).astype(np.float32),
                                 requires_grad=True)

        def step(x: tapegrad.Tensor) -> tapegrad.Tensor:
            weight.grad = None
            y = weight * x
            loss = ((y[:, 0] ** 2).sum() + y[1:3, ::2].sin().sum() + (y[None, 2, ..., 1] * 3.0).sum()
                    + y[-1, -2, 0] * 5.0)
            loss.backward()
            with tapegrad.no_grad():
                weight.sub_(0.05 * weight.grad)
            return loss

        return [weight], step

    rng = np.random.default_rng(12)
    batches = [(tapegrad.tensor(rng.standard_normal((4, 5, 3)).astype(np.float32)),) for _ in range(STEPS)]
    compiled = _train_side_by_side(make, batches)
    assert "index_view_backward" in _rules_used(compiled)


def test_an_index_out_of_range_raises_index_error_as_in_eager_mode() -> None:
    params, step = _take_step(np.float32)()
    compiled = tapegrad.compile(step)
    columns, last = tapegrad.tensor([0, 1]), tapegrad.tensor([2])
    for _ in range(3):
        compiled(tapegrad.tensor([[0, 1, 2], [3, 4, -5]]), columns, last)
    assert compiled.traces == 1
    before = params[0].detach().numpy().copy()
    for rows, bad in (([[0, 1, 2], [7, -9, 1]], 7), ([[0, -6, 2], [9, 1, 1]], -6)):  # the first in C order
        with pytest.raises(IndexError) as eager_error:
            step(tapegrad.tensor(rows), columns, last)
        with pytest.raises(IndexError) as compiled_error:
            compiled(tapegrad.tensor(rows), columns, last)
        assert str(compiled_error.value) == str(eager_error.value) == \
            f"index {bad} is out of bounds for dimension 0 with size 5"
    np.testing.assert_array_equal(params[0].detach().numpy(), before)


def test_double_backward_through_indexing() -> None:
    def make() -> tuple[list, Callable[..., Any]]:
        weight = tapegrad.tensor(np.linspace(-1, 1, 12).reshape(4, 3).astype(np.float64), requires_grad=True)

        def step(index: tapegrad.Tensor) -> tapegrad.Tensor:
            weight.grad = None
            out = (weight[index] ** 3).sum()
            (grad,) = tapegrad.autograd.grad(out, weight, create_graph=True)
            loss = out + (grad * grad).sum()
            loss.backward()
            return loss

        return [weight], step

    rng = np.random.default_rng(10)
    compiled = _train_side_by_side(make, [(tapegrad.tensor(rng.integers(-4, 4, 5)),) for _ in range(STEPS)],
                                   rtol=1e-12)
    assert {"index", "index_backward"} <= _rules_used(compiled)

"""``scatter``, ``scatter_add``, ``scatter_reduce``, ``index_add``, ``index_copy``, ``index_fill``,
``index_reduce``, ``masked_select``, ``masked_scatter``, ``take``, ``take_along_dim``, ``put``,
``repeat_interleave``, ``argwhere`` and ``count_nonzero`` against PyTorch: values, dtypes,
shapes, gradient values and grad_fn names (float64, and integer and bool dtypes where they
apply), finite differences (``gradcheck``, ``gradgradcheck``), the in-place forms, and PyTorch's
exception types and messages for bad input."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
from tapegrad.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nn"))
from torch_errors import raises_as_torch  # noqa: E402

# PyTorch warns that index_reduce is in beta and that scatter's reduce argument is deprecated.
pytestmark = [pytest.mark.filterwarnings("ignore:index_reduce:UserWarning"),
              pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter:UserWarning")]

RNG = np.random.default_rng(7)


def real(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def ints(*values: Any) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def ties(*shape: int) -> np.ndarray:
    """Small whole numbers as float64: ties for amax/amin, zeros for prod."""
    return RNG.integers(-1, 3, shape).astype(np.float64)


def _dtype_name(dtype: Any) -> str:
    return str(dtype).split(".")[-1]


def _run(lib: Any, fn: Callable[..., Any], arrays: list[np.ndarray], grad: bool) -> tuple:
    inputs = [lib.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    out = fn(lib, *inputs)
    outs = out if isinstance(out, tuple) else (out,)
    first = outs[0]
    name = first.grad_fn.name() if first.grad_fn is not None else None
    grads: list[Any] = []
    if grad and first.requires_grad:
        weight = np.random.default_rng(1).standard_normal(tuple(first.shape))
        first.backward(lib.tensor(weight, dtype=first.dtype))
        grads = [None if x.grad is None else x.grad.numpy() for x in inputs if x.requires_grad]
    values = [np.array(o.detach().numpy()) for o in outs]
    return values, [_dtype_name(o.dtype) for o in outs], name, grads


def compare(fn: Callable[..., Any], arrays: list[np.ndarray], grad: bool = True) -> None:
    """``fn(lib, *tensors)`` in PyTorch and tapegrad: the same outputs (values, dtypes, shapes),
    the same grad_fn name, and the same gradient for every float input."""
    want, want_types, want_name, want_grads = _run(torch, fn, arrays, grad)
    got, got_types, got_name, got_grads = _run(tapegrad, fn, arrays, grad)
    assert got_types == want_types
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert got_name == want_name
    assert len(got_grads) == len(want_grads)
    for g, w in zip(got_grads, want_grads):
        assert (g is None) == (w is None)
        if w is not None:
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ differentiable cases (random values: no ties)

I_DIM0 = ints([0, 1, 2, 0], [0, 2, 2, 1])  # repeats in columns 0, 2
I_DIM1 = ints([3, 0], [1, 1], [0, 2])
CASES: dict[str, tuple[Callable[..., Any], list[np.ndarray]]] = {
    "scatter_dim0": (lambda L, x, s, i: x.scatter(0, i, s), [real(3, 4), real(2, 4), I_DIM0]),
    "scatter_negative_dim": (lambda L, x, s, i: L.scatter(x, -1, i, s), [real(3, 4), real(3, 2), I_DIM1]),
    "scatter_3d": (lambda L, x, s, i: x.scatter(1, i, s),
                   [real(2, 3, 4), real(2, 2, 3), RNG.integers(0, 3, (2, 2, 3))]),
    "scatter_0d": (lambda L, x, s, i: x.scatter(0, i, s), [real(), real(), ints(0).reshape(())]),
    "scatter_distinct": (lambda L, x, s, i: x.scatter(0, i, s),
                         [real(4, 3), real(3, 3), np.argsort(real(4, 3), 0)[:3]]),
    "scatter_empty_index": (lambda L, x, s, i: x.scatter(0, i, s),
                            [real(3, 4), real(0, 4), np.zeros((0, 4), np.int64)]),
    "scatter_value": (lambda L, x, i: x.scatter(1, i, value=-2.5), [real(3, 4), I_DIM1]),
    "scatter_value_positional": (lambda L, x, i: x.scatter(0, i, 1.5), [real(3, 4), I_DIM0]),
    "scatter_add_dim0": (lambda L, x, s, i: x.scatter_add(0, i, s), [real(3, 4), real(2, 4), I_DIM0]),
    "scatter_add_negative_dim": (lambda L, x, s, i: L.scatter_add(x, -1, i, s), [real(3, 4), real(3, 2), I_DIM1]),
    "scatter_add_3d": (lambda L, x, s, i: x.scatter_add(2, i, s),
                       [real(2, 3, 4), real(2, 2, 5), RNG.integers(0, 4, (2, 2, 5))]),
    "scatter_add_transposed": (lambda L, x, s, i: x.t().scatter_add(0, i, s.t()),
                               [real(4, 3), real(4, 2), ints([2, 0, 0, 1], [1, 1, 2, 2])]),
    "scatter_add_0d": (lambda L, x, s, i: x.scatter_add(0, i, s), [real(), real(), ints(0).reshape(())]),
    **{f"scatter_reduce_{r}_{'self' if inc else 'noself'}": (
        (lambda r, inc: lambda L, x, s, i: x.scatter_reduce(0, i, s, r, include_self=inc))(r, inc),
        [real(3, 4), real(2, 4), I_DIM0])
       for r in ("sum", "prod", "mean", "amax", "amin") for inc in (True, False)},
    "scatter_reduce_3d_dim2": (lambda L, x, s, i: x.scatter_reduce(-1, i, s, "amin", include_self=False),
                               [real(2, 2, 4), real(2, 2, 5), RNG.integers(0, 4, (2, 2, 5))]),
    "index_add_dim0": (lambda L, x, s, i: x.index_add(0, i, s), [real(3, 4), real(3, 4), ints(2, 0, 2)]),
    "index_add_alpha_dim1": (lambda L, x, s, i: L.index_add(x, -1, i, s, alpha=-1.5),
                             [real(3, 4), real(3, 2), ints(3, 3)]),
    "index_add_0d": (lambda L, x, s, i: x.index_add(0, i, s), [real(), real(), ints(0)]),
    "index_add_empty_index": (lambda L, x, s, i: x.index_add(1, i, s), [real(3, 4), real(3, 0), ints()]),
    "index_copy_dim0": (lambda L, x, s, i: x.index_copy(0, i, s), [real(3, 4), real(2, 4), ints(2, 0)]),
    "index_copy_dim1": (lambda L, x, s, i: L.index_copy(x, -1, i, s), [real(2, 3, 4), real(2, 3, 3), ints(3, 1, 0)]),
    "index_copy_scalar_source": (lambda L, x, s, i: x.index_copy(0, i, s), [real(3), real(), ints(1).reshape(())]),
    "index_fill_scalar": (lambda L, x, i: x.index_fill(1, i, -1.25), [real(3, 4), ints(3, -1, 3)]),
    "index_fill_tensor": (lambda L, x, i, v: x.index_fill(0, i, v), [real(3, 4), ints(2, 0, 2), real()]),
    "index_fill_0d_index": (lambda L, x, i: L.index_fill(x, -1, i, 2.0), [real(2, 3), ints(1).reshape(())]),
    **{f"index_reduce_{r}_{'self' if inc else 'noself'}": (
        (lambda r, inc: lambda L, x, s, i: x.index_reduce(0, i, s, r, include_self=inc))(r, inc),
        [real(3, 4), real(4, 4), ints(2, 0, 2, 2)])
       for r in ("prod", "mean", "amax", "amin") for inc in (True, False)},
    "masked_select": (lambda L, x, m: x.masked_select(m), [real(3, 4), real(3, 4) > 0]),
    "masked_select_broadcast_mask": (lambda L, x, m: L.masked_select(x, m),
                                     [real(3, 4), np.array([True, False, True, True])]),
    "masked_select_broadcast_input": (lambda L, x, m: x.masked_select(m), [real(1, 4), real(3, 4) > 0]),
    "masked_select_none": (lambda L, x, m: x.masked_select(m), [real(2, 3), np.zeros((2, 3), bool)]),
    "masked_select_0d": (lambda L, x, m: x.masked_select(m), [real(), np.array(True)]),
    "masked_scatter": (lambda L, x, m, s: x.masked_scatter(m, s), [real(3, 4), real(3, 4) > 0, real(3, 5)]),
    "masked_scatter_broadcast_mask": (lambda L, x, m, s: L.masked_scatter(x, m, s),
                                      [real(3, 4), np.array([False, True, True, False]), real(6)]),
    "masked_scatter_broadcast_input": (lambda L, x, m, s: x.masked_scatter(m, s),
                                       [real(1, 4), real(3, 4) > 0, real(12)]),
    "take": (lambda L, x, i: x.take(i), [real(3, 4), ints([0, -1, 5], [5, 11, -12])]),
    "take_0d_index": (lambda L, x, i: L.take(x, i), [real(2, 3), ints(4).reshape(())]),
    "take_along_dim1": (lambda L, x, i: x.take_along_dim(i, 1), [real(3, 4), ints([0, 3], [1, 1], [2, 0])]),
    "take_along_dim_broadcast": (lambda L, x, i: L.take_along_dim(x, i, dim=0), [real(3, 4), ints([2], [0])]),
    "take_along_dim_broadcast_input": (lambda L, x, i: x.take_along_dim(i, -1),
                                       [real(1, 4), ints([3, 0], [1, 1], [2, 2])]),
    "take_along_dim_negative": (lambda L, x, i: x.take_along_dim(i, 1), [real(3, 4), ints([-1], [-4], [2])]),
    "take_along_dim_flat": (lambda L, x, i: L.take_along_dim(x, i), [real(3, 4), ints(11, 0, 5, 5)]),
    "put": (lambda L, x, i, s: x.put(i, s), [real(3, 4), ints(0, -1, 5), real(3)]),
    "put_repeats": (lambda L, x, i, s: L.put(x, i, s), [real(3, 4), ints([1, 7], [1, 7]), real(4)]),
    "put_accumulate": (lambda L, x, i, s: x.put(i, s, accumulate=True),
                       [real(3, 4), ints([1, 1], [-1, 0]), real(2, 2)]),
    "repeat_interleave_flat": (lambda L, x: x.repeat_interleave(2), [real(2, 3)]),
    "repeat_interleave_dim": (lambda L, x: L.repeat_interleave(x, 3, dim=-1), [real(2, 3)]),
    "repeat_interleave_zero": (lambda L, x: x.repeat_interleave(0, dim=0), [real(2, 3)]),
    "repeat_interleave_output_size": (lambda L, x: x.repeat_interleave(2, dim=0, output_size=4), [real(2, 3)]),
    "repeat_interleave_tensor": (lambda L, x, r: x.repeat_interleave(r, dim=0), [real(3, 2), ints(2, 0, 1)]),
    "repeat_interleave_tensor_one": (lambda L, x, r: x.repeat_interleave(r, dim=1), [real(2, 3), ints(2)]),
    "repeat_interleave_tensor_flat": (lambda L, x, r: L.repeat_interleave(x, r, output_size=3),
                                      [real(2, 2), ints(1, 0, 2, 0)]),
    "repeat_interleave_0d": (lambda L, x: x.repeat_interleave(3), [real()]),
    "repeat_interleave_3d": (lambda L, x, r: x.repeat_interleave(r, dim=1), [real(2, 3, 2), ints(1, 3, 0)]),
    # strided (transposed) inputs and indices
    "take_transposed": (lambda L, x, i: x.t().take(i), [real(3, 4), ints(0, 5, 11, -2)]),
    "put_transposed": (lambda L, x, i, s: x.t().put(i, s), [real(3, 4), ints(0, 5, -2), real(3)]),
    "index_copy_transposed": (lambda L, x, s, i: x.t().index_copy(0, i, s.t()), [real(3, 4), real(3, 2), ints(3, 1)]),
    "scatter_reduce_transposed_index": (lambda L, x, s, i: x.scatter_reduce(1, i.t(), s, "mean"),
                                        [real(3, 4), real(3, 2), ints([1, 0, 3], [1, 2, 2])]),
    "take_along_dim_3d": (lambda L, x, i: x.take_along_dim(i, 1), [real(2, 3, 4), RNG.integers(-3, 3, (2, 5, 1))]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(name: str) -> None:
    fn, arrays = CASES[name]
    compare(fn, arrays)


# Overwrites through a repeated index: PyTorch's gradient gives src the gathered gradient at
# every repeat, while only the last write changes the output, so finite differences disagree.
REPEATED_WRITES = {"scatter_dim0", "scatter_negative_dim", "scatter_3d", "put_repeats"}
SMOOTH = [name for name in CASES if "empty" not in name and name not in REPEATED_WRITES]


@pytest.mark.parametrize("name", SMOOTH)
def test_gradcheck(name: str) -> None:
    fn, arrays = CASES[name]
    inputs = [tapegrad.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    assert gradcheck(lambda *xs: fn(tapegrad, *xs), tuple(inputs))


SECOND_ORDER = ["scatter_distinct", "scatter_value", "scatter_add_3d", "scatter_reduce_prod_self",
                "scatter_reduce_amax_noself", "scatter_reduce_mean_self", "index_add_alpha_dim1", "index_copy_dim0",
                "index_fill_tensor", "index_reduce_prod_noself", "masked_select_broadcast_mask",
                "masked_scatter_broadcast_input", "take", "take_along_dim_broadcast", "put", "put_accumulate",
                "repeat_interleave_dim", "repeat_interleave_tensor"]


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_gradgradcheck(name: str) -> None:
    fn, arrays = CASES[name]
    inputs = [tapegrad.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    assert gradgradcheck(lambda *xs: fn(tapegrad, *xs), tuple(inputs))


# ------------------------------------------------------------------ ties, zeros, larger sources

TIES = {
    **{f"scatter_reduce_{r}_{inc}": ((lambda r, inc: lambda L, x, s, i: x.scatter_reduce(0, i, s, r, include_self=inc))(
        r, inc), [ties(3, 5), ties(4, 5), RNG.integers(0, 3, (4, 5))])
       for r in ("prod", "amax", "amin", "mean") for inc in (True, False)},
    **{f"index_reduce_{r}_{inc}": ((lambda r, inc: lambda L, x, s, i: x.index_reduce(1, i, s, r, include_self=inc))(
        r, inc), [ties(3, 3), ties(3, 6), ints(0, 2, 0, 0, 2, 2)])
       for r in ("prod", "amax", "amin") for inc in (True, False)},
}


@pytest.mark.parametrize("name", list(TIES))
def test_ties_and_zeros_match_torch(name: str) -> None:
    # Ties share the gradient evenly; zeros in a product take PyTorch's exclusive products.
    fn, arrays = TIES[name]
    compare(fn, arrays)


@pytest.mark.parametrize("op", ["scatter", "scatter_add", "scatter_reduce"])
def test_a_src_larger_than_the_index_reads_and_pads_by_coordinates(op: str) -> None:
    # PyTorch reads src[i][j] at each index position; its autograd then refuses the larger src.
    # tapegrad gives src the gathered gradient, with zeros where the index never reads.
    x, s, i = real(3, 4), real(3, 5), I_DIM0
    extra = ("amax",) if op == "scatter_reduce" else ()
    compare(lambda L, x, s, i: getattr(x, op)(0, i, s, *extra), [x, s, i], grad=False)
    src = tapegrad.tensor(s, requires_grad=True)
    out = getattr(tapegrad.tensor(x), op)(0, tapegrad.tensor(i), src, *extra)
    weight = real(3, 4)
    out.backward(tapegrad.tensor(weight))
    expected = torch.zeros(3, 5, dtype=torch.float64)
    t_src = torch.tensor(s[:2, :4], requires_grad=True)
    torch_out = getattr(torch.tensor(x), op)(0, torch.tensor(i), t_src, *extra)
    torch_out.backward(torch.tensor(weight))
    expected[:2, :4] = t_src.grad
    np.testing.assert_allclose(src.grad.numpy(), expected.numpy(), rtol=1e-12)


def test_prod_double_backward_with_two_zeros_raises_as_torch() -> None:
    def call(lib: Any) -> None:
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        src = lib.tensor([0.0, 0.0, 3.0], dtype=lib.float64, requires_grad=True)
        out = x.scatter_reduce(0, lib.tensor([0, 0, 1]), src, "prod")
        (grad_src,) = lib.autograd.grad(out.sum(), [src], create_graph=True)
        grad_src.sum().backward()

    raises_as_torch(call)


def test_prod_with_one_zero_has_second_derivatives() -> None:
    x = tapegrad.tensor([1.5, 2.0], dtype=tapegrad.float64, requires_grad=True)
    src = tapegrad.tensor([0.0, 2.5, 3.0], dtype=tapegrad.float64, requires_grad=True)
    assert gradgradcheck(lambda x, s: x.scatter_reduce(0, tapegrad.tensor([0, 0, 1]), s, "prod"), (x, src))


# ------------------------------------------------------------------ integer and bool dtypes

INTEGER = {
    "scatter_int64": (lambda L, x, s, i: x.scatter(0, i, s),
                      [ints([1, 2, 3], [4, 5, 6]), ints([7, 8, 9]), ints([1, 0, 1])]),
    "scatter_int32_value": (lambda L, x, i: x.to(L.int32).scatter(1, i, 7.9), [ints([1, 2, 3]), ints([2, 2])]),
    "scatter_int32_index": (lambda L, x, s, i: x.scatter(0, i.to(L.int32), s), [real(3, 4), real(2, 4), I_DIM0]),
    "scatter_bool": (lambda L, x, i: x.scatter(0, i, True), [np.zeros((3, 4), bool), I_DIM0]),
    "scatter_legacy_add": (lambda L, x, s, i: x.scatter(0, i, s, reduce="add"),
                           [ints(1, 2, 3), ints(4, 5, 6), ints(0, 0, 2)]),
    "scatter_legacy_multiply_value": (lambda L, x, i: x.scatter(0, i, 3, reduce="multiply"),
                                      [ints(1, 2, 3), ints(0, 0, 2)]),
    "scatter_add_int32": (lambda L, x, s, i: x.to(L.int32).scatter_add(0, i, s.to(L.int32)),
                          [ints([1, 2], [3, 4]), ints([5, 6], [7, 8]), ints([1, 1], [1, 0])]),
    "scatter_add_bool": (lambda L, x, s, i: x.scatter_add(0, i, s),
                         [np.array([True, False, False]), np.array([False, True, False]), ints(0, 1, 1)]),
    **{f"scatter_reduce_int64_{r}_{inc}": (
        (lambda r, inc: lambda L, x, s, i: x.scatter_reduce(0, i, s, r, include_self=inc))(r, inc),
        [ints(-3, 2, 7), ints(4, -4, 5, -9), ints(0, 0, 1, 0)])
       for r in ("sum", "prod", "mean", "amax", "amin") for inc in (True, False)},
    "scatter_reduce_bool_amin": (lambda L, x, s, i: x.scatter_reduce(0, i, s, "amin"),
                                 [np.array([True, True]), np.array([False, True]), ints(0, 1)]),
    "index_add_int_alpha": (lambda L, x, s, i: x.index_add(0, i, s, alpha=2.5),
                            [ints([1, 2], [3, 4]), ints([5, 6], [7, 8]), ints(1, 1)]),
    "index_copy_int32": (lambda L, x, s, i: x.to(L.int32).index_copy(0, i, s.to(L.int32)),
                         [ints(1, 2, 3), ints(9, 8), ints(2, 0)]),
    "index_fill_int_float_value": (lambda L, x, i: x.index_fill(0, i, 2.7), [ints(1, 2, 3), ints(0, -1)]),
    "index_reduce_int_mean": (lambda L, x, s, i: x.index_reduce(0, i, s, "mean"),
                              [ints(1, 2, 3), ints(-4, -4, -4), ints(0, 0, 1)]),
    "masked_select_int": (lambda L, x, m: x.masked_select(m),
                          [ints([1, 2], [3, 4]), np.array([[True, False], [True, True]])]),
    "masked_scatter_int": (lambda L, x, m, s: x.masked_scatter(m, s),
                           [ints(1, 2, 3), np.array([True, False, True]), ints(7, 8)]),
    "take_bool": (lambda L, x, i: x.take(i), [np.array([[True, False], [False, True]]), ints(3, 3, 1)]),
    "put_int_accumulate": (lambda L, x, i, s: x.put(i, s, accumulate=True),
                           [ints(1, 2, 3), ints(1, 1, -1), ints(5, 6, 7)]),
    "put_bool_accumulate": (lambda L, x, i, s: x.put(i, s, accumulate=True),
                            [np.array([False, False, True]), ints(0, 0), np.array([True, False])]),
    "take_along_dim_int32": (lambda L, x, i: x.to(L.int32).take_along_dim(i, 0), [ints([1, 2], [3, 4]), ints([1, 0])]),
    "repeat_interleave_int": (lambda L, x: x.repeat_interleave(2, dim=0), [ints([1, 2], [3, 4])]),
    "repeat_interleave_int32_repeats": (lambda L, x, r: x.repeat_interleave(r.to(L.int32), dim=1),
                                        [ints([1, 2], [3, 4]), ints(0, 3)]),
    "repeat_interleave_repeats_only": (lambda L, r: L.repeat_interleave(r), [ints(1, 0, 3, 2)]),
    "repeat_interleave_repeats_only_int32": (lambda L, r: L.repeat_interleave(r.to(L.int32), output_size=4),
                                             [ints(2, 0, 2)]),
    "argwhere": (lambda L, x: L.argwhere(x), [real(3, 4) > 0]),
    "argwhere_float": (lambda L, x: x.argwhere(), [np.array([[0.0, 1.5], [np.nan, 0.0]])]),
    "argwhere_0d": (lambda L, x: L.argwhere(x), [np.array(3.0)]),
    "argwhere_0d_zero": (lambda L, x: L.argwhere(x), [np.array(0)]),
    "argwhere_empty": (lambda L, x: L.argwhere(x), [np.zeros((0, 3))]),
    "count_nonzero": (lambda L, x: L.count_nonzero(x), [np.array([[0.0, 1.0], [np.nan, -0.0]])]),
    "count_nonzero_dim": (lambda L, x: x.count_nonzero(-1), [ints([0, 3, 1], [0, 0, 2])]),
    "count_nonzero_dims": (lambda L, x: L.count_nonzero(x, dim=(0, 2)), [RNG.integers(0, 2, (2, 3, 4)).astype(bool)]),
    "count_nonzero_0d": (lambda L, x: L.count_nonzero(x, 0), [np.array(2.0)]),
}


@pytest.mark.parametrize("name", list(INTEGER))
def test_integer_and_bool_dtypes_match_torch(name: str) -> None:
    fn, arrays = INTEGER[name]
    compare(fn, arrays, grad=False)


def test_no_grad_outputs_of_the_counting_ops() -> None:
    x = tapegrad.tensor(real(3, 4), requires_grad=True)
    for out in (tapegrad.argwhere(x), tapegrad.count_nonzero(x, 0), x.count_nonzero()):
        assert not out.requires_grad and out.grad_fn is None and out.dtype is tapegrad.int64


# ------------------------------------------------------------------ in-place forms

IN_PLACE = {
    "scatter_": (lambda y, s, i: y.scatter_(0, i, s), [real(3, 4), real(2, 4), I_DIM0]),
    "scatter_value_": (lambda y, i: y.scatter_(1, i, value=0.5), [real(3, 4), I_DIM1]),
    "scatter_add_": (lambda y, s, i: y.scatter_add_(0, i, s), [real(3, 4), real(2, 4), I_DIM0]),
    "scatter_reduce_prod_": (lambda y, s, i: y.scatter_reduce_(0, i, s, "prod"), [real(3, 4), real(2, 4), I_DIM0]),
    "scatter_reduce_amax_": (lambda y, s, i: y.scatter_reduce_(0, i, s, "amax", include_self=False),
                             [real(3, 4), real(2, 4), I_DIM0]),
    "scatter_reduce_mean_": (lambda y, s, i: y.scatter_reduce_(0, i, s, "mean"), [real(3, 4), real(2, 4), I_DIM0]),
    "index_add_": (lambda y, s, i: y.index_add_(1, i, s, alpha=2), [real(3, 4), real(3, 3), ints(0, 3, 0)]),
    "index_copy_": (lambda y, s, i: y.index_copy_(0, i, s), [real(3, 4), real(2, 4), ints(2, 1)]),
    "index_fill_": (lambda y, i: y.index_fill_(1, i, 3.0), [real(3, 4), ints(0, -1)]),
    "index_fill_tensor_": (lambda y, i, v: y.index_fill_(1, i, v), [real(3, 4), ints(0, 2), real()]),
    "index_reduce_": (lambda y, s, i: y.index_reduce_(0, i, s, "amin"), [real(3, 4), real(2, 4), ints(2, 2)]),
    "masked_scatter_": (lambda y, m, s: y.masked_scatter_(m, s), [real(3, 4), real(3, 4) > 0, real(12)]),
    "masked_scatter_broadcast_mask_": (lambda y, m, s: y.masked_scatter_(m, s),
                                       [real(3, 4), np.array([True, False, False, True]), real(7)]),
    "put_": (lambda y, i, s: y.put_(i, s), [real(3, 4), ints(0, 7, -1), real(3)]),
    "put_accumulate_": (lambda y, i, s: y.put_(i, s, accumulate=True), [real(3, 4), ints(7, 7), real(2)]),
}


def _run_in_place(lib: Any, fn: Callable[..., Any], arrays: list[np.ndarray], on_view: bool) -> tuple:
    leaf = lib.tensor(arrays[0], requires_grad=True)
    others = [lib.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays[1:]]
    base = leaf * 1.0
    if on_view:
        padded = lib.cat([base, base[:1] * 2.0])  # the target is a view of a bigger tensor
        target = padded[:3]
        returned = fn(target, *others)
        result = padded
    else:
        target = returned = fn(base, *others)
        result = base
    assert returned is target
    name = result.grad_fn.name()
    result.backward(lib.tensor(np.random.default_rng(2).standard_normal(tuple(result.shape))))
    grads = [x.grad.numpy() if x.grad is not None else None for x in [leaf] + others if x.requires_grad]
    return result.detach().numpy(), name, grads


@pytest.mark.parametrize("on_view", [False, True], ids=["tensor", "view"])
@pytest.mark.parametrize("name", list(IN_PLACE))
def test_in_place_matches_torch(name: str, on_view: bool) -> None:
    fn, arrays = IN_PLACE[name]
    want, want_name, want_grads = _run_in_place(torch, fn, arrays, on_view)
    got, got_name, got_grads = _run_in_place(tapegrad, fn, arrays, on_view)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # tapegrad names its CopySlices step without PyTorch's C++ namespace.
    assert got_name == want_name.replace("torch::autograd::CopySlices", "CopySlices")
    assert len(got_grads) == len(want_grads)
    for g, w in zip(got_grads, want_grads):
        assert (g is None) == (w is None)
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_in_place_without_grad_writes_the_buffer() -> None:
    x = tapegrad.zeros(3, 4, dtype=tapegrad.float64)
    buffer = x._data
    version = x._version
    x.scatter_add_(0, tapegrad.tensor(I_DIM0), tapegrad.ones(2, 4, dtype=tapegrad.float64))
    expected = torch.zeros(3, 4, dtype=torch.float64).scatter_add_(0, torch.tensor(I_DIM0),
                                                                   torch.ones(2, 4, dtype=torch.float64))
    assert x._data is buffer and x._version > version
    np.testing.assert_array_equal(x.numpy(), expected.numpy())


# ------------------------------------------------------------------ the API

NAMES = ["scatter", "scatter_add", "scatter_reduce", "index_add", "index_copy", "index_fill", "index_reduce",
         "masked_select", "masked_scatter", "take", "take_along_dim", "put", "repeat_interleave", "argwhere",
         "count_nonzero"]


@pytest.mark.parametrize("name", NAMES)
def test_functions_and_methods_exist_where_torch_has_them(name: str) -> None:
    for holder, torch_holder in ((tapegrad, torch), (tapegrad.Tensor, torch.Tensor)):
        assert hasattr(holder, name) == hasattr(torch_holder, name)
    assert hasattr(tapegrad.Tensor, name + "_") == hasattr(torch.Tensor, name + "_")


def test_docstring_examples_run() -> None:
    import doctest

    from tapegrad.ops import scatter

    result = doctest.testmod(scatter, extraglobs={"tapegrad": tapegrad})
    assert result.attempted and not result.failed


# ------------------------------------------------------------------ errors

def _x(L: Any) -> Any:
    return L.zeros(3, 4, dtype=L.float64)


def _i(L: Any) -> Any:
    return L.tensor(I_DIM0)


def _src(L: Any) -> Any:
    return L.ones(2, 4, dtype=L.float64)


ERRORS: dict[str, Callable[[Any], Any]] = {
    "scatter_float_index": lambda L: _x(L).scatter(0, _i(L).to(L.float64), _src(L)),
    "scatter_src_dtype": lambda L: _x(L).scatter(0, _i(L), _src(L).to(L.float32)),
    "scatter_index_ndim": lambda L: _x(L).scatter(0, _i(L)[0], _src(L)),
    "scatter_src_ndim": lambda L: _x(L).scatter(0, _i(L), _src(L)[0]),
    "scatter_index_larger_than_self": lambda L: _x(L).scatter(0, L.zeros(4, 5, dtype=L.int64),
                                                              L.ones(4, 5, dtype=L.float64)),
    "scatter_index_larger_than_src": lambda L: _x(L).scatter(1, L.zeros(2, 3, dtype=L.int64),
                                                             L.ones(3, 2, dtype=L.float64)),
    "scatter_value_index_larger": lambda L: _x(L).scatter(1, L.zeros(4, 4, dtype=L.int64), 1.0),
    "scatter_out_of_range": lambda L: _x(L).scatter(0, _i(L) + 1, _src(L)),
    "scatter_negative": lambda L: _x(L).scatter(1, L.tensor([[-1]]), 1.0),
    "scatter_dim": lambda L: _x(L).scatter(2, _i(L), _src(L)),
    "scatter_reduce_argument": lambda L: _x(L).scatter(0, _i(L), _src(L), reduce="max"),
    "scatter_legacy_reduce_backward": lambda L: (
        _x(L).requires_grad_().scatter(0, _i(L), 2.0, reduce="add").sum().backward()),
    "scatter_add_src_dtype": lambda L: _x(L).scatter_add(0, _i(L), _src(L).to(L.float32)),
    "scatter_add_out_of_range": lambda L: _x(L).scatter_add(0, _i(L) + 3, _src(L)),
    "scatter_reduce_argument_name": lambda L: _x(L).scatter_reduce(0, _i(L), _src(L), "foo"),
    "scatter_reduce_number_src": lambda L: _x(L).scatter_reduce(0, _i(L), 2.0, "sum"),
    "scatter_reduce_float_index": lambda L: _x(L).scatter_reduce(0, _i(L).to(L.float32), _src(L), "sum"),
    "scatter_reduce_max_backward": lambda L: (
        _x(L).requires_grad_().scatter_reduce(0, _i(L), _src(L), "max").sum().backward()),
    "index_add_float_index": lambda L: _x(L).index_add(0, L.tensor([0.0, 2.0]), _src(L)),
    "index_add_matrix_index": lambda L: _x(L).index_add(0, L.tensor([[0, 1]]), _src(L)),
    "index_add_count": lambda L: _x(L).index_add(0, L.tensor([0, 1]), L.ones(3, 4, dtype=L.float64)),
    "index_add_slices": lambda L: _x(L).index_add(0, L.tensor([0, 1]), L.ones(2, 3, dtype=L.float64)),
    "index_add_dtype": lambda L: _x(L).index_add(0, L.tensor([0, 1]), L.ones(2, 4)),
    "index_add_out_of_range": lambda L: _x(L).index_add(0, L.tensor([0, 3]), _src(L)),
    "index_add_negative": lambda L: _x(L).index_add(0, L.tensor([0, -1]), _src(L)),
    "index_add_scalar_source": lambda L: L.zeros(3).index_add(0, L.tensor([1]), L.tensor(5.0)),
    "index_copy_int32_index": lambda L: _x(L).index_copy(0, L.tensor([0, 2], dtype=L.int32), _src(L)),
    "index_copy_out_of_range": lambda L: _x(L).index_copy(0, L.tensor([0, 3]), _src(L)),
    "index_copy_negative": lambda L: _x(L).index_copy(1, L.tensor([-1]), L.ones(3, 1, dtype=L.float64)),
    "index_copy_count": lambda L: _x(L).index_copy(0, L.tensor([0, 1]), L.ones(3, 4, dtype=L.float64)),
    "index_copy_dtype": lambda L: _x(L).index_copy(0, L.tensor([0, 1]), L.ones(2, 4)),
    "index_copy_slices": lambda L: _x(L).index_copy(0, L.tensor([0, 1]), L.ones(2, 3, dtype=L.float64)),
    "index_copy_slices_3d": lambda L: L.zeros(2, 3, 4).index_copy(1, L.tensor([0]), L.ones(2, 1, 5)),
    "index_copy_matrix_index": lambda L: _x(L).index_copy(0, L.tensor([[0, 1]]), _src(L)),
    "index_copy_scalar_source": lambda L: L.zeros(3).index_copy(0, L.tensor([0, 1]), L.tensor(1.0)),
    "index_copy_dims": lambda L: _x(L).index_copy(0, L.tensor([0, 1]), L.ones(2, 4, 1, dtype=L.float64)),
    "index_fill_int32_index": lambda L: _x(L).index_fill(0, L.tensor([0], dtype=L.int32), 1.0),
    "index_fill_matrix_index": lambda L: _x(L).index_fill(0, L.tensor([[0, 1]]), 1.0),
    "index_fill_vector_value": lambda L: _x(L).index_fill(0, L.tensor([0]), L.tensor([1.0, 2.0])),
    "index_fill_out_of_range": lambda L: _x(L).index_fill(1, L.tensor([4]), 1.0),
    "index_fill_negative_out_of_range": lambda L: _x(L).index_fill(1, L.tensor([-5]), 1.0),
    "index_fill_dim": lambda L: _x(L).index_fill(2, L.tensor([0]), 1.0),
    "index_reduce_sum": lambda L: _x(L).index_reduce(0, L.tensor([0, 1]), _src(L), "sum"),
    "index_reduce_out_of_range": lambda L: _x(L).index_reduce(0, L.tensor([0, 3]), _src(L), "prod"),
    "index_reduce_negative": lambda L: _x(L).index_reduce(0, L.tensor([0, -1]), _src(L), "amax"),
    "index_reduce_count": lambda L: _x(L).index_reduce(0, L.tensor([0]), _src(L), "prod"),
    "index_reduce_dtype": lambda L: _x(L).index_reduce(0, L.tensor([0, 1]), L.ones(2, 4), "mean"),
    "masked_select_float_mask": lambda L: _x(L).masked_select(L.ones(3, 4)),
    "masked_select_int_mask": lambda L: _x(L).masked_select(L.ones(3, 4, dtype=L.int64)),
    "masked_select_shape": lambda L: _x(L).masked_select(L.ones(3, 5, dtype=L.bool)),
    "masked_scatter_short_source": lambda L: _x(L).masked_scatter(L.ones(3, 4, dtype=L.bool),
                                                                  L.ones(5, dtype=L.float64)),
    "masked_scatter_dtype": lambda L: _x(L).masked_scatter(L.ones(3, 4, dtype=L.bool), L.ones(12)),
    "masked_scatter_float_mask": lambda L: _x(L).masked_scatter(L.ones(3, 4), L.ones(12, dtype=L.float64)),
    "masked_scatter_shape": lambda L: _x(L).masked_scatter(L.ones(2, 4, dtype=L.bool), L.ones(12, dtype=L.float64)),
    "masked_scatter_in_place_broadcast": lambda L: L.zeros(1, 4, dtype=L.float64).masked_scatter_(
        L.ones(3, 4, dtype=L.bool), L.ones(12, dtype=L.float64)),
    "take_out_of_range": lambda L: _x(L).take(L.tensor([[0, 12]])),
    "take_negative_out_of_range": lambda L: _x(L).take(L.tensor([-13, 15])),
    "take_int32_index": lambda L: _x(L).take(L.tensor([1], dtype=L.int32)),
    "take_from_empty": lambda L: L.zeros(0).take(L.tensor([0])),
    "take_along_dim_float_index": lambda L: _x(L).take_along_dim(_i(L).to(L.float64), 0),
    "take_along_dim_int32_index": lambda L: _x(L).take_along_dim(_i(L).to(L.int32), 0),
    "take_along_dim_ndim": lambda L: _x(L).take_along_dim(_i(L)[0], 0),
    "take_along_dim_broadcast": lambda L: _x(L).take_along_dim(L.tensor([[0], [2]]), 1),
    "take_along_dim_dim": lambda L: _x(L).take_along_dim(_i(L), -3),
    "take_along_dim_flat_negative": lambda L: _x(L).take_along_dim(L.tensor([3, -1])),
    "take_along_dim_flat_out_of_range": lambda L: _x(L).take_along_dim(L.tensor([12])),
    "take_along_dim_0d": lambda L: L.tensor(1.0).take_along_dim(L.tensor(0), 0),
    "put_count": lambda L: _x(L).put(L.tensor([0, 1]), L.ones(3, dtype=L.float64)),
    "put_int32_index": lambda L: _x(L).put(L.tensor([0, 1], dtype=L.int32), L.ones(2, dtype=L.float64)),
    "put_dtype": lambda L: _x(L).put(L.tensor([0, 1]), L.ones(2)),
    "put_out_of_range": lambda L: _x(L).put(L.tensor([0, 12]), L.ones(2, dtype=L.float64)),
    "put_negative_out_of_range": lambda L: _x(L).put(L.tensor([-13, 0]), L.ones(2, dtype=L.float64), accumulate=True),
    "put_into_empty": lambda L: L.zeros(0).put(L.tensor([0]), L.ones(1)),
    "repeat_interleave_negative": lambda L: _x(L).repeat_interleave(-1),
    "repeat_interleave_negative_tensor": lambda L: _x(L).repeat_interleave(L.tensor([1, -1, 2]), dim=0),
    "repeat_interleave_size": lambda L: _x(L).repeat_interleave(L.tensor([1, 2]), dim=0),
    "repeat_interleave_size_negative_dim": lambda L: _x(L).repeat_interleave(L.tensor([1, 2]), dim=-1),
    "repeat_interleave_matrix": lambda L: _x(L).repeat_interleave(L.tensor([[1, 2]]), dim=0),
    "repeat_interleave_float": lambda L: _x(L).repeat_interleave(L.tensor([1.0, 2.0, 1.0]), dim=0),
    "repeat_interleave_repeats_matrix": lambda L: L.repeat_interleave(L.tensor([[1, 2]])),
    "repeat_interleave_repeats_negative": lambda L: L.repeat_interleave(L.tensor([1, -2])),
    "repeat_interleave_output_size": lambda L: _x(L).repeat_interleave(2, dim=0, output_size=5),
    "repeat_interleave_tensor_output_size": lambda L: _x(L).repeat_interleave(L.tensor([1, 1, 1]), dim=0,
                                                                              output_size=2),
    "repeat_interleave_dim": lambda L: _x(L).repeat_interleave(2, dim=2),
    "repeat_interleave_0d_dim": lambda L: L.tensor(1.0).repeat_interleave(2, dim=0),
    "count_nonzero_repeated_dim": lambda L: L.count_nonzero(_x(L), dim=(1, -1)),
    "count_nonzero_dim": lambda L: _x(L).count_nonzero(2),
    "in_place_on_a_leaf": lambda L: _x(L).requires_grad_().scatter_add_(0, _i(L), _src(L)),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_match_torch(name: str) -> None:
    raises_as_torch(ERRORS[name])

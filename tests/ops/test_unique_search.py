"""``unique``, ``unique_consecutive``, ``bincount``, ``histc``, ``searchsorted``, ``bucketize``,
``tril_indices`` and ``triu_indices`` against PyTorch: values, dtypes and shapes of every output
(NaNs, signed zeros, bool, empty and 0-d inputs, dims), the grad_fn PyTorch attaches and the
error its backward raises, and PyTorch's exception types and messages for bad input."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import tapegrad

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nn"))
from torch_errors import raises_as_torch  # noqa: E402

RNG = np.random.default_rng(11)
NAN = np.nan


def compare(fn: Callable[..., Any], arrays: list[np.ndarray]) -> None:
    """``fn(lib, *tensors)`` gives the same outputs (values, dtypes, shapes) in both libraries."""
    results = []
    for lib in (torch, tapegrad):
        out = fn(lib, *[lib.tensor(a) for a in arrays])
        outs = out if isinstance(out, tuple) else (out,)
        results.append([(np.array(o.numpy()), str(o.dtype).split(".")[-1]) for o in outs])
    want, got = results
    assert len(got) == len(want)
    for (g, g_type), (w, w_type) in zip(got, want):
        assert g_type == w_type and g.shape == w.shape
        np.testing.assert_array_equal(g, w)
        if g.dtype.kind == "f":
            np.testing.assert_array_equal(np.signbit(g), np.signbit(w))  # -0.0 kept where PyTorch keeps it


CASES: dict[str, tuple[Callable[..., Any], list[np.ndarray]]] = {
    # unique
    "unique": (lambda L, x: L.unique(x), [np.array([3, 1, 2, 3, 1, 5])]),
    "unique_inverse": (lambda L, x: L.unique(x, return_inverse=True), [RNG.integers(0, 4, (3, 4))]),
    "unique_counts": (lambda L, x: x.unique(return_counts=True), [RNG.integers(-2, 2, 10)]),
    "unique_all": (lambda L, x: L.unique(x, sorted=False, return_inverse=True, return_counts=True),
                   [RNG.integers(0, 5, (2, 3, 2))]),
    "unique_positional_method": (lambda L, x: x.unique(True, True, True), [np.array([2.5, -1.0, 2.5])]),
    "unique_nan": (lambda L, x: L.unique(x, return_inverse=True, return_counts=True),
                   [np.array([1.0, NAN, 2.0, NAN, 1.0])]),
    "unique_signed_zero_first": (lambda L, x: L.unique(x, return_counts=True), [np.array([-0.0, 0.0, 1.0])]),
    "unique_zero_first": (lambda L, x: L.unique(x), [np.array([0.0, -0.0, 1.0])]),
    "unique_float32": (lambda L, x: L.unique(x.float(), return_inverse=True), [RNG.integers(0, 3, 7).astype(float)]),
    "unique_bool": (lambda L, x: L.unique(x, return_inverse=True, return_counts=True),
                    [np.array([True, False, True, True])]),
    "unique_empty": (lambda L, x: L.unique(x, return_inverse=True, return_counts=True), [np.zeros((0, 3))]),
    "unique_0d": (lambda L, x: L.unique(x, return_inverse=True, return_counts=True), [np.array(4.0)]),
    "unique_dim0": (lambda L, x: L.unique(x, dim=0, return_inverse=True, return_counts=True),
                    [np.array([[1, 2], [0, 1], [1, 2], [0, 0]])]),
    "unique_dim1": (lambda L, x: x.unique(dim=1, return_inverse=True, return_counts=True),
                    [np.array([[1, 2, 1, 0], [0, 1, 0, 0]])]),
    "unique_dim_negative_3d": (lambda L, x: L.unique(x, dim=-2, return_inverse=True, return_counts=True),
                               [RNG.integers(0, 2, (2, 5, 2))]),
    "unique_dim_float": (lambda L, x: L.unique(x, dim=0, return_counts=True),
                         [np.array([[1.5, -2.0], [1.5, -3.0], [1.5, -2.0], [0.5, 9.0]])]),
    "unique_dim_nan_rows_differ": (lambda L, x: L.unique(x, dim=0, return_counts=True),
                                   [np.array([[1.0, NAN], [1.0, NAN]])]),
    "unique_dim_bool": (lambda L, x: L.unique(x, dim=0), [np.array([[True, False], [True, False], [False, False]])]),
    "unique_dim_empty": (lambda L, x: L.unique(x, dim=0, return_inverse=True, return_counts=True),
                         [np.zeros((0, 3))]),
    # unique_consecutive
    "unique_consecutive": (lambda L, x: L.unique_consecutive(x), [np.array([1, 1, 2, 2, 3, 1, 1, 2])]),
    "unique_consecutive_all": (lambda L, x: L.unique_consecutive(x, return_inverse=True, return_counts=True),
                               [RNG.integers(0, 2, (3, 4))]),
    "unique_consecutive_positional_method": (lambda L, x: x.unique_consecutive(True, True),
                                             [np.array([5.0, 5.0, -1.0, 5.0])]),
    "unique_consecutive_nan": (lambda L, x: L.unique_consecutive(x, return_counts=True),
                               [np.array([1.0, NAN, NAN, 2.0, 2.0])]),
    "unique_consecutive_empty": (lambda L, x: L.unique_consecutive(x, return_inverse=True, return_counts=True),
                                 [np.zeros(0)]),
    "unique_consecutive_0d": (lambda L, x: L.unique_consecutive(x, return_inverse=True, return_counts=True),
                              [np.array(2)]),
    "unique_consecutive_dim0": (lambda L, x: L.unique_consecutive(x, dim=0, return_inverse=True, return_counts=True),
                                [np.array([[1, 2], [1, 2], [0, 0], [1, 2]])]),
    "unique_consecutive_dim1": (lambda L, x: x.unique_consecutive(dim=-1, return_inverse=True, return_counts=True),
                                [np.array([[1, 1, 2], [3, 3, 3]])]),
    # bincount
    "bincount": (lambda L, x: L.bincount(x), [np.array([1, 3, 3, 0, 7])]),
    "bincount_minlength": (lambda L, x: x.bincount(minlength=10), [np.array([1, 3, 3, 0])]),
    "bincount_short_minlength": (lambda L, x: L.bincount(x, minlength=2), [np.array([1, 3, 3, 0])]),
    "bincount_int32": (lambda L, x: L.bincount(x.int()), [np.array([2, 2, 0])]),
    "bincount_weights": (lambda L, x, w: L.bincount(x, w), [np.array([1, 3, 3, 0]), RNG.standard_normal(4)]),
    "bincount_float32_weights": (lambda L, x, w: L.bincount(x, w.float(), 5),
                                 [np.array([1, 3, 3, 0]), np.array([0.5, 1.25, 2.0, -1.0])]),
    "bincount_int_weights": (lambda L, x, w: L.bincount(x, weights=w),
                             [np.array([1, 3, 3, 0]), np.array([4, 5, 6, 7])]),
    "bincount_bool_weights": (lambda L, x, w: L.bincount(x, weights=w),
                              [np.array([1, 3, 3]), np.array([True, False, True])]),
    "bincount_empty": (lambda L, x: L.bincount(x), [np.zeros(0, np.int64)]),
    "bincount_empty_minlength_weights": (lambda L, x, w: L.bincount(x, w, minlength=3),
                                         [np.zeros(0, np.int64), np.zeros(0)]),
    # histc
    "histc": (lambda L, x: L.histc(x), [RNG.standard_normal(200)]),
    "histc_range": (lambda L, x: x.histc(bins=7, min=-1, max=1.5), [RNG.standard_normal(100)]),
    "histc_edges": (lambda L, x: L.histc(x, bins=4, min=0, max=1), [np.linspace(0, 1, 9)]),
    "histc_float32_edges": (lambda L, x: L.histc(x.float(), bins=10, min=-0.3, max=0.7),
                            [np.linspace(-0.3, 0.7, 101)]),
    "histc_float32_data_range": (lambda L, x: L.histc(x.float(), bins=13), [RNG.uniform(-3, 5, 300)]),
    "histc_constant": (lambda L, x: L.histc(x, bins=4), [np.full(3, 2.0)]),
    "histc_same_min_max": (lambda L, x: L.histc(x, bins=3, min=2, max=2), [np.array([1.0, 2.0, 3.0])]),
    "histc_outside_nan_inf": (lambda L, x: L.histc(x, bins=3, min=0, max=2),
                              [np.array([1.0, NAN, np.inf, -np.inf, -0.5, 2.5, 0.0, 2.0])]),
    "histc_empty": (lambda L, x: L.histc(x, bins=3), [np.zeros(0)]),
    "histc_2d": (lambda L, x: L.histc(x, bins=5), [RNG.standard_normal((4, 6))]),
    # searchsorted / bucketize
    "searchsorted": (lambda L, b, v: L.searchsorted(b, v),
                     [np.sort(RNG.standard_normal(10)), RNG.standard_normal((3, 4))]),
    "searchsorted_repeats": (lambda L, b, v: L.searchsorted(b, v),
                             [np.array([1, 3, 3, 3, 5]), np.array([0, 3, 4, 5, 6])]),
    "searchsorted_right": (lambda L, b, v: L.searchsorted(b, v, right=True),
                           [np.array([1, 3, 3, 3, 5]), np.array([0, 3, 4, 5, 6])]),
    "searchsorted_side": (lambda L, b, v: L.searchsorted(b, v, side="right", out_int32=True),
                          [np.array([1.0, 3.0, 3.0, 5.0]), np.array([[3.0], [5.0]])]),
    "searchsorted_nd": (lambda L, b, v: L.searchsorted(b, v),
                        [np.sort(RNG.standard_normal((2, 3, 5)), -1), RNG.standard_normal((2, 3, 4))]),
    "searchsorted_sorter": (lambda L, b, v, s: L.searchsorted(b, v, sorter=s),
                            [np.array([5.0, 1.0, 3.0, 3.0]), np.array([3.0, 4.0, 0.0, 9.0]), np.array([1, 2, 3, 0])]),
    "searchsorted_sorter_nd": (lambda L, b, v, s: L.searchsorted(b, v, right=True, sorter=s),
                               [np.array([[2.0, 0.0, 1.0], [9.0, 7.0, 8.0]]), np.array([[1.0, 0.5], [8.0, 9.5]]),
                                np.array([[1, 2, 0], [1, 2, 0]])]),
    "searchsorted_nan_boundaries": (lambda L, b, v: L.searchsorted(b, v),
                                    [np.array([1.0, 3.0, NAN, NAN, NAN]), np.array([0.5, 3.0, NAN, 4.0, -1.0])]),
    "searchsorted_nan_boundaries_right": (lambda L, b, v: L.searchsorted(b, v, right=True),
                                          [np.array([1.0, 3.0, NAN]), np.array([0.5, 3.0, NAN, 4.0])]),
    "searchsorted_int_boundaries_float_values": (lambda L, b, v: L.searchsorted(b, v),
                                                 [np.array([1, 3, 5]), np.array([2.5, 3.0, 7.5])]),
    "searchsorted_float32_float64": (lambda L, b, v: L.searchsorted(b.float(), v),
                                     [np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.2000001])]),
    "searchsorted_0d_value": (lambda L, b, v: L.searchsorted(b, v), [np.array([1.0, 3.0]), np.array(2.0)]),
    "searchsorted_empty_boundaries": (lambda L, b, v: L.searchsorted(b, v), [np.zeros(0), np.array([3.0, 4.0])]),
    "searchsorted_empty_values": (lambda L, b, v: L.searchsorted(b, v), [np.array([1.0, 2.0]), np.zeros((2, 0))]),
    "bucketize": (lambda L, b, v: L.bucketize(v, b), [np.array([1.0, 3.0, 5.0, 7.0]), RNG.uniform(0, 8, (2, 5))]),
    "bucketize_right_int32": (lambda L, b, v: L.bucketize(v, b, out_int32=True, right=True),
                              [np.array([1, 3, 5, 7]), np.array([[1, 3], [6, 8]])]),
    "bucketize_mixed_dtypes": (lambda L, b, v: L.bucketize(v, b), [np.array([1.0, 3.0]), np.array([1, 2, 4])]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(name: str) -> None:
    fn, arrays = CASES[name]
    compare(fn, arrays)


SCALARS = {
    "searchsorted_float": lambda L: L.searchsorted(L.tensor([1.0, 3.0, 5.0]), 4.0),
    "searchsorted_int_right": lambda L: L.searchsorted(L.tensor([1, 3, 5]), 3, right=True),
    "bucketize_float": lambda L: L.bucketize(2.0, L.tensor([1.0, 3.0])),
    "tril_indices": lambda L: L.tril_indices(3, 4),
    "tril_indices_negative_offset": lambda L: L.tril_indices(5, 3, -2),
    "tril_indices_large_offset": lambda L: L.tril_indices(3, 3, 10),
    "tril_indices_below_everything": lambda L: L.tril_indices(3, 3, -10),
    "tril_indices_int32": lambda L: L.tril_indices(4, 2, 1, dtype=L.int32),
    "triu_indices": lambda L: L.triu_indices(3, 4, 1),
    "triu_indices_negative_offset": lambda L: L.triu_indices(4, 4, -1),
    "triu_indices_empty": lambda L: L.triu_indices(0, 4),
    "triu_indices_one_column": lambda L: L.triu_indices(3, 1, dtype=L.int32),
}


@pytest.mark.parametrize("name", list(SCALARS))
def test_from_numbers_matches_torch(name: str) -> None:
    compare(lambda L: SCALARS[name](L), [])


# ------------------------------------------------------------------ no gradients

NO_GRAD = {
    "unique": lambda L, x: L.unique(x),
    "unique_sorted_false": lambda L, x: L.unique(x, sorted=False, return_inverse=True)[0],
    "unique_dim": lambda L, x: L.unique(x, dim=0),
    "unique_consecutive": lambda L, x: L.unique_consecutive(x),
    "unique_consecutive_dim": lambda L, x: L.unique_consecutive(x, dim=0, return_counts=True)[0],
    "bincount_weights": lambda L, x: L.bincount(L.tensor([0, 2, 2]), x),
}


@pytest.mark.parametrize("name", list(NO_GRAD))
def test_outputs_with_no_derivative_are_marked_as_in_torch(name: str) -> None:
    # PyTorch attaches a node whose backward raises; its grad_fn name and error are matched.
    fn = NO_GRAD[name]
    values = np.array([1.0, 2.0, 1.0])
    names = []
    for lib in (torch, tapegrad):
        out = fn(lib, lib.tensor(values, requires_grad=True))
        assert out.requires_grad
        names.append(out.grad_fn.name())
    assert names[1] == names[0]
    raises_as_torch(lambda L: fn(L, L.tensor(values, requires_grad=True)).sum().backward())


def test_counting_and_search_outputs_need_no_grad() -> None:
    x = tapegrad.tensor(RNG.standard_normal(6), requires_grad=True)
    for out in (tapegrad.histc(x, bins=4), tapegrad.searchsorted(tapegrad.sort(x)[0], x),
                tapegrad.bucketize(x, tapegrad.tensor([0.0])), tapegrad.unique(x, return_inverse=True)[1]):
        assert not out.requires_grad and out.grad_fn is None


@pytest.mark.parametrize("name", ["unique", "unique_consecutive", "bincount", "histc", "searchsorted", "bucketize",
                                  "tril_indices", "triu_indices"])
def test_functions_and_methods_exist_where_torch_has_them(name: str) -> None:
    for holder, torch_holder in ((tapegrad, torch), (tapegrad.Tensor, torch.Tensor)):
        assert hasattr(holder, name) == hasattr(torch_holder, name)


def test_docstring_examples_run() -> None:
    import doctest

    from tapegrad.ops import setops

    result = doctest.testmod(setops, extraglobs={"tapegrad": tapegrad})
    assert result.attempted and not result.failed


# ------------------------------------------------------------------ errors

ERRORS: dict[str, Callable[[Any], Any]] = {
    "unique_dim_out_of_range": lambda L: L.unique(L.zeros(2, 3), dim=2),
    "unique_dim_of_0d": lambda L: L.unique(L.tensor(1.0), dim=0),
    "unique_dim_empty_other_dim": lambda L: L.unique(L.zeros(0, 3), dim=1),
    "unique_dim_two_empty_dims": lambda L: L.unique(L.zeros(0, 0), dim=0),
    "unique_consecutive_dim_of_0d": lambda L: L.unique_consecutive(L.tensor(2), dim=0),
    "bincount_negative": lambda L: L.bincount(L.tensor([1, -1])),
    "bincount_matrix": lambda L: L.bincount(L.tensor([[1, 2]])),
    "bincount_0d": lambda L: L.bincount(L.tensor(3)),
    "bincount_float": lambda L: L.bincount(L.tensor([1.0, 2.0])),
    "bincount_bool": lambda L: L.bincount(L.tensor([True, False])),
    "bincount_weights_length": lambda L: L.bincount(L.tensor([1, 2]), L.tensor([1.0, 2.0, 3.0])),
    "bincount_negative_minlength": lambda L: L.bincount(L.tensor([1, 2]), minlength=-1),
    "histc_int": lambda L: L.histc(L.tensor([1, 2]), bins=4),
    "histc_no_bins": lambda L: L.histc(L.tensor([1.0, 2.0]), bins=0),
    "histc_min_above_max": lambda L: L.histc(L.tensor([1.0, 2.0]), bins=3, min=5, max=1),
    "histc_infinite_range": lambda L: L.histc(L.tensor([1.0, float("inf")]), bins=3),
    "searchsorted_side": lambda L: L.searchsorted(L.tensor([1.0, 2.0]), L.tensor([1.0]), side="middle"),
    "searchsorted_side_and_right": lambda L: L.searchsorted(L.tensor([1.0, 2.0]), L.tensor([1.0]), side="left",
                                                            right=True),
    "searchsorted_0d_boundaries": lambda L: L.searchsorted(L.tensor(1.0), L.tensor([3.0])),
    "searchsorted_leading_dims": lambda L: L.searchsorted(L.zeros(2, 3), L.zeros(1, 3)),
    "searchsorted_ndim": lambda L: L.searchsorted(L.zeros(2, 3), L.zeros(3)),
    "searchsorted_sorter_dtype": lambda L: L.searchsorted(L.tensor([5.0, 1.0]), L.tensor([3.0]),
                                                          sorter=L.tensor([1, 0], dtype=L.int32)),
    "searchsorted_sorter_shape": lambda L: L.searchsorted(L.tensor([5.0, 1.0]), L.tensor([3.0]), sorter=L.tensor([1])),
    "searchsorted_sorter_out_of_range": lambda L: L.searchsorted(L.tensor([5.0, 1.0]), L.tensor([3.0]),
                                                                 sorter=L.tensor([1, 2])),
    "bucketize_matrix_boundaries": lambda L: L.bucketize(L.tensor([1.0]), L.zeros(2, 2)),
    "tril_indices_negative_row": lambda L: L.tril_indices(-1, 4),
    "triu_indices_negative_col": lambda L: L.triu_indices(3, -2),
    "triu_indices_float": lambda L: L.triu_indices(3, 4, dtype=L.float32),
    "tril_indices_float": lambda L: L.tril_indices(3, 4, dtype=L.float64),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_match_torch(name: str) -> None:
    raises_as_torch(ERRORS[name])

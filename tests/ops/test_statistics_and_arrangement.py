"""Order statistics (median, nanmedian, kthvalue, quantile, nanquantile), NaN-aware and paired
reductions, running extremes and logcumsumexp, diff, the extra matrix products, cdist and
cross, joining / splitting / arranging functions, closeness tests and the ``Tensor.new_*``
family: values, dtypes, shapes and gradients against PyTorch (float64), finite differences,
and PyTorch's errors."""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
from tapegrad.autograd import gradcheck, gradgradcheck

NAN = float("nan")


def _data(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _ties(shape: tuple[int, ...], seed: int, nan: bool = False) -> np.ndarray:
    """Small integers as floats (many ties), with some NaNs when ``nan``."""
    rng = np.random.default_rng(seed)
    data = rng.integers(-3, 4, shape).astype(np.float64)
    if nan:
        data[rng.random(shape) < 0.2] = np.nan
    return data


def _flat(out: Any) -> list[Any]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _compare(call: Callable[..., Any], arrays: list[np.ndarray], grad: bool = True) -> None:
    """``call(lib, *tensors)`` in both libraries: equal values, dtypes and shapes of every
    output, and equal input gradients (for a fixed random output gradient of the float outputs)."""
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tapegrad, torch):
        inputs = [lib.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outs = _flat(call(lib, *inputs))
        loss = None
        for k, o in enumerate(outs):
            if isinstance(o, lib.Tensor) and o.is_floating_point() and o.requires_grad:
                term = (o * lib.tensor(_data(tuple(o.shape), 50 + k))).nansum() if lib is torch else \
                    tapegrad.nansum(o * lib.tensor(_data(tuple(o.shape), 50 + k)))
                loss = term if loss is None else loss + term
        if loss is not None:
            loss.backward()
        results.append((outs, [x.grad for x in inputs]))
    (ours, our_grads), (theirs, their_grads) = results
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        if not isinstance(t, torch.Tensor):
            assert o == (tuple(t) if isinstance(t, torch.Size) else t)
            continue
        assert tuple(o.shape) == tuple(t.shape) and o.dtype.scalar_name == str(t.dtype).split(".")[1].replace(
            "float64", "Double").replace("float32", "Float").replace("int64", "Long").replace("bool", "Bool")
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    for g, tg in zip(our_grads, their_grads):
        assert (g is None) == (tg is None)
        if g is not None:
            np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-10, atol=1e-12)


def _raises_as_torch(call: Callable[[Any], Any]) -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(type(theirs.value)) as ours:
        call(tapegrad)
    assert str(ours.value) == str(theirs.value).replace("torch.Size", "tapegrad.Size")


# ---------------------------------------------------------------- order statistics

ORDER = [
    ("median_all", lambda L, x: L.median(x), [_data((3, 4), 1)]),
    ("median_all_ties", lambda L, x: L.median(x), [_ties((3, 4), 2)]),
    ("median_all_nan", lambda L, x: L.median(x), [_ties((3, 4), 3, nan=True)]),
    ("median_dim", lambda L, x: L.median(x, 1).values, [_data((3, 4), 4)]),
    ("median_dim_keepdim", lambda L, x: L.median(x, 0, keepdim=True).values, [_data((3, 5), 5)]),
    ("median_dim_nan", lambda L, x: L.median(x, -1).values, [_ties((4, 5), 6, nan=True)]),
    ("median_0d", lambda L, x: L.median(x[0, 0], 0), [_data((2, 2), 7)]),
    ("nanmedian_all", lambda L, x: L.nanmedian(x), [_ties((3, 4), 8, nan=True)]),
    ("nanmedian_dim", lambda L, x: L.nanmedian(x, 1).values, [_ties((4, 5), 9, nan=True)]),
    ("kthvalue", lambda L, x: L.kthvalue(x, 2, 0), [_data((3, 4), 10)]),
    ("kthvalue_keepdim", lambda L, x: L.kthvalue(x, 4, -1, True), [_data((2, 4), 11)]),
    ("quantile_scalar", lambda L, x: L.quantile(x, 0.3), [_data((3, 4), 12)]),
    ("quantile_dim", lambda L, x: L.quantile(x, 0.75, 1, keepdim=True), [_data((3, 4), 13)]),
    ("quantile_nan", lambda L, x: L.quantile(x, 0.5, 1), [_ties((4, 5), 14, nan=True)]),
    ("nanquantile", lambda L, x: L.nanquantile(x, 0.4, 1), [_ties((4, 5), 15, nan=True)]),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, call, arrays", ORDER, ids=[o[0] for o in ORDER])
def test_order_statistics_match_torch(name: str, call: Callable, arrays: list) -> None:
    _compare(call, arrays)


@pytest.mark.torch
@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (None, True), (0, False), (-1, True)])
def test_quantile_interpolations_and_q_tensors_match_torch(interpolation: str, dim: Any, keepdim: bool) -> None:
    q = np.array([0.0, 0.1, 0.5, 0.625, 1.0])
    for function in ("quantile", "nanquantile"):
        _compare(lambda L, x: getattr(L, function)(x, L.tensor(q), dim, keepdim, interpolation=interpolation),
                 [_data((3, 5), 16)])


@pytest.mark.torch
def test_dim_forms_index_an_element_equal_to_the_value() -> None:
    x = tapegrad.tensor(_ties((5, 6), 17))
    for result in (tapegrad.median(x, 1), tapegrad.nanmedian(x, 1), tapegrad.kthvalue(x, 3, 1)):
        np.testing.assert_array_equal(x.gather(1, result.indices[:, None])[:, 0].numpy(), result.values.numpy())


def test_order_statistics_against_finite_differences() -> None:
    x = tapegrad.tensor(_data((3, 5), 18), requires_grad=True)
    assert gradcheck(lambda t: tapegrad.median(t, 1).values, (x,))
    assert gradcheck(lambda t: tapegrad.quantile(t, tapegrad.tensor([0.2, 0.9], dtype=tapegrad.float64), 1), (x,))
    assert gradcheck(lambda t: tapegrad.kthvalue(t, 2, 0).values, (x,))
    assert gradcheck(tapegrad.median, (x,))


# ---------------------------------------------------------------- reductions and scans

REDUCTIONS = [
    ("nansum", lambda L, x: L.nansum(x), [_ties((3, 4), 20, nan=True)]),
    ("nansum_dim", lambda L, x: L.nansum(x, 1, keepdim=True), [_ties((3, 4), 21, nan=True)]),
    ("nanmean", lambda L, x: L.nanmean(x, 0), [_ties((3, 4), 22, nan=True)]),
    ("aminmax", lambda L, x: L.aminmax(x), [_data((3, 4), 23)]),
    ("aminmax_dim", lambda L, x: L.aminmax(x, dim=1, keepdim=True), [_ties((3, 4), 24)]),
    ("var_mean", lambda L, x: L.var_mean(x, 1), [_data((3, 4), 25)]),
    ("std_mean", lambda L, x: L.std_mean(x, (0, 1), correction=0, keepdim=True), [_data((3, 4), 26)]),
    ("std_mean_unbiased", lambda L, x: L.std_mean(x, False), [_data((3, 4), 27)]),
    ("cummax", lambda L, x: L.cummax(x, 1), [_ties((3, 6), 28)]),
    ("cummin_nan", lambda L, x: L.cummin(x, 0), [_ties((6, 3), 29, nan=True)]),
    ("logcumsumexp", lambda L, x: L.logcumsumexp(x * 300, 1), [_data((3, 5), 30)]),
    ("diff", lambda L, x: L.diff(x), [_data((3, 5), 31)]),
    ("diff_n2_prepend", lambda L, x, p: L.diff(x, 2, 0, prepend=p), [_data((3, 2), 32), _data((2, 2), 33)]),
    ("diff_bool", lambda L, x: L.diff(x > 0, append=x[:, :1] > 1), [_data((3, 4), 34)]),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, call, arrays", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_reductions_and_scans_match_torch(name: str, call: Callable, arrays: list) -> None:
    _compare(call, arrays)


def test_scans_against_finite_differences() -> None:
    x = tapegrad.tensor(_data((3, 5), 35), requires_grad=True)
    assert gradcheck(lambda t: tapegrad.logcumsumexp(t, 1), (x,))
    assert gradgradcheck(lambda t: tapegrad.logcumsumexp(t, 0), (x,))
    assert gradcheck(lambda t: tapegrad.cummax(t, 1).values, (x,))
    assert gradcheck(lambda t: tapegrad.nanmean(t, 1), (x,))


# ---------------------------------------------------------------- products and distances

PRODUCTS = [
    ("baddbmm", lambda L, i, a, b: L.baddbmm(i, a, b, beta=0.5, alpha=2), [_data((2, 3, 2), 40), _data((2, 3, 4), 41),
                                                                          _data((2, 4, 2), 42)]),
    ("baddbmm_beta0", lambda L, i, a, b: L.baddbmm(i * np.inf, a, b, beta=0), [_data((1, 3, 2), 43),
                                                                               _data((2, 3, 4), 44),
                                                                               _data((2, 4, 2), 45)]),
    ("addbmm", lambda L, i, a, b: L.addbmm(i, a, b), [_data((3, 2), 46), _data((2, 3, 4), 47), _data((2, 4, 2), 48)]),
    ("addmv", lambda L, i, m, v: L.addmv(i, m, v, alpha=-1), [_data((3,), 49), _data((3, 4), 50), _data((4,), 51)]),
    ("addr", lambda L, i, a, b: L.addr(i, a, b, beta=2), [_data((3, 4), 52), _data((3,), 53), _data((4,), 54)]),
    ("tensordot_int", lambda L, a, b: L.tensordot(a, b, 2), [_data((2, 3, 4), 55), _data((3, 4, 5), 56)]),
    ("tensordot_lists", lambda L, a, b: L.tensordot(a, b, ([0, 2], [2, 0])), [_data((2, 3, 4), 57),
                                                                               _data((4, 5, 2), 58)]),
    ("inner", lambda L, a, b: L.inner(a, b), [_data((2, 3), 59), _data((4, 3), 60)]),
    ("vdot", lambda L, a, b: L.vdot(a, b), [_data((5,), 61), _data((5,), 62)]),
    ("kron", lambda L, a, b: L.kron(a, b), [_data((2, 3), 63), _data((3, 1, 2), 64)]),
    ("cdist", lambda L, a, b: L.cdist(a, b), [_data((2, 4, 3), 65), _data((2, 5, 3), 66)]),
    ("cdist_p1", lambda L, a, b: L.cdist(a, b, 1.0), [_data((4, 3), 67), _data((5, 3), 68)]),
    ("cdist_inf", lambda L, a, b: L.cdist(a, b, float("inf")), [_data((4, 3), 69), _data((5, 3), 70)]),
    ("cross", lambda L, a, b: L.cross(a, b, dim=1), [_data((2, 3, 2), 71), _data((2, 3, 2), 72)]),
    ("cross_default_dim", lambda L, a, b: L.cross(a, b), [_data((3, 3), 73), _data((3, 3), 74)]),
    ("linalg_cross", lambda L, a, b: L.linalg.cross(a, b), [_data((2, 3), 75), _data((1, 3), 76)]),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, call, arrays", PRODUCTS, ids=[p[0] for p in PRODUCTS])
def test_products_and_distances_match_torch(name: str, call: Callable, arrays: list) -> None:
    _compare(call, arrays)


def test_products_against_finite_differences() -> None:
    a = tapegrad.tensor(_data((2, 3), 77), requires_grad=True)
    b = tapegrad.tensor(_data((3, 3), 78), requires_grad=True)
    assert gradcheck(lambda x, y: tapegrad.kron(x, y), (a, b))
    assert gradcheck(lambda x, y: tapegrad.cdist(x, y, 1.5), (a, b))
    assert gradcheck(lambda x, y: tapegrad.cross(x, y[:2], dim=1), (a, b))
    assert gradcheck(lambda x, y: tapegrad.tensordot(x, y, 1), (a, b))


# ---------------------------------------------------------------- joining, splitting, arranging

ARRANGE = [
    ("atleast_1d", lambda L, x: L.atleast_1d(x[0, 0]), [_data((2, 2), 80)]),
    ("atleast_2d_many", lambda L, x: L.atleast_2d(x[0, 0], x[0], x), [_data((2, 2), 81)]),
    ("atleast_3d_list", lambda L, x: L.atleast_3d([x[0, 0], x[0], x]), [_data((2, 2), 82)]),
    ("hstack", lambda L, x, y: L.hstack([x, y]), [_data((2, 3), 83), _data((2, 1), 84)]),
    ("hstack_1d", lambda L, x, y: L.hstack((x, y)), [_data((3,), 85), _data((2,), 86)]),
    ("vstack", lambda L, x, y: L.vstack([x, y]), [_data((3,), 87), _data((2, 3), 88)]),
    ("row_stack", lambda L, x, y: L.row_stack([x, y]), [_data((3,), 89), _data((3,), 90)]),
    ("dstack", lambda L, x, y: L.dstack([x, y]), [_data((2, 3), 91), _data((2, 3, 2), 92)]),
    ("column_stack", lambda L, x, y: L.column_stack([x, y]), [_data((3,), 93), _data((3, 2), 94)]),
    ("meshgrid_ij", lambda L, x, y: L.meshgrid(x, y, indexing="ij"), [_data((3,), 95), _data((2,), 96)]),
    ("meshgrid_xy", lambda L, x, y, z: L.meshgrid([x, y, z], indexing="xy"), [_data((3,), 97), _data((2,), 98),
                                                                               _data((4,), 99)]),
    ("cartesian_prod", lambda L, x, y: L.cartesian_prod(x, y), [_data((3,), 100), _data((2,), 101)]),
    ("block_diag", lambda L, x, y, z: L.block_diag(x, y, z), [_data((2, 3), 102), _data((1,), 103),
                                                              _data((), 104)]),
    ("broadcast_tensors", lambda L, x, y: L.broadcast_tensors(x, y), [_data((2, 1), 105), _data((3,), 106)]),
    ("tensor_split_sections", lambda L, x: L.tensor_split(x, 3, 1), [_data((2, 7), 107)]),
    ("tensor_split_indices", lambda L, x: L.tensor_split(x, [1, 5, -1, 9], 1), [_data((2, 7), 108)]),
    ("hsplit", lambda L, x: L.hsplit(x, 2), [_data((3, 4), 109)]),
    ("vsplit", lambda L, x: L.vsplit(x, [1]), [_data((3, 4), 110)]),
    ("dsplit", lambda L, x: L.dsplit(x, 2), [_data((2, 1, 4), 111)]),
    ("rot90", lambda L, x: [L.rot90(x, k, (1, 2)) for k in (-1, 0, 1, 2, 3, 6)], [_data((2, 3, 4), 112)]),
    ("fliplr_flipud", lambda L, x: (L.fliplr(x), L.flipud(x)), [_data((3, 4), 113)]),
    ("unfold", lambda L, x: x.unfold(1, 3, 2), [_data((2, 8, 3), 114)]),
    ("unfold_last", lambda L, x: x.unfold(-1, 2, 1), [_data((3, 4), 115)]),
    ("sum_to_size", lambda L, x: x.sum_to_size(1, 4), [_data((3, 4), 116)]),
    ("ravel", lambda L, x: x.t().ravel(), [_data((3, 4), 117)]),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, call, arrays", ARRANGE, ids=[a[0] for a in ARRANGE])
def test_joining_splitting_and_arranging_match_torch(name: str, call: Callable, arrays: list) -> None:
    _compare(call, arrays)


@pytest.mark.torch
def test_broadcast_shapes_and_meshgrid_warning_match_torch() -> None:
    torch = pytest.importorskip("torch")
    for shapes in [((2, 1), (3,)), (5, (2, 1, 1)), ((), (4, 1), (1, 3))]:
        assert tuple(tapegrad.broadcast_shapes(*shapes)) == tuple(torch.broadcast_shapes(*shapes))
    texts = []
    for lib in (tapegrad, torch):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lib.meshgrid(lib.ones(2), lib.ones(3))
        texts.append([str(w.message).split(" (Triggered internally")[0] for w in caught])
    assert texts[0] == texts[1] and texts[0]


# ---------------------------------------------------------------- closeness and new tensors

@pytest.mark.torch
@pytest.mark.parametrize("options", [{}, dict(rtol=0, atol=0.1), dict(equal_nan=True), dict(rtol=0.5, atol=0)],
                         ids=str)
def test_isclose_and_allclose_match_torch(options: dict) -> None:
    torch = pytest.importorskip("torch")
    a = np.array([1.0, 2.0, np.inf, -np.inf, np.nan, 0.0, 1e-9, 5.0])
    b = np.array([1.0 + 1e-6, 2.1, np.inf, np.inf, np.nan, 1e-9, 0.0, 3.0])
    ours = tapegrad.isclose(tapegrad.tensor(a), tapegrad.tensor(b), **options)
    theirs = torch.isclose(torch.tensor(a), torch.tensor(b), **options)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert tapegrad.tensor(a).allclose(tapegrad.tensor(a), equal_nan=True)
    assert tapegrad.allclose(tapegrad.tensor(a[:2]), tapegrad.tensor(b[:2]), **options) == \
        torch.allclose(torch.tensor(a[:2]), torch.tensor(b[:2]), **options)
    ints = tapegrad.isclose(tapegrad.tensor([1, 2]), tapegrad.tensor([1, 3]))
    assert ints.tolist() == [True, False]


@pytest.mark.torch
def test_new_tensor_family_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    for lib in (tapegrad, torch):
        base = lib.ones(2, dtype=lib.float64)
        made = [base.new_zeros(2, 3), base.new_ones((1, 2)), base.new_full((2,), 7), base.new_empty(3).fill_(2),
                base.new_tensor([1, 2]), base.new_zeros(2, dtype=lib.int64), base.new_ones(1, requires_grad=True)]
        if lib is tapegrad:
            ours = [(tuple(t.shape), t.dtype.scalar_name, t.requires_grad, t.tolist()) for t in made]
        else:
            theirs = [(tuple(t.shape), {torch.float64: "Double", torch.int64: "Long"}[t.dtype], t.requires_grad,
                       t.tolist()) for t in made]
    assert ours == theirs
    x = tapegrad.ones(2)
    assert x.type_as(tapegrad.tensor([1])).dtype is tapegrad.int64 and x.ndimension() == 1
    assert x.is_signed() and not tapegrad.tensor([True]).is_signed() and not x.is_complex()
    assert x.is_same_size(tapegrad.zeros(2)) and not x.is_same_size(tapegrad.zeros(1, 2))


@pytest.mark.torch
@pytest.mark.parametrize("call", [
    lambda L: L.median(L.ones(2, 0), 1),
    lambda L: L.kthvalue(L.ones(3), 4),
    lambda L: L.quantile(L.ones(3), 1.5),
    lambda L: L.quantile(L.ones(3), L.ones(2, 2)),
    lambda L: L.quantile(L.ones(3, dtype=L.int64), 0.5),
    lambda L: L.quantile(L.ones(3), L.tensor([0.5], dtype=L.float64)),
    lambda L: L.quantile(L.ones(3), 0.5, interpolation="cubic"),
    lambda L: L.quantile(L.ones(0), 0.5),
    lambda L: L.nanmean(L.ones(3, dtype=L.int64)),
    lambda L: L.diff(L.tensor(1.0)),
    lambda L: L.tensordot(L.ones(2, 3), L.ones(2, 3), 1),
    lambda L: L.cdist(L.ones(3), L.ones(3)),
    lambda L: L.cdist(L.ones(2, 3), L.ones(2, 4)),
    lambda L: L.cross(L.ones(2, 2), L.ones(2, 2), dim=1),
    lambda L: L.rot90(L.ones(2, 2), 1, (0, 0)),
    lambda L: L.hsplit(L.ones(2, 5), 2),
    lambda L: L.vsplit(L.ones(5), 5),
    lambda L: L.tensor_split(L.ones(3), 0),
    lambda L: L.ones(3).sum_to_size(2),
    lambda L: L.isclose(L.ones(2), L.ones(2, dtype=L.float64)),
    lambda L: L.block_diag(L.ones(1, 1, 1)),
    lambda L: L.ones(4).unfold(0, 5, 1),
], ids=["median_empty", "kth_range", "q_range", "q_rank", "q_int_input", "q_dtype", "interpolation",
        "quantile_empty", "nanmean_int", "diff_0d", "tensordot_sizes", "cdist_rank", "cdist_columns",
        "cross_length", "rot90_dims", "hsplit_divisible", "vsplit_rank", "sections", "sum_to_size", "isclose_dtypes",
        "block_diag_rank", "unfold_size"])
def test_errors_match_torch(call: Callable) -> None:
    _raises_as_torch(call)

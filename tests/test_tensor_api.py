"""The Tensor API: creation, attributes and methods, repr strings, dtype promotion, seeding."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import tapegrad
from tapegrad.autograd import Variable


def np_of(t):
    return np.asarray(t.detach().numpy())


# ---------------------------------------------------------------- tensor(): dtype inference

INFERENCE_CASES = [
    (1, "int64", ()),
    (1.0, "float32", ()),
    (True, "bool", ()),
    ([1, 2], "int64", (2,)),
    ([[1.0, 2], [3, 4]], "float32", (2, 2)),
    ([1, 2.5], "float32", (2,)),
    ([True, False], "bool", (2,)),
    ([[[1], [2]]], "int64", (1, 2, 1)),
    ([], "float32", (0,)),
    (np.array([1, 2], dtype=np.int32), "int32", (2,)),
    (np.array([1, 2], dtype=np.int64), "int64", (2,)),
    (np.array([1.0, 2.0]), "float64", (2,)),
    (np.array([1.0, 2.0], dtype=np.float32), "float32", (2,)),
    (np.array([True]), "bool", (1,)),
    (np.float64(2.5), "float64", ()),
    (2 ** 40, "int64", ()),
]


@pytest.mark.parametrize("data,dtype_name,shape", INFERENCE_CASES,
                         ids=[repr(c[0])[:24] for c in INFERENCE_CASES])
def test_tensor_dtype_inference(data, dtype_name, shape):
    t = tapegrad.tensor(data)
    assert t.dtype is getattr(tapegrad, dtype_name)
    assert tuple(t.shape) == shape


@pytest.mark.parametrize("data,dtype_name,shape", INFERENCE_CASES,
                         ids=[repr(c[0])[:24] for c in INFERENCE_CASES])
def test_tensor_dtype_inference_matches_torch(data, dtype_name, shape):
    torch = pytest.importorskip("torch")
    assert str(torch.tensor(data).dtype) == f"torch.{dtype_name}"
    assert tuple(torch.tensor(data).shape) == shape


def test_tensor_copies_its_input():
    array = np.array([1.0, 2.0])
    t = tapegrad.tensor(array)
    array[0] = 9
    assert t.tolist() == [1.0, 2.0]
    source = tapegrad.tensor([1.0, 2.0])
    copy = tapegrad.tensor(source)
    source.add_(1)
    assert copy.tolist() == [1.0, 2.0]


def test_tensor_explicit_dtype_and_requires_grad():
    t = tapegrad.tensor([1, 2], dtype=tapegrad.float64, requires_grad=True)
    assert t.dtype is tapegrad.float64 and t.requires_grad and t.is_leaf
    assert tapegrad.tensor([1.7, -1.7], dtype=tapegrad.int64).tolist() == [1, -1]


def test_ragged_nested_list_raises():
    with pytest.raises((ValueError, TypeError)):
        tapegrad.tensor([[1, 2], [3]])


# ---------------------------------------------------------------- legacy constructors

def test_legacy_tensor_constructor_forms():
    t = tapegrad.Tensor(2, 3)
    assert tuple(t.shape) == (2, 3) and t.dtype is tapegrad.float32
    t = tapegrad.Tensor([1, 2])
    assert t.dtype is tapegrad.float32 and t.tolist() == [1.0, 2.0]
    t = tapegrad.Tensor()
    assert tuple(t.shape) == (0,) and t.dtype is tapegrad.float32
    assert isinstance(t, tapegrad.Tensor)
    t = tapegrad.Tensor([2])
    assert t.tolist() == [2.0]


def test_legacy_typed_constructors():
    assert tapegrad.FloatTensor([1, 2]).dtype is tapegrad.float32
    assert tapegrad.FloatTensor([[2, 3]]).tolist() == [[2.0, 3.0]]
    assert tapegrad.DoubleTensor([1]).dtype is tapegrad.float64
    assert tapegrad.LongTensor([1.5, 2.0]).tolist() == [1, 2]
    assert tapegrad.LongTensor([1]).dtype is tapegrad.int64
    assert tuple(tapegrad.FloatTensor(3).shape) == (3,)
    assert tuple(tapegrad.LongTensor(2, 2).shape) == (2, 2)


def test_legacy_constructors_match_torch():
    torch = pytest.importorskip("torch")
    for name, args in [("Tensor", (2, 3)), ("Tensor", ([1, 2],)), ("Tensor", ()),
                       ("FloatTensor", ([1, 2],)), ("DoubleTensor", ([1],)), ("LongTensor", ([1.5],))]:
        ours, theirs = getattr(tapegrad, name)(*args), getattr(torch, name)(*args)
        assert tuple(ours.shape) == tuple(theirs.shape)
        assert str(ours.dtype).split(".")[1] == str(theirs.dtype).split(".")[1]
        if args and isinstance(args[0], list):  # Tensor(2, 3) is uninitialised in torch
            assert ours.tolist() == theirs.tolist()


def test_variable_wrapper():
    base = tapegrad.Tensor([2])
    x = Variable(base, requires_grad=True)
    assert x.requires_grad and x.is_leaf
    y = (x + 2) ** 2 + 3
    y.backward()
    assert x.grad.tolist() == [8.0]
    n = Variable(tapegrad.zeros([1, 2]))
    assert not n.requires_grad and n.tolist() == [[0.0, 0.0]]


# ---------------------------------------------------------------- filled tensors

def test_zeros_ones_full_empty():
    assert tapegrad.zeros(2, 3).tolist() == [[0.0] * 3] * 2
    assert tapegrad.zeros((2, 3)).shape == (2, 3)
    assert tapegrad.zeros([1, 2]).shape == (1, 2)
    assert tapegrad.ones(2, dtype=tapegrad.int64).tolist() == [1, 1]
    assert tapegrad.zeros(2).dtype is tapegrad.float32
    assert tapegrad.full((2, 2), 7).dtype is tapegrad.int64
    assert tapegrad.full((2, 2), 7.5).tolist() == [[7.5, 7.5], [7.5, 7.5]]
    assert tapegrad.full((2,), True).dtype is tapegrad.bool
    assert tapegrad.empty(3, 2).shape == (3, 2)
    assert tapegrad.zeros(0, 3).numel() == 0
    assert tapegrad.zeros(()).shape == ()
    assert tapegrad.ones(2, requires_grad=True).requires_grad


def test_like_constructors():
    base = tapegrad.tensor([[1, 2, 3]], dtype=tapegrad.float64)
    for fn in (tapegrad.zeros_like, tapegrad.ones_like, tapegrad.empty_like):
        t = fn(base)
        assert t.shape == (1, 3) and t.dtype is tapegrad.float64
    assert tapegrad.zeros_like(base).tolist() == [[0.0, 0.0, 0.0]]
    assert tapegrad.ones_like(base, dtype=tapegrad.int64).tolist() == [[1, 1, 1]]
    assert tapegrad.full_like(base, 4).tolist() == [[4.0, 4.0, 4.0]]
    assert tapegrad.full_like(base, 4).dtype is tapegrad.float64
    assert tapegrad.rand_like(base).shape == (1, 3)
    assert tapegrad.randn_like(base).dtype is tapegrad.float64


def test_filled_tensor_dtypes_match_torch():
    torch = pytest.importorskip("torch")
    for name, args in [("zeros", (2,)), ("ones", (2,)), ("empty", (2,))]:
        assert str(getattr(tapegrad, name)(*args).dtype)[9:] == str(getattr(torch, name)(*args).dtype)[6:]
    for value in (7, 7.5, True):
        assert str(tapegrad.full((2,), value).dtype)[9:] == str(torch.full((2,), value).dtype)[6:]


# ---------------------------------------------------------------- ranges

ARANGE_CASES = [
    ((5,), {}, [0, 1, 2, 3, 4], "int64"),
    ((2, 8, 3), {}, [2, 5], "int64"),
    ((5, 0, -1), {}, [5, 4, 3, 2, 1], "int64"),
    ((4.0,), {}, [0.0, 1.0, 2.0, 3.0], "float32"),
    ((0, 1, 0.25), {}, [0.0, 0.25, 0.5, 0.75], "float32"),
    ((1.0, 0.0, -0.5), {}, [1.0, 0.5], "float32"),
    ((3,), {"dtype": "float64"}, [0.0, 1.0, 2.0], "float64"),
    ((0,), {}, [], "int64"),
]


@pytest.mark.parametrize("args,kwargs,expected,dtype_name", ARANGE_CASES)
def test_arange(args, kwargs, expected, dtype_name):
    kwargs = {k: getattr(tapegrad, v) for k, v in kwargs.items()}
    t = tapegrad.arange(*args, **kwargs)
    assert t.dtype is getattr(tapegrad, dtype_name)
    np.testing.assert_allclose(t.numpy(), np.array(expected, dtype=np.float64), rtol=1e-6)
    assert t.numel() == len(expected)


@pytest.mark.parametrize("args,kwargs,expected,dtype_name", ARANGE_CASES)
def test_arange_matches_torch(args, kwargs, expected, dtype_name):
    torch = pytest.importorskip("torch")
    t = tapegrad.arange(*args, **{k: getattr(tapegrad, v) for k, v in kwargs.items()})
    tt = torch.arange(*args, **{k: getattr(torch, v) for k, v in kwargs.items()})
    assert t.tolist() == tt.tolist()
    assert str(tt.dtype) == f"torch.{dtype_name}"


def test_arange_negative_step_float_matches_torch():
    torch = pytest.importorskip("torch")
    assert tapegrad.arange(1.0, 0.0, -0.3).tolist() == torch.arange(1.0, 0.0, -0.3).tolist()
    assert tapegrad.arange(10, -3, -4).tolist() == torch.arange(10, -3, -4).tolist() == [10, 6, 2, -2]


def test_arange_bad_step_raises():
    with pytest.raises(RuntimeError):
        tapegrad.arange(0, 5, 0)
    with pytest.raises(RuntimeError):
        tapegrad.arange(0, 5, -1)


def test_linspace_and_eye():
    assert tapegrad.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert tapegrad.linspace(-1, 1, 1).tolist() == [-1.0]
    assert tapegrad.linspace(0, 1, 0).numel() == 0
    assert tapegrad.linspace(0, 10, 3).dtype is tapegrad.float32
    assert tapegrad.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert tapegrad.eye(2, 3).tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    assert tapegrad.eye(2, dtype=tapegrad.int64).dtype is tapegrad.int64


def test_linspace_matches_torch():
    torch = pytest.importorskip("torch")
    for args in [(0, 1, 7), (-3.5, 2.25, 11), (5, -5, 4), (0, 1, 1)]:
        np.testing.assert_allclose(tapegrad.linspace(*args).numpy(), torch.linspace(*args).numpy(),
                                   rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- random

def test_seeded_random_values_without_torch():
    tapegrad.manual_seed(0)
    np.testing.assert_array_equal(
        tapegrad.rand(3).numpy(),
        np.array([0.49625658988952637, 0.7682217955589294, 0.08847743272781372], np.float32))
    tapegrad.manual_seed(0)
    np.testing.assert_array_equal(
        tapegrad.randn(4).numpy(),
        np.array([1.5409960746765137, -0.293428897857666, -2.1787893772125244, 0.5684312582015991],
                 np.float32))
    tapegrad.manual_seed(42)
    assert tapegrad.randint(0, 10, (6,)).tolist() == [2, 7, 6, 4, 6, 5]
    assert tapegrad.randperm(7).tolist() == [5, 3, 2, 4, 0, 1, 6]


def test_seeded_random_streams_match_torch():
    torch = pytest.importorskip("torch")
    for seed in (0, 42, 12345):
        draws = []
        for lib in (tapegrad, torch):
            lib.manual_seed(seed)
            draws.append([lib.rand(5), lib.randn(3, 2), lib.randint(0, 10, (6,)), lib.randperm(7),
                          lib.randn(20, dtype=lib.float64), lib.rand(3, dtype=lib.float64),
                          lib.randint(-5, 5, (2, 3)), lib.randn(17), lib.rand(2, 9)])
        for ours, theirs in zip(*draws):
            assert ours.shape == tuple(theirs.shape)
            assert str(ours.dtype)[9:] == str(theirs.dtype)[6:]
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_manual_seed_repeats_stream():
    tapegrad.manual_seed(7)
    a = tapegrad.randn(5).tolist()
    tapegrad.manual_seed(7)
    assert tapegrad.randn(5).tolist() == a
    assert tapegrad.randn(5).tolist() != a


def test_random_shapes_and_ranges():
    tapegrad.manual_seed(3)
    u = tapegrad.rand(1000)
    assert 0 <= u.min().item() and u.max().item() < 1
    r = tapegrad.randint(3, 6, (500,))
    assert r.dtype is tapegrad.int64 and set(r.tolist()) == {3, 4, 5}
    assert sorted(tapegrad.randperm(10).tolist()) == list(range(10))
    assert tapegrad.randn(2, 3, requires_grad=True).requires_grad


# ---------------------------------------------------------------- from_numpy / numpy / __array__

def test_from_numpy_shares_memory():
    array = np.array([1.0, 2.0, 3.0])
    t = tapegrad.from_numpy(array)
    assert t.dtype is tapegrad.float64
    array[0] = 10
    assert t.tolist()[0] == 10.0
    t.mul_(2)
    assert array.tolist() == [20.0, 4.0, 6.0]
    assert tapegrad.from_numpy(np.arange(3, dtype=np.int32)).dtype is tapegrad.int32


def test_from_numpy_rejects_non_arrays():
    with pytest.raises(TypeError):
        tapegrad.from_numpy([1, 2])


def test_numpy_shares_memory_and_raises_when_requires_grad():
    t = tapegrad.tensor([1.0, 2.0])
    a = t.numpy()
    a[1] = 5
    assert t.tolist() == [1.0, 5.0]
    x = tapegrad.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0]


def test_numpy_requires_grad_error_type_matches_torch():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="requires grad"):
        torch.tensor([1.0], requires_grad=True).numpy()


def test_array_protocol():
    t = tapegrad.tensor([[1, 2], [3, 4]])
    a = np.asarray(t)
    assert a.dtype == np.int64 and a.tolist() == [[1, 2], [3, 4]]
    assert np.array(t, dtype=np.float32).dtype == np.float32
    assert np.asarray(t).sum() == 10
    assert np.add(np.asarray(tapegrad.tensor([1.0])), 1).tolist() == [2.0]


# ---------------------------------------------------------------- attributes and methods

def test_shape_size_dim_numel():
    t = tapegrad.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
    assert repr(t.shape) == "tapegrad.Size([2, 3, 4])"
    assert t.size() == (2, 3, 4)
    assert t.size(1) == 3 and t.size(-1) == 4
    assert t.dim() == 3 and t.ndim == 3
    assert t.numel() == 24
    assert tapegrad.tensor(5.0).dim() == 0 and tapegrad.tensor(5.0).numel() == 1
    assert len(t) == 2


def test_dtype_device_and_T():
    t = tapegrad.tensor([[1.0, 2.0, 3.0]])
    assert t.dtype is tapegrad.float32
    assert str(t.device) == "cpu"
    assert t.T.shape == (3, 1)
    assert t.T.tolist() == [[1.0], [2.0], [3.0]]
    cube = tapegrad.zeros(2, 3, 4)
    with pytest.warns(UserWarning, match="deprecated"):  # as PyTorch warns off matrices
        assert cube.T.shape == (4, 3, 2)


def test_item_and_tolist():
    assert tapegrad.tensor(2.5).item() == 2.5
    assert tapegrad.tensor([7]).item() == 7
    assert isinstance(tapegrad.tensor([7]).item(), int)
    assert isinstance(tapegrad.tensor(True).item(), bool)
    assert tapegrad.tensor([[1, 2]]).tolist() == [[1, 2]]
    assert tapegrad.tensor(3.0).tolist() == 3.0


def test_data_grad_requires_grad_is_leaf_attributes():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    assert x.grad is None and x.requires_grad and x.is_leaf
    assert x.data.tolist() == [1.0, 2.0] and not x.data.requires_grad
    y = x * 2
    assert not y.is_leaf and y.requires_grad


def test_clone_copies_and_is_differentiable():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.grad_fn.name() == "CloneBackward0"
    c.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    d = tapegrad.tensor([1.0, 2.0])
    e = d.clone()
    e.add_(1)
    assert d.tolist() == [1.0, 2.0]


def test_contiguous():
    t = tapegrad.arange(6).reshape(2, 3)
    assert t.contiguous() is t
    tt = t.t()
    assert not tt.is_contiguous()
    c = tt.contiguous()
    assert c.is_contiguous() and c.tolist() == tt.tolist()


# ---------------------------------------------------------------- 0-d results of full reductions

DATA = np.array([1.0, 2.0, 4.0, 8.0], dtype=np.float32)
REDUCTIONS = {
    "sum": 15.0, "mean": 3.75, "max": 8.0, "min": 1.0, "prod": 64.0, "amax": 8.0,
    "std": float(np.std(DATA, ddof=1)), "var": float(np.var(DATA, ddof=1)), "norm": float(np.sqrt(85.0)),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_full_reduction_result_is_an_ordinary_zero_dim_tensor(name):
    x = tapegrad.tensor(DATA)
    r = getattr(x, name)()
    assert r.shape == () and r.dtype is tapegrad.float32
    assert r.item() == pytest.approx(REDUCTIONS[name], rel=1e-6)
    assert isinstance(r.numpy(), np.ndarray) and r.numpy().shape == ()
    assert (r + 1).item() == pytest.approx(REDUCTIONS[name] + 1, rel=1e-6)
    assert r.exp().item() == pytest.approx(np.exp(REDUCTIONS[name]), rel=1e-5)
    assert (r * x).shape == (4,)
    r.add_(1)
    assert r.item() == pytest.approx(REDUCTIONS[name] + 1, rel=1e-6)


def test_mean_result_supports_arithmetic_and_inplace():
    x = tapegrad.tensor([1.0, 2.0, 3.0, 6.0])
    m = x.mean()
    assert m.item() == 3.0
    assert (m + 1).item() == 4.0
    assert m.exp().item() == pytest.approx(np.exp(3.0), rel=1e-6)
    assert isinstance(m.numpy(), np.ndarray)
    m.mul_(2)
    assert m.item() == 6.0


def test_mean_result_matches_torch():
    torch = pytest.importorskip("torch")
    for lib in (tapegrad, torch):
        m = lib.tensor([1.0, 2.0, 3.0, 6.0]).mean()
        assert (m + 1).item() == 4.0
        assert m.exp().item() == pytest.approx(np.exp(3.0), rel=1e-6)
        m.mul_(2)
        assert m.item() == 6.0


# ---------------------------------------------------------------- conversions

def test_conversions():
    t = tapegrad.tensor([1.7, -2.2])
    assert t.to(tapegrad.float64).dtype is tapegrad.float64
    assert t.double().dtype is tapegrad.float64
    assert t.long().tolist() == [1, -2]
    assert t.long().dtype is tapegrad.int64
    assert tapegrad.tensor([1, 2]).float().dtype is tapegrad.float32
    assert t.to(tapegrad.float32) is t
    assert t.float() is t
    assert t.to("cpu") is t


def test_conversion_is_differentiable():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = x.double()
    assert y.grad_fn.name() == "ToCopyBackward0"
    (y * y).sum().backward()
    assert x.grad.dtype is tapegrad.float32
    assert x.grad.tolist() == [2.0, 4.0]


# ---------------------------------------------------------------- repr

REPR_CASES = [
    (lambda lib: lib.tensor([1.0, 2.0], requires_grad=True), "tensor([1., 2.], requires_grad=True)"),
    (lambda lib: lib.tensor([1.0, 2.0], dtype=lib.float64), "tensor([1., 2.], dtype={}.float64)"),
    (lambda lib: lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True),
     "tensor([1., 2.], dtype={}.float64, requires_grad=True)"),
    (lambda lib: lib.tensor([1, 2]), "tensor([1, 2])"),
    (lambda lib: lib.tensor([1, 2], dtype=lib.int32), "tensor([1, 2], dtype={}.int32)"),
    (lambda lib: lib.tensor(3.5), "tensor(3.5000)"),
    (lambda lib: lib.tensor([True, False]), "tensor([ True, False])"),
    (lambda lib: lib.tensor([1.0, 2.0], requires_grad=True) * 2, "tensor([2., 4.], grad_fn=<MulBackward0>)"),
    (lambda lib: lib.tensor([[0.5, 2.0], [3.0, 4.25]]), "tensor([[0.5000, 2.0000],\n        [3.0000, 4.2500]])"),
    (lambda lib: lib.zeros(0), "tensor([])"),
]


@pytest.mark.parametrize("make,expected", REPR_CASES, ids=[c[1][:30] for c in REPR_CASES])
def test_repr(make, expected):
    assert repr(make(tapegrad)) == expected.format("tapegrad")


@pytest.mark.parametrize("make,expected", REPR_CASES, ids=[c[1][:30] for c in REPR_CASES])
def test_repr_matches_torch(make, expected):
    torch = pytest.importorskip("torch")
    assert repr(make(torch)) == expected.format("torch")


def test_copy_slices_repr():
    x = tapegrad.tensor([2.0, 3.0], requires_grad=True)
    k = tapegrad.zeros(2)
    k[0] = x[0] ** 2
    k[1] = x[1] ** 2
    assert repr(k) == "tensor([4., 9.], grad_fn=<CopySlices>)"
    assert str(k) == repr(k)


# ---------------------------------------------------------------- dtype promotion

DTYPE_NAMES = ["float32", "float64", "int32", "int64", "bool"]


def _operand(lib, name, zero_dim):
    values = [1, 0] if name == "bool" else [2, 3]
    return lib.tensor(values[0] if zero_dim else values, dtype=getattr(lib, name))


def _name(dtype) -> str:
    return str(dtype).split(".")[1]


# PyTorch's result types for tensor + tensor of the same rank class (both with dims).
PROMOTION_TABLE = {
    ("float32", "float64"): "float64", ("float32", "int32"): "float32", ("float32", "int64"): "float32",
    ("float32", "bool"): "float32", ("float64", "int32"): "float64", ("float64", "int64"): "float64",
    ("float64", "bool"): "float64", ("int32", "int64"): "int64", ("int32", "bool"): "int32",
    ("int64", "bool"): "int64",
}


def _expected(a: str, b: str) -> str:
    return a if a == b else PROMOTION_TABLE.get((a, b)) or PROMOTION_TABLE[(b, a)]


@pytest.mark.parametrize("a,b", list(itertools.product(DTYPE_NAMES, DTYPE_NAMES)))
def test_promotion_between_tensors_with_dims(a, b):
    result = (_operand(tapegrad, a, False) + _operand(tapegrad, b, False)).dtype
    assert _name(result) == _expected(a, b)


@pytest.mark.parametrize("zero_a,zero_b", [(False, True), (True, False), (True, True)])
@pytest.mark.parametrize("a,b", list(itertools.product(DTYPE_NAMES, DTYPE_NAMES)))
def test_promotion_with_zero_dim_tensors_matches_torch(a, b, zero_a, zero_b):
    torch = pytest.importorskip("torch")
    ours = (_operand(tapegrad, a, zero_a) + _operand(tapegrad, b, zero_b)).dtype
    theirs = torch.result_type(_operand(torch, a, zero_a), _operand(torch, b, zero_b))
    assert _name(ours) == _name(theirs)
    assert _name((_operand(torch, a, zero_a) + _operand(torch, b, zero_b)).dtype) == _name(theirs)


@pytest.mark.parametrize("a,b", list(itertools.product(DTYPE_NAMES, DTYPE_NAMES)))
def test_promotion_between_tensors_matches_torch(a, b):
    torch = pytest.importorskip("torch")
    ours = (_operand(tapegrad, a, False) * _operand(tapegrad, b, False)).dtype
    theirs = torch.result_type(_operand(torch, a, False), _operand(torch, b, False))
    assert _name(ours) == _name(theirs)


def test_promotion_zero_dim_without_torch():
    f32 = tapegrad.tensor([1.0, 2.0])
    i64 = tapegrad.tensor([1, 2])
    # A 0-d tensor of the same category does not widen a tensor with dims ...
    assert (f32 + tapegrad.tensor(1.0, dtype=tapegrad.float64)).dtype is tapegrad.float32
    assert (tapegrad.tensor([1, 2], dtype=tapegrad.int32) + tapegrad.tensor(5)).dtype is tapegrad.int32
    # ... but a higher category wins, keeping the 0-d tensor's own dtype.
    assert (i64 + tapegrad.tensor(1.0, dtype=tapegrad.float64)).dtype is tapegrad.float64
    assert (tapegrad.tensor([True]) + tapegrad.tensor(3, dtype=tapegrad.int32)).dtype is tapegrad.int32
    # Two 0-d tensors promote normally.
    assert (tapegrad.tensor(1.0) + tapegrad.tensor(1.0, dtype=tapegrad.float64)).dtype is tapegrad.float64


SCALARS = [2, 2.5, True]


@pytest.mark.parametrize("scalar", SCALARS, ids=["int", "float", "bool"])
@pytest.mark.parametrize("zero_dim", [False, True], ids=["dims", "0-d"])
@pytest.mark.parametrize("a", DTYPE_NAMES)
def test_promotion_with_python_scalars_matches_torch(a, zero_dim, scalar):
    torch = pytest.importorskip("torch")
    ours = (_operand(tapegrad, a, zero_dim) + scalar).dtype
    reflected = (scalar + _operand(tapegrad, a, zero_dim)).dtype
    theirs = torch.result_type(_operand(torch, a, zero_dim), scalar)
    assert _name(ours) == _name(reflected) == _name(theirs)


def test_promotion_with_python_scalars_without_torch():
    assert (tapegrad.tensor([1, 2]) + 2.5).dtype is tapegrad.float32
    assert (tapegrad.tensor([1, 2], dtype=tapegrad.int32) + 2).dtype is tapegrad.int32
    assert (tapegrad.tensor([True]) + 2).dtype is tapegrad.int64
    assert (tapegrad.tensor([True]) + True).dtype is tapegrad.bool
    assert (tapegrad.tensor([1.0], dtype=tapegrad.float64) + 2.5).dtype is tapegrad.float64
    assert (tapegrad.tensor([1, 2]) / 2).dtype is tapegrad.float32
    assert (tapegrad.tensor([1, 2]) / tapegrad.tensor([2, 4])).tolist() == [0.5, 0.5]


def test_comparison_results_are_bool():
    t = tapegrad.tensor([1.0, 2.0])
    assert (t > 1).dtype is tapegrad.bool
    assert (t == tapegrad.tensor([1.0, 0.0])).tolist() == [True, False]


# ------------------------------------------------------------------ NumPy operands, out=, int range

@pytest.mark.parametrize("scalar", [np.float64(2.0), np.float32(2.0), np.int64(2), np.bool_(True)])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "pow"])
def test_numpy_scalar_on_the_left_gives_a_tensor_with_history(scalar, op):
    import operator

    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    if op == "pow" and isinstance(scalar, np.bool_):
        return
    out = getattr(operator, op)(scalar, x)
    assert isinstance(out, tapegrad.Tensor) and out.requires_grad and out.dtype == tapegrad.float32
    expected = getattr(operator, op)(float(scalar), x)
    np.testing.assert_array_equal(out.detach().numpy(), expected.detach().numpy())


def test_numpy_array_on_the_left_is_refused():
    with pytest.raises(TypeError):
        np.ones(2) * tapegrad.ones(2, requires_grad=True)


@pytest.mark.parametrize("factory, fill", [(tapegrad.zeros, 0.0), (tapegrad.ones, 1.0), (tapegrad.empty, None)])
def test_factories_write_into_out(factory, fill):
    out = tapegrad.full((3,), 7.0)
    version = out._version
    assert factory(3, out=out) is out
    assert out.tolist() == [7.0] * 3 if fill is None else out.tolist() == [fill] * 3
    assert out._version > version or fill is None
    integers = tapegrad.empty(0, dtype=tapegrad.int64)
    factory(2, 2, out=integers)
    assert integers.shape == (2, 2) and integers.dtype == tapegrad.int64
    with pytest.warns(UserWarning, match=r"resized since it had shape \[3\]"):
        factory(2, out=out)
    assert out.shape == (2,)
    with pytest.raises(RuntimeError, match=r"dtype Double does not match dtype of out parameter \(Float\)"):
        factory(2, dtype=tapegrad.float64, out=out)
    with pytest.raises(RuntimeError, match="functions with out=... arguments don't support automatic differentiation"):
        factory(2, out=tapegrad.ones(2, requires_grad=True))
    with pytest.raises(TypeError, match="argument 'out' must be Tensor, not list"):
        factory(2, out=[0.0, 0.0])


@pytest.mark.parametrize("data, dtype, error, message", [
    (2 ** 63, None, ValueError, "Overflow when unpacking long long"),
    ([1, 2 ** 63], None, ValueError, "Overflow when unpacking long long"),
    ([[1, 2], [3, -2 ** 64]], None, ValueError, "Overflow when unpacking long long"),
    ([2 ** 40], tapegrad.int32, RuntimeError, "value cannot be converted to type int32 without overflow"),
    ([float("nan")], tapegrad.int64, RuntimeError, "value cannot be converted to type int64 without overflow"),
    ([None], None, TypeError, "Could not infer dtype"),
])
def test_tensor_refuses_numbers_its_dtype_cannot_hold(data, dtype, error, message):
    with pytest.raises(error, match=message):
        tapegrad.tensor(data, dtype=dtype)


def test_tensor_of_floats_and_huge_ints_is_float_and_large_floats_overflow_to_inf():
    assert tapegrad.tensor([1.0, 2 ** 64]).tolist() == [1.0, float(np.float32(2.0 ** 64))]
    with np.errstate(all="raise"):
        assert tapegrad.tensor([1e300, 2.0]).tolist() == [float("inf"), 2.0]
    assert tapegrad.tensor(2 ** 63 - 1).item() == 2 ** 63 - 1
    assert tapegrad.tensor([2.7], dtype=tapegrad.int64).tolist() == [2]


@pytest.mark.parametrize("call, expected", [
    (lambda: tapegrad.randint(5, (3,)), [4, 4, 3]),
    (lambda: tapegrad.randint(5, size=(3,)), [4, 4, 3]),
    (lambda: tapegrad.randint(high=5, size=(3,)), [4, 4, 3]),
    (lambda: tapegrad.randint(2, 5, (3,)), [4, 2, 4]),
    (lambda: tapegrad.randint(low=2, high=5, size=(3,)), [4, 2, 4]),
    (lambda: tapegrad.randint(2, high=9, size=(3,)), [6, 5, 2]),
    (lambda: tapegrad.randint(3, 10, tapegrad.Size([2])), [7, 6]),
])
def test_randint_positional_and_keyword_forms(call, expected):
    # The values PyTorch draws after manual_seed(0) (tapegrad reproduces its stream).
    tapegrad.manual_seed(0)
    assert call().tolist() == expected


def test_randint_refuses_a_third_bound():
    with pytest.raises(TypeError, match="invalid combination of arguments"):
        tapegrad.randint(1, 2, 3, (2,))
    with pytest.raises(TypeError, match="missing required arguments"):
        tapegrad.randint(5)


def test_reflected_remainder_and_equality_with_none():
    t = tapegrad.tensor([2, 4])
    assert (3 % t).tolist() == [1, 3] and (3 % t).dtype == tapegrad.int64
    x = tapegrad.tensor([1.5, -2.0], requires_grad=True)
    r = 7.5 % x
    r.sum().backward()
    assert r.tolist() == [0.0, -0.5] and x.grad.tolist() == [-5.0, 4.0]  # -floor(7.5 / x)
    assert (t == None) is False and (t != None) is True  # noqa: E711 - the comparison under test


def test_full_with_numpy_scalars_takes_torchs_dtypes():
    assert tapegrad.full((2,), np.int64(3)).dtype == tapegrad.int64
    assert tapegrad.full((2,), np.int32(3)).dtype == tapegrad.int64
    assert tapegrad.full((2,), np.float64(3)).dtype == tapegrad.float32
    assert tapegrad.full((2,), np.bool_(True)).dtype == tapegrad.float32

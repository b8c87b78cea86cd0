"""Smaller pieces of PyTorch's Tensor surface: ``_version`` as an int, ``Size`` arithmetic,
the legacy type classes (``isinstance(t, FloatTensor)``), ``Tensor.new``, storage queries,
``apply_``/``map_``, ``as_subclass``, and the errors of order statistics of bool tensors.
Each is checked by hand and, where PyTorch is installed, against it."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import tapegrad

try:
    import torch
except ImportError:  # PyTorch is an optional test dependency
    torch = None

LIBS = [tapegrad] + ([torch] if torch is not None else [])
needs_torch = pytest.mark.skipif(torch is None, reason="compares with PyTorch")


# ---------------------------------------------------------------- _version

@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_version_is_an_int_shared_with_views_and_bumped_by_in_place_ops(lib) -> None:
    x = lib.zeros(3)
    view = x[1:]
    assert type(x._version) is int and x._version == 0
    x.add_(1)
    view.mul_(2)
    assert x._version == view._version == 2
    assert (x + 1)._version == 0  # an out-of-place result starts its own count


# ---------------------------------------------------------------- Size

@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_size_slices_sums_and_repeats_are_sizes(lib) -> None:
    shape = lib.zeros(2, 3, 4).shape
    for result, expected in [(shape[1:], (3, 4)), (shape[::2], (2, 4)), (shape + (5,), (2, 3, 4, 5)),
                             ((1,) + shape, (1, 2, 3, 4)), (shape * 2, (2, 3, 4) * 2), (2 * shape[:1], (2, 2))]:
        assert type(result) is lib.Size and result == expected
    assert type(shape[0]) is int and shape[-1] == 4
    assert lib.Size([np.int64(2), 3]) == (2, 3)
    with pytest.raises(TypeError, match=r"Size\(\) takes an iterable of 'int' \(item 1 is 'float'\)"):
        lib.Size([2, 2.5])


def test_size_repr_of_a_slice_is_a_size_repr() -> None:
    assert repr(tapegrad.zeros(2, 3).shape[1:]) == "tapegrad.Size([3])"


# ---------------------------------------------------------------- legacy types and Tensor.new

@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_isinstance_of_a_legacy_type_checks_dtype(lib) -> None:
    f, d, i, b = lib.zeros(2), lib.zeros(2, dtype=lib.float64), lib.tensor([1, 2]), lib.tensor([True])
    assert isinstance(f, lib.FloatTensor) and not isinstance(f, lib.DoubleTensor)
    assert isinstance(d, lib.DoubleTensor) and not isinstance(d, lib.FloatTensor)
    assert isinstance(i, lib.LongTensor) and not isinstance(i, lib.IntTensor)
    assert isinstance(i.int(), lib.IntTensor) and isinstance(b, lib.BoolTensor)
    assert not isinstance(np.zeros(2, np.float32), lib.FloatTensor)
    assert lib.FloatTensor([1, 2]).dtype == lib.float32 and lib.LongTensor(2, 3).shape == (2, 3)


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_tensor_of_a_size_is_uninitialised_of_that_shape_and_of_a_tuple_is_data(lib) -> None:
    assert lib.Tensor(lib.Size([2, 3])).shape == (2, 3)
    assert lib.Tensor((2, 3)).tolist() == [2.0, 3.0]


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_new_keeps_the_dtype_for_data_sizes_and_nothing(lib) -> None:
    t = lib.zeros(1, dtype=lib.float64)
    from_data = t.new([1, 2])
    assert from_data.dtype == lib.float64 and from_data.tolist() == [1.0, 2.0]
    assert t.new(2, 3).shape == (2, 3) and t.new(2, 3).dtype == lib.float64
    assert t.new(lib.Size([4])).shape == (4,) and t.new().shape == (0,)
    with pytest.raises(TypeError):
        t.new(lib.tensor([1, 2]))  # a tensor of another dtype


# ---------------------------------------------------------------- storage queries

@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_storage_offset_dim_order_and_memory_flags(lib) -> None:
    z = lib.zeros(4, 3)
    assert z.storage_offset() == 0 and z[1:, 1].storage_offset() == 4 and z.t()[1].storage_offset() == 1
    assert lib.zeros(2, 3, 4).permute(2, 0, 1).dim_order() == (1, 2, 0)
    assert z.dim_order() == (0, 1)
    assert z.is_shared() is False and z.is_pinned() is False


# ---------------------------------------------------------------- apply_ and map_

@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_apply_and_map_replace_each_element_and_cast_to_the_dtype(lib) -> None:
    ints = lib.tensor([1, 2, -3])
    assert ints.apply_(lambda v: v * 2.7) is ints and ints.tolist() == [2, 5, -8]
    grid = lib.tensor([[1.0, 2.0], [3.0, 4.0]])
    grid.t().apply_(lambda v: v + 0.5)  # through a non-contiguous view
    assert grid.tolist() == [[1.5, 2.5], [3.5, 4.5]]
    pairs = lib.tensor([[1.0, 2.0], [3.0, 4.0]])
    pairs.map_(lib.tensor([10.0, 100.0]), lambda a, b: a * b)  # the other broadcast
    assert pairs.tolist() == [[10.0, 200.0], [30.0, 400.0]]


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_apply_refuses_grad_and_bad_callables_and_leaves_the_tensor_unchanged(lib) -> None:
    with pytest.raises(RuntimeError, match=r"Can't call apply_\(\) on Variable that requires grad"):
        lib.ones(2, requires_grad=True).apply_(lambda v: v)
    with pytest.raises(RuntimeError, match=r"Can't call map_\(\) on Variable that requires grad"):
        (lib.ones(2, requires_grad=True) * 1).map_(lib.ones(2), lambda a, b: a)
    t = lib.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="'int' object is not callable"):
        t.apply_(3)
    with pytest.raises(TypeError, match="must be real number, not str"):
        t.apply_(lambda v: "a" if v > 1 else v)
    assert t.tolist() == [1.0, 2.0]


# ---------------------------------------------------------------- as_subclass

@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_as_subclass_aliases_the_buffer_and_keeps_the_history(lib) -> None:
    class Marked(lib.Tensor):
        pass

    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = a.as_subclass(Marked)
    assert type(b) is Marked and b.data_ptr() == a.data_ptr() and b.requires_grad
    assert b.grad_fn.name() == "AliasBackward0"
    (b * lib.tensor([3.0, 4.0])).sum().backward()
    assert a.grad.tolist() == [3.0, 4.0]
    with pytest.raises(TypeError, match="does not inherit from Tensor"):
        a.as_subclass(int)


# ---------------------------------------------------------------- bool inputs of order statistics

BOOL_REFUSALS = [
    ("argmax", lambda b: b.argmax(), RuntimeError, r"argmax\(\): does not support bool input"),
    ("argmin", lambda b: b.argmin(0), RuntimeError, r"argmin\(\): does not support bool input"),
    ("topk", lambda b: b.topk(1), RuntimeError, "topk does not support bool dtypes"),
    ("kthvalue", lambda b: b.kthvalue(1), NotImplementedError, "\"kthvalue_cpu\" not implemented for 'Bool'"),
    ("median", lambda b: b.median(), NotImplementedError, "\"median_cpu\" not implemented for 'Bool'"),
    ("median_dim", lambda b: b.median(0), NotImplementedError, "\"median_out\" not implemented for 'Bool'"),
    ("nanmedian", lambda b: b.nanmedian(), NotImplementedError, "\"median_cpu\" not implemented for 'Bool'"),
]


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("name,call,error,message", BOOL_REFUSALS, ids=[c[0] for c in BOOL_REFUSALS])
def test_order_statistics_of_bool_tensors_raise_pytorchs_errors(lib, name, call, error, message) -> None:
    with pytest.raises(error, match=message):
        call(lib.tensor([True, False]))


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_bool_max_sort_and_mode_still_work(lib) -> None:
    b = lib.tensor([False, True, True])
    assert b.max().item() is True and b.sort().values.tolist() == [False, True, True]
    assert b.mode().values.item() is True


# ---------------------------------------------------------------- memory formats

@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_channels_last_copies_keep_values_and_shape_and_put_channels_innermost(lib) -> None:
    x = lib.arange(120.0).reshape(2, 3, 4, 5)
    y = x.contiguous(memory_format=lib.channels_last)
    assert y.shape == x.shape and y.stride() == (60, 1, 15, 3) and bool((y == x).all())
    assert not y.is_contiguous() and y.is_contiguous(memory_format=lib.channels_last)
    assert y.contiguous(memory_format=lib.channels_last) is y
    assert y.contiguous().stride() == (60, 20, 5, 1)
    assert y.clone().stride() == (60, 1, 15, 3)  # preserve_format, the default, keeps it
    assert y.clone(memory_format=lib.contiguous_format).stride() == (60, 20, 5, 1)
    assert lib.zeros_like(y).stride() == lib.empty_like(y).stride() == (60, 1, 15, 3)
    assert lib.ones_like(x, memory_format=lib.channels_last).stride() == (60, 1, 15, 3)
    assert lib.empty(2, 3, 4, 5, memory_format=lib.channels_last).stride() == (60, 1, 15, 3)
    assert x.to(memory_format=lib.channels_last).stride() == (60, 1, 15, 3)
    assert x.to(lib.float64, memory_format=lib.channels_last).dtype == lib.float64
    volume = lib.zeros(2, 3, 4, 5, 6).contiguous(memory_format=lib.channels_last_3d)
    assert volume.stride() == (360, 1, 90, 18, 3)


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_memory_format_errors(lib) -> None:
    flat = lib.zeros(2, 3)
    assert flat.is_contiguous(memory_format=lib.channels_last) is False
    assert flat.contiguous(memory_format=lib.preserve_format) is flat
    with pytest.raises(RuntimeError, match="required rank 4 tensor to use channels_last format"):
        flat.contiguous(memory_format=lib.channels_last)
    with pytest.raises(RuntimeError, match="required rank 5 tensor to use channels_last_3d format"):
        lib.zeros(1, 2, 3, 4).clone(memory_format=lib.channels_last_3d)
    with pytest.raises(TypeError, match=r"clone\(\): argument 'memory_format' must be torch.memory_format, not int"):
        flat.clone(memory_format=3)


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_module_to_channels_last_relays_4d_parameters_only_and_trains_the_same(lib) -> None:
    lib.manual_seed(0)
    conv = lib.nn.Conv2d(3, 4, 3)
    weight, bias = conv.weight, conv.bias
    plain = lib.nn.Conv2d(3, 4, 3)
    plain.load_state_dict(conv.state_dict())
    assert conv.to(memory_format=lib.channels_last) is conv
    assert conv.weight is weight and conv.weight.stride() == (27, 1, 9, 3) and conv.bias.stride() == (1,)
    assert conv.bias is bias
    x = lib.arange(2 * 3 * 6 * 6, dtype=lib.float32).reshape(2, 3, 6, 6) / 50
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = conv(a.to(memory_format=lib.channels_last))
    out.square().sum().backward()
    plain(b).square().sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), plain(x).detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(conv.weight.grad.numpy(), plain.weight.grad.numpy(), rtol=1e-5, atol=1e-4)


def test_memory_formats_print_and_pickle_as_themselves() -> None:
    assert repr(tapegrad.channels_last) == "tapegrad.channels_last"
    assert isinstance(tapegrad.channels_last, tapegrad.memory_format)
    for fmt in (tapegrad.channels_last, tapegrad.contiguous_format, tapegrad.preserve_format):
        assert pickle.loads(pickle.dumps(fmt)) is fmt


# ---------------------------------------------------------------- tensor(): NumPy scalars and tensors as leaves

LEAF_INFERENCE = [
    # (data, as the library builds it; dtype name; values)
    (lambda L: [np.float64(1), 2], "float64", [1.0, 2.0]),
    (lambda L: [np.float32(1), 2], "float32", [1.0, 2.0]),
    (lambda L: [np.float32(1), np.float64(2)], "float64", [1.0, 2.0]),
    (lambda L: [[np.float64(1)], [2]], "float64", [[1.0], [2.0]]),
    (lambda L: [np.int32(1), 2], "int64", [1, 2]),
    (lambda L: [np.int32(1), np.int32(2)], "int32", [1, 2]),
    (lambda L: [np.int64(1), 2.5], "float32", [1.0, 2.5]),
    (lambda L: [L.tensor(1.0), L.tensor(2.0)], "float32", [1.0, 2.0]),
    (lambda L: [L.tensor(1.0, dtype=L.float64), 2.0], "float64", [1.0, 2.0]),
    (lambda L: [L.tensor([1.0]), L.tensor([2.0])], "float32", [1.0, 2.0]),
    (lambda L: [[L.tensor(1)], [L.tensor(2)]], "int64", [[1], [2]]),
    (lambda L: [L.tensor(1, dtype=L.int32), L.tensor(2, dtype=L.int32)], "int32", [1, 2]),
    (lambda L: [L.tensor(True), L.tensor(False)], "bool", [True, False]),
    (lambda L: [np.array([1.0, 2.0]), np.array([3.0, 4.0])], "float64", [[1.0, 2.0], [3.0, 4.0]]),
    (lambda L: [np.array([1, 2], dtype=np.int32), [3, 4]], "int64", [[1, 2], [3, 4]]),
    (lambda L: [np.uint8(3), 2], "int64", [3, 2]),
    (lambda L: [np.float64(1e300)], "float64", [1e300]),
]


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("make,dtype_name,values", LEAF_INFERENCE, ids=[str(i) for i in range(len(LEAF_INFERENCE))])
def test_tensor_infers_the_dtype_of_numpy_and_tensor_leaves(lib, make, dtype_name, values) -> None:
    t = lib.tensor(make(lib))
    assert t.dtype == getattr(lib, dtype_name) and t.tolist() == values


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_tensor_of_multi_element_tensors_raises_and_python_numbers_are_unchanged(lib) -> None:
    with pytest.raises(ValueError, match="only one element tensors can be converted to Python scalars"):
        lib.tensor([lib.tensor([1.0, 2.0]), lib.tensor([3.0, 4.0])])
    assert lib.tensor([1, 2.5]).dtype == lib.float32 and lib.tensor([[1, 2], [3, 4]]).dtype == lib.int64
    with pytest.raises((TypeError, ValueError)):
        lib.tensor([1, "a"])


# ---------------------------------------------------------------- NumPy arrays as operands

@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_numpy_arrays_on_the_right_of_an_operator_are_tensors_of_their_dtype(lib) -> None:
    x = lib.tensor([1.0, 2.0])
    product = x * np.array([3.0, 4.0])
    assert isinstance(product, lib.Tensor) and product.dtype == lib.float64
    assert product.tolist() == [3.0, 8.0]
    # The dtype NumPy's promotion gives, which PyTorch's is here (it hands the product to NumPy).
    assert (x + np.array([1, 2])).dtype == lib.float64
    assert (x + np.array([True, False])).dtype == lib.float32
    assert (lib.tensor([1, 2]) * np.array([2.0], dtype=np.float32)).dtype == lib.float64
    assert (x - np.array([1.0, 1.0], dtype=np.float32)).tolist() == [0.0, 1.0]
    assert (x * np.array([[1.0], [2.0]])).shape == (2, 2)
    assert (x == np.array([1.0, 3.0])).tolist() == [True, False]
    assert (lib.tensor([1, 2]) & np.array([1, 1])).tolist() == [1, 0]


def test_a_numpy_array_operand_keeps_the_history() -> None:
    # (PyTorch hands ``x * array`` to NumPy, which refuses a tensor that requires grad; here the
    # array becomes a tensor operand and the product is recorded.)
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    (x * np.array([3.0, 4.0])).sum().backward()
    assert x.grad.tolist() == [3.0, 4.0]


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "pow", "and_"])
def test_numpy_arrays_on_the_left_of_an_operator_are_refused(op) -> None:
    import operator

    operand = tapegrad.tensor([1, 2]) if op == "and_" else tapegrad.tensor([1.0, 2.0])
    # (For +, Python's message is about concatenation: NumPy arrays are sequences.)
    with pytest.raises(TypeError, match="unsupported operand type|Concatenation operation"):
        getattr(operator, op)(np.array([1, 1]), operand)
    if torch is not None and op in ("mul", "sub", "pow", "and_"):
        with pytest.raises(TypeError, match="unsupported operand type"):
            getattr(operator, op)(np.array([1, 1]), torch.tensor([1, 2]))


def test_a_numpy_array_operand_is_copied_so_backward_sees_its_old_values() -> None:
    y = np.array([3.0, 4.0], dtype=np.float32)
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    out = (x * y).sum()
    y[:] = 100.0
    out.backward()
    assert x.grad.tolist() == [3.0, 4.0]


# ---------------------------------------------------------------- asarray

@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_asarray_shares_numpy_memory_unless_told_or_forced_to_copy(lib) -> None:
    a = np.array([1.0, 2.0])
    shared, cast, copied = lib.asarray(a), lib.asarray(a, dtype=lib.float32), lib.asarray(a, copy=True)
    a[0] = 9.0
    assert shared.dtype == lib.float64 and shared.tolist() == [9.0, 2.0]
    assert cast.tolist() == [1.0, 2.0] and copied.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="can't alias tensor with dtype 'Double'"):
        lib.asarray(a, dtype=lib.float32, copy=False)
    with pytest.raises(ValueError, match="can't alias arbitrary sequence into a tensor"):
        lib.asarray([1, 2], copy=False)
    assert lib.asarray([1, 2]).dtype == lib.int64 and lib.asarray(3.5).dtype == lib.float32
    assert lib.asarray([np.float64(1)]).dtype == lib.float64


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_asarray_of_a_tensor_returns_it_copies_it_or_sets_requires_grad(lib) -> None:
    x = lib.tensor([1.0, 2.0])
    assert lib.asarray(x) is x and lib.asarray(x, copy=True) is not x
    assert lib.asarray(x, dtype=lib.float64).dtype == lib.float64
    with pytest.raises(ValueError, match="can't alias tensor with dtype 'Float'"):
        lib.asarray(x, dtype=lib.float64, copy=False)
    assert lib.asarray(x, requires_grad=True) is x and x.requires_grad and x.is_leaf
    copy = lib.asarray(x, copy=True)
    assert copy.grad_fn is not None and copy.grad_fn.name() == "CloneBackward0"
    assert lib.asarray(x, copy=True, requires_grad=False).grad_fn is None
    with pytest.raises(RuntimeError, match="(?i)only Tensors of floating point"):
        lib.asarray(np.array([1, 2]), requires_grad=True)


# ---------------------------------------------------------------- keyword forms of the size methods

@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_size_methods_take_their_sizes_as_a_keyword(lib) -> None:
    x = lib.arange(6.0).reshape(2, 3)
    assert x.view(size=(3, 2)).shape == (3, 2) and x.reshape(shape=(3, 2)).shape == (3, 2)
    assert x.permute(dims=(1, 0)).tolist() == x.t().tolist() and x.permute(dims=[1, 0]).shape == (3, 2)
    assert x.expand(size=(2, 2, 3)).shape == (2, 2, 3) and x.repeat(repeats=(2, 1)).shape == (4, 3)
    assert x.tile(dims=(2, 1)).shape == (4, 3) and x.flip(dims=(0,)).tolist() == x.flip(0).tolist()
    assert x.sum_to_size(size=(1, 3)).tolist() == [[3.0, 5.0, 7.0]]
    assert x.new_zeros(size=(2,)).shape == (2,) and x.new_empty(size=(1, 2)).shape == (1, 2)
    assert x.new_ones(size=(3,)).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(TypeError):
        x.view(shape=(3, 2))  # view's keyword is size
    with pytest.raises(TypeError):
        x.permute(1, dims=0)


# ---------------------------------------------------------------- round(decimals=)

ROUND_VALUES = [1.2345, -2.5678, 1234.5678, 0.125, 0.135, 2.5, 3.5, -0.5, float("inf"), float("nan")]


@pytest.mark.parametrize("decimals, expected32", [
    (1, [1.2, -2.6, 1234.6, 0.1, 0.1, 2.5, 3.5, -0.5]),
    (2, [1.23, -2.57, 1234.57, 0.12, 0.14, 2.5, 3.5, -0.5]),
    (3, [1.234, -2.568, 1234.568, 0.125, 0.135, 2.5, 3.5, -0.5]),
    (-1, [0.0, -0.0, 1230.0, 0.0, 0.0, 0.0, 0.0, -0.0]),
    (-2, [0.0, -0.0, 1200.0, 0.0, 0.0, 0.0, 0.0, -0.0]),
    (0, [1.0, -3.0, 1235.0, 0.0, 0.0, 2.0, 4.0, -0.0]),
])
def test_round_to_decimals_scales_in_the_dtype_and_rounds_half_to_even(decimals, expected32) -> None:
    x = tapegrad.tensor(ROUND_VALUES, requires_grad=True)
    out = tapegrad.round(x, decimals=decimals)
    # Correctly rounded float32 of each expected decimal: no ulp lost to the scaling.
    np.testing.assert_array_equal(out.detach().numpy()[:8], np.float32(expected32))
    assert np.isinf(out.detach().numpy()[8]) and np.isnan(out.detach().numpy()[9])
    assert out.grad_fn.name() == "RoundBackward1" and x.round().grad_fn.name() == "RoundBackward0"
    out.sum().backward()
    assert x.grad.tolist()[:8] == [0.0] * 8
    if torch is not None:
        want = torch.round(torch.tensor(ROUND_VALUES), decimals=decimals).numpy()
        np.testing.assert_array_equal(out.detach().numpy(), want)


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_round_decimals_in_place_float64_and_errors(lib) -> None:
    x = lib.tensor([1.25, 2.35], dtype=lib.float64)
    assert x.round(decimals=1).tolist() == [1.2, 2.4]
    x.round_(decimals=1)
    assert x.tolist() == [1.2, 2.4]
    with pytest.raises(NotImplementedError, match="\"round_cpu\" not implemented for 'Long'"):
        lib.round(lib.tensor([15, 25]), decimals=-1)
    assert lib.round(lib.tensor([15, 25])).tolist() == [15, 25]


# ---------------------------------------------------------------- einsum's sublist form

@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_einsum_sublists_equal_the_equation(lib) -> None:
    a, b = lib.arange(6.0).reshape(2, 3), lib.arange(12.0).reshape(3, 4)
    assert lib.einsum(a, [0, 1], b, [1, 2], [0, 2]).tolist() == lib.einsum("ij,jk->ik", a, b).tolist()
    assert lib.einsum(a, [0, 1], b, [1, 2]).tolist() == lib.einsum("ij,jk", a, b).tolist()
    assert lib.einsum(a, [Ellipsis, 1], [Ellipsis]).tolist() == [3.0, 12.0]
    assert lib.einsum(a, [26, 51], [51, 26]).tolist() == a.t().tolist()  # capitals from 26 on
    with pytest.raises(ValueError, match=r"within the valid range \[0, 52\)"):
        lib.einsum(a, [0, 60])


# ---------------------------------------------------------------- indexing forms

@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_empty_lists_and_tuples_within_the_key_index_as_lists(lib) -> None:
    x = lib.arange(6.0).reshape(2, 3)
    assert x[[]].shape == (0, 3) and x[:, []].shape == (2, 0)
    assert x[((0, 1), (1, 2))].tolist() == x[[0, 1], [1, 2]].tolist() == [1.0, 5.0]


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
def test_assigned_values_lose_their_leading_unit_dims(lib) -> None:
    y = lib.zeros(2, 2, 2)
    y[0, 0, 0] = lib.tensor([5.0])
    y[1, 1] = lib.tensor([[6.0, 7.0]])
    assert y[0, 0, 0].item() == 5.0 and y[1, 1].tolist() == [6.0, 7.0]
    w = lib.tensor([[7.0]], requires_grad=True)
    z = lib.zeros(2, 2, requires_grad=True) * 1
    z[1, 1] = w
    (z * 3).sum().backward()
    assert w.grad.tolist() == [[3.0]]


# ---------------------------------------------------------------- return types

RETURN_TYPES = [
    ("max", lambda x: x.max(1)), ("min", lambda x: x.min(1)), ("sort", lambda x: x.sort()),
    ("topk", lambda x: x.topk(2)), ("kthvalue", lambda x: x.kthvalue(1)), ("median", lambda x: x.median(1)),
    ("nanmedian", lambda x: x.nanmedian(1)), ("mode", lambda x: x.mode(1)), ("cummax", lambda x: x.cummax(1)),
    ("cummin", lambda x: x.cummin(1)), ("aminmax", lambda x: x.aminmax()),
]


@pytest.mark.parametrize("lib", LIBS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("name,call", RETURN_TYPES, ids=[c[0] for c in RETURN_TYPES])
def test_each_op_returns_its_own_named_tuple_type_printing_as_pytorchs(lib, name, call) -> None:
    result = call(lib.tensor([[1.0, 3.0, 2.0]]))
    assert type(result) is getattr(lib.return_types, name) and isinstance(result, tuple)
    first, second = ("min", "max") if name == "aminmax" else ("values", "indices")
    assert getattr(result, first) is result[0] and getattr(result, second) is result[1]
    text = repr(result)
    assert text.startswith(f"{lib.__name__}.return_types.{name}(\n{first}=tensor(")
    assert f",\n{second}=tensor(" in text
    again = pickle.loads(pickle.dumps(result))
    assert type(again) is type(result) and again[0].tolist() == result[0].tolist()


def test_layout_and_small_module_functions() -> None:
    import pickle

    x = tapegrad.arange(6.0).reshape(2, 3)
    assert x.layout is tapegrad.strided and repr(tapegrad.strided) == "tapegrad.strided"
    assert isinstance(tapegrad.strided, tapegrad.layout)
    assert pickle.loads(pickle.dumps(tapegrad.strided)) is tapegrad.strided
    assert tapegrad.scalar_tensor(3).dtype is tapegrad.float32 and tapegrad.scalar_tensor(3).ndim == 0
    assert tapegrad.scalar_tensor(3, dtype=tapegrad.int64).item() == 3
    assert (tapegrad.typename(x), tapegrad.typename(3)) == ("tapegrad.FloatTensor", "int")
    assert tapegrad.typename(tapegrad.nn.Linear(1, 1)) == "tapegrad.nn.modules.Linear"
    assert tapegrad.ravel(x.t()).tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    assert not tapegrad.detach(x.clone().requires_grad_()).requires_grad and not tapegrad.is_complex(x)
    assert tapegrad.get_default_device() == tapegrad.device("cpu")
    left, right = x.split_with_sizes([1, 2], dim=1)
    assert left.tolist() == [[0.0], [3.0]] and right.shape == (2, 2)
    assert [p.shape for p in tapegrad.split_with_sizes(x, [1, 1])] == [(1, 3), (1, 3)]
    assert [p.shape for p in x.unsafe_chunk(3, 1)] == [(2, 1)] * 3 and len(x.unsafe_split(1)) == 2
    with pytest.raises(TypeError, match="argument 'split_sizes' .* must be tuple of ints, not int"):
        x.split_with_sizes(1)
    with pytest.raises(RuntimeError, match="split_with_sizes expects split_sizes to sum exactly to 3"):
        x.split_with_sizes([1, 1], dim=1)


def test_set_default_tensor_type_sets_the_default_float_dtype() -> None:
    try:
        with pytest.warns(UserWarning, match="set_default_tensor_type\\(\\) is deprecated"):
            tapegrad.set_default_tensor_type(tapegrad.DoubleTensor)
        assert tapegrad.get_default_dtype() is tapegrad.float64 and tapegrad.tensor([1.0]).dtype is tapegrad.float64
        with pytest.warns(UserWarning):
            tapegrad.set_default_tensor_type("torch.FloatTensor")
        assert tapegrad.get_default_dtype() is tapegrad.float32
        with pytest.warns(UserWarning), pytest.raises(TypeError, match="only floating-point types are supported"):
            tapegrad.set_default_tensor_type(tapegrad.LongTensor)
        with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="no default device setting"):
            tapegrad.set_default_tensor_type("torch.cuda.FloatTensor")
        with pytest.warns(UserWarning), pytest.raises(ModuleNotFoundError, match="No module named 'float64'"):
            tapegrad.set_default_tensor_type("float64")
    finally:
        tapegrad.set_default_dtype(tapegrad.float32)

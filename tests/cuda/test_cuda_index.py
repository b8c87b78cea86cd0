"""Indexing ops on CUDA tensors against the CPU backend (run in the simulator:
``NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_index.py``): basic and advanced
``__getitem__``, ``gather``, ``index_select``, ``nonzero``, ``embedding``, advanced and strided
assignment, in-place ops on non-contiguous views, forward and gradients, float32 and float64."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from cuda_helpers import assert_close, needs_cuda, run_both, values

pytestmark = needs_cuda()

import tapegrad  # noqa: E402
import tapegrad.nn.functional as F  # noqa: E402

FLOATS = [np.float32, np.float64]


def _index(data: list, device: str, dtype: Any = np.int64) -> tapegrad.Tensor:
    return tapegrad.tensor(np.array(data, dtype=dtype), device=device)


def _on(device_fn: Callable[[str], Any]) -> Callable[..., Any]:
    """A ``run_both`` body whose extra operands (index tensors) live on the tensor's device."""
    def body(x: tapegrad.Tensor, *rest: Any) -> Any:
        return device_fn(x.device.type)(x, *rest)

    return body


# ---------------------------------------------------------------- basic indexing (views) and their backward

BASIC = {
    "select": lambda x: x[1],
    "slice_step": lambda x: x[:, 1::2],
    "ellipsis_none": lambda x: x[..., None, 2],
    "narrow": lambda x: x.narrow(1, 1, 2),
    "split": lambda x: x.split(1, 0)[1],
    "split_sizes": lambda x: x.split([1, 2], 0)[1],
    "chunk": lambda x: x.chunk(2, 1)[1],
    "unbind": lambda x: x.unbind(1)[0],
    "transposed_select": lambda x: x.t()[1:, 0],
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(BASIC))
def test_basic_index_forward_and_backward(name: str, dtype: Any) -> None:
    run_both(BASIC[name], [values((3, 4), dtype)])


# ---------------------------------------------------------------- advanced indexing

ADVANCED = {
    "tensor_repeats": lambda d: lambda x: x[_index([0, 2, 0, 0], d)],
    "list": lambda d: lambda x: x[[0, 2]],
    "int32_index": lambda d: lambda x: x[_index([2, 1], d, np.int32)],
    "negative": lambda d: lambda x: x[_index([-1, 0, -3], d)],
    "second_dim": lambda d: lambda x: x[:, _index([3, 3, 1], d)],
    "two_arrays": lambda d: lambda x: x[_index([0, 2, 2], d), _index([1, 1, 3], d)],
    "broadcast_arrays": lambda d: lambda x: x[_index([[0], [2]], d), _index([1, 3, 3], d)],
    "int_and_array": lambda d: lambda x: x[1, _index([0, 0, 2], d)],
    "apart_arrays_go_first": lambda d: lambda x: x.reshape(3, 2, 2)[_index([2, 0], d), :, _index([1, 1], d)],
    "array_then_slice": lambda d: lambda x: x[_index([[1, 0], [2, 1]], d), 1:3],
    "mask": lambda d: lambda x: x[x > 0],
    "row_mask": lambda d: lambda x: x[_index([True, False, True], d, np.bool_)],
    "mask_and_slice": lambda d: lambda x: x[:, _index([True, False, True, True], d, np.bool_)],
    "non_contiguous_source": lambda d: lambda x: x.t()[_index([3, 0, 3], d)],
    "index_select": lambda d: lambda x: x.index_select(1, _index([3, 0, 3], d)),
    "gather": lambda d: lambda x: x.gather(1, _index([[0, 0], [3, 1], [2, 2]], d)),
    "gather_dim0": lambda d: lambda x: x.gather(0, _index([[2, 0, 1, 1]], d)),
    "randperm": lambda d: lambda x: x[tapegrad.randperm(3, device=d)] * 0 + x[tapegrad.randperm(3, device=d)].sum(0),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(ADVANCED))
def test_advanced_index_forward_and_backward(name: str, dtype: Any) -> None:
    run_both(_on(ADVANCED[name]), [values((3, 4), dtype)])


def test_repeated_indices_accumulate_gradients() -> None:
    x = tapegrad.tensor(np.ones((3, 2)), device="cuda", requires_grad=True)
    x[_index([1, 1, 1, 0], "cuda")].sum().backward()
    assert_close(x.grad, np.array([[1.0, 1.0], [3.0, 3.0], [0.0, 0.0]]))
    assert x.grad.device.type == "cuda"


def test_double_backward_of_advanced_index() -> None:
    def fn(x: tapegrad.Tensor) -> tapegrad.Tensor:
        index = _index([0, 0, 2], x.device.type)
        (g,) = tapegrad.autograd.grad((x[index] ** 2).sum(), x, create_graph=True)
        return g

    run_both(fn, [values((3, 2))])


def test_boolean_mask_is_resolved_once_through_double_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    # The mask's coordinates (whose count reaches the host) are found by the forward and kept
    # in the step: neither backward, nor the backward of the backward, resolves it again.
    from tapegrad.cuda import _ops

    original = _ops._mask_columns
    resolved = []

    def counted(*args: Any) -> Any:
        resolved.append(args)
        return original(*args)

    monkeypatch.setattr(_ops, "_mask_columns", counted)

    def fn(x: tapegrad.Tensor) -> tapegrad.Tensor:
        mask = _index([[True, False, True], [False, True, False]], x.device.type, np.bool_)
        (g,) = tapegrad.autograd.grad((x[mask] ** 2).sum(), x, create_graph=True)
        return g

    run_both(fn, [values((2, 3))])
    assert len(resolved) == 1


def test_index_on_integer_tensor() -> None:
    for device in ("cpu", "cuda"):
        x = tapegrad.tensor(np.arange(12).reshape(3, 4), device=device)
        got = x[_index([2, 0], device), 1:]
        assert got.dtype == tapegrad.int64
        assert_close(got, np.arange(12).reshape(3, 4)[[2, 0], 1:])


INDEX_ERRORS = {
    "too_large": lambda d: lambda x: x[_index([0, 3], d)],
    "too_negative": lambda d: lambda x: x[_index([-4], d)],
    "host_list": lambda d: lambda x: x[[5]],
    "second_dim": lambda d: lambda x: x[:, _index([1, 4], d)],
    "int_with_array": lambda d: lambda x: x[7, _index([1], d)],
    "mask_shape": lambda d: lambda x: x[_index([True, False], d, np.bool_)],
    "too_many": lambda d: lambda x: x[_index([0], d), 0, 0],
    "no_broadcast": lambda d: lambda x: x[_index([0, 1], d), _index([0, 1, 2], d)],
    "gather": lambda d: lambda x: x.gather(1, _index([[0], [4], [1]], d)),
    "gather_negative": lambda d: lambda x: x.gather(0, _index([[-1]], d)),
}


@pytest.mark.parametrize("name", list(INDEX_ERRORS))
def test_index_errors_match_cpu(name: str) -> None:
    messages = {}
    for device in ("cpu", "cuda"):
        x = tapegrad.tensor(values((3, 4)), device=device)
        with pytest.raises((IndexError, RuntimeError)) as info:
            INDEX_ERRORS[name](device)(x)
        messages[device] = (info.type, str(info.value))
    assert messages["cuda"] == messages["cpu"]


# ---------------------------------------------------------------- nonzero

@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2)])
def test_nonzero(shape: tuple[int, ...]) -> None:
    data = (values(shape, seed=3) > 0.3).astype(np.float32)
    for as_tuple in (False, True):
        cpu = tapegrad.nonzero(tapegrad.tensor(data), as_tuple=as_tuple)
        cuda = tapegrad.nonzero(tapegrad.tensor(data, device="cuda"), as_tuple=as_tuple)
        for got, want in zip(cuda if as_tuple else [cuda], cpu if as_tuple else [cpu]):
            assert got.device.type == "cuda"
            assert_close(got, want)


def test_nonzero_of_nothing_and_of_a_view() -> None:
    assert tuple(tapegrad.nonzero(tapegrad.zeros((2, 3), device="cuda")).shape) == (0, 2)
    data = values((3, 4), seed=4)
    assert_close(tapegrad.nonzero(tapegrad.tensor(data, device="cuda").t() > 0),
                 tapegrad.nonzero(tapegrad.tensor(data).t() > 0))


# ---------------------------------------------------------------- assignment and in-place ops on views

def _setitem(key_fn: Callable[[str], Any], value: Any) -> Callable[..., Any]:
    def body(x: tapegrad.Tensor) -> tapegrad.Tensor:
        y = x * 1
        key = key_fn(x.device.type)
        y[key] = value(x.device.type) if callable(value) else value
        return y

    return body


BASIC_SETITEMS = {
    "row_tail_scalar": _setitem(lambda d: (0, slice(1, None)), 0.0),
    "column_scalar": _setitem(lambda d: (slice(None), 2), 5.0),
    "column_tensor": _setitem(lambda d: (slice(None), 1), lambda d: tapegrad.tensor([1.0, 2.0, 3.0], device=d)),
}
SETITEMS = {
    **BASIC_SETITEMS,
    "advanced_scalar": _setitem(lambda d: _index([0, 2], d), 0.0),
    "advanced_tensor": _setitem(lambda d: (_index([2, 0], d), _index([1, 3], d)),
                                lambda d: tapegrad.tensor([7.0, 8.0], device=d)),
    "mask": _setitem(lambda d: _index([[True, False, False, True]] * 3, d, np.bool_), -1.0),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(SETITEMS))
def test_setitem_forward_and_backward(name: str, dtype: Any) -> None:
    run_both(SETITEMS[name], [values((3, 4), dtype)])


@pytest.mark.parametrize("name", list(SETITEMS))
def test_setitem_without_grad(name: str) -> None:
    run_both(SETITEMS[name], [values((3, 4))], grad=False)


def test_advanced_setitem_with_a_value_gradient() -> None:
    def fn(x: tapegrad.Tensor, v: tapegrad.Tensor) -> tapegrad.Tensor:
        y = x * 1
        y[_index([1, 2], x.device.type), 0] = v * 2
        return y

    run_both(fn, [values((3, 4)), values((2,), seed=5)])


def test_setitem_shape_mismatch_matches_cpu() -> None:
    messages = []
    for device in ("cpu", "cuda"):
        y = tapegrad.zeros((3, 4), device=device)
        with pytest.raises(RuntimeError) as info:
            y[_index([0, 1], device)] = tapegrad.ones(3, device=device)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def _mul_column(x: tapegrad.Tensor) -> tapegrad.Tensor:
    y = x * 1
    y[:, 0].mul_(3)
    return y


def test_in_place_op_on_a_column_view() -> None:
    run_both(_mul_column, [values((3, 4))], grad=False)
    for dtype in FLOATS:
        x = tapegrad.tensor(values((3, 4), dtype), device="cuda", requires_grad=True)
        y = _mul_column(x)
        assert y.grad_fn.name() == "CopySlices"
        assert_close(y, _mul_column(tapegrad.tensor(values((3, 4), dtype))))


def test_in_place_op_on_a_column_view_backward() -> None:
    run_both(_mul_column, [values((3, 4))])


def test_in_place_on_view_bumps_the_version_and_refuses_stale_backward() -> None:
    for device in ("cpu", "cuda"):
        x = tapegrad.tensor(values((3, 4)), device=device, requires_grad=True)
        z = (x * 1).sigmoid()  # saves its output
        before = z._version
        with tapegrad.no_grad():
            z[:, 1].mul_(2)
            z[0, 1:] = 0.0
        assert z._version == before + 2
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.sum().backward()


def test_overlapping_copy_reads_before_writing() -> None:
    for device in ("cpu", "cuda"):
        y = tapegrad.tensor(np.arange(6.0), device=device)
        y[1:] = y[:-1]
        assert_close(y, np.array([0.0, 0.0, 1.0, 2.0, 3.0, 4.0]))


def test_strided_write_casts() -> None:
    y = tapegrad.zeros((3, 4), dtype=tapegrad.float32, device="cuda")
    y[:, 1] = tapegrad.tensor([1, 2, 3], device="cuda")
    want = np.zeros((3, 4), np.float32)
    want[:, 1] = [1, 2, 3]
    assert_close(y, want)


def test_masked_fill() -> None:
    run_both(lambda x: x.masked_fill(x > 0.5, 0.25), [values((3, 4))])


# ---------------------------------------------------------------- embedding

EMBEDDINGS = {
    "plain": {},
    "padding": {"padding_idx": 1},
    "freq": {"scale_grad_by_freq": True},
    "padding_and_freq": {"padding_idx": -1, "scale_grad_by_freq": True},
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(EMBEDDINGS))
def test_embedding_forward_and_backward(name: str, dtype: Any) -> None:
    def fn(weight: tapegrad.Tensor) -> tapegrad.Tensor:
        index = _index([[1, 3, 1], [0, 1, 3]], weight.device.type)
        return F.embedding(index, weight, **EMBEDDINGS[name])

    run_both(fn, [values((4, 3), dtype)])


def test_embedding_double_backward() -> None:
    def fn(weight: tapegrad.Tensor) -> tapegrad.Tensor:
        index = _index([2, 2, 0], weight.device.type)
        (g,) = tapegrad.autograd.grad((F.embedding(index, weight, scale_grad_by_freq=True) ** 2).sum(), weight,
                                      create_graph=True)
        return g

    run_both(fn, [values((3, 2))])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, np.inf, -np.inf, 0.0], ids=str)
@pytest.mark.parametrize("dtype", FLOATS)
def test_embedding_max_norm_renormalizes_as_on_cpu(norm_type: float, dtype: Any) -> None:
    # Looked-up rows over max_norm are scaled in place (row 4 twice in the index, once in
    # effect); row 3 is not looked up and stays as it was.
    start = values((5, 3), dtype, seed=3)
    seed = values((2, 3, 3), dtype, seed=4)
    results = {}
    for device in ("cpu", "cuda"):
        weight = tapegrad.tensor(start, device=device, requires_grad=True)
        out = F.embedding(_index([[4, 0, 4], [2, 0, 1]], device), weight, max_norm=0.5, norm_type=norm_type)
        out.backward(tapegrad.tensor(seed, device=device))
        assert weight._version == 1
        results[device] = (out, weight.detach(), weight.grad)
    for got, want in zip(results["cuda"], results["cpu"]):
        assert_close(got, want)
    renormed = results["cuda"][1].cpu().numpy()
    np.testing.assert_array_equal(renormed[3], start[3])
    assert not np.array_equal(renormed, start)


def test_embedding_out_of_range_matches_cpu() -> None:
    messages = []
    for device in ("cpu", "cuda"):
        with pytest.raises(IndexError) as info:
            F.embedding(_index([0, 5], device), tapegrad.ones((3, 2), device=device))
        messages.append(str(info.value))
    assert messages[0] == messages[1]

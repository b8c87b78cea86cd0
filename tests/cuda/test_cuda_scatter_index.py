"""Scatters, index and mask ops and set-like ops on CUDA tensors against the CPU backend (run in
the simulator: ``NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_scatter_index.py``):
values, dtypes, grad_fn names and gradients, float32 and float64, integer and bool dtypes,
repeated indices (the last write wins on both devices), NaN. Without the simulator the kernels
``backends/scatter_kernels.py`` adds are compiled to PTX (no GPU needed), and the comparisons
run on a GPU when there is one."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from cuda_helpers import SIMULATED, assert_close, needs_cuda, run_both, values

import tapegrad  # noqa: E402

FLOATS = [np.float32, np.float64]
I_DIM0 = np.array([[0, 1, 2, 0], [0, 2, 2, 1]])


def ints(*items: Any) -> np.ndarray:
    return np.array(items, dtype=np.int64)


# ---------------------------------------------------------------- forward and backward on both devices

DIFFERENTIABLE: dict[str, tuple[Callable[..., Any], Callable[[Any], list[np.ndarray]]]] = {
    "scatter": (lambda x, s, i: x.scatter(0, i, s), lambda d: [values((3, 4), d), values((2, 4), d, seed=1), I_DIM0]),
    "scatter_value": (lambda x, i: x.scatter(1, i, -0.5), lambda d: [values((3, 4), d), ints([3, 0], [1, 1], [0, 2])]),
    "scatter_add": (lambda x, s, i: x.scatter_add(0, i, s),
                    lambda d: [values((3, 4), d), values((2, 4), d, seed=1), I_DIM0]),
    **{f"scatter_reduce_{r}_{inc}": ((lambda r, inc: lambda x, s, i: x.scatter_reduce(0, i, s, r,
                                                                                      include_self=inc))(r, inc),
                                     lambda d: [values((3, 4), d), values((2, 4), d, seed=1), I_DIM0])
       for r in ("sum", "prod", "mean", "amax", "amin") for inc in (True, False)},
    "index_add": (lambda x, s, i: x.index_add(1, i, s, alpha=2.0),
                  lambda d: [values((3, 4), d), values((3, 3), d, seed=1), ints(3, 0, 3)]),
    "index_copy": (lambda x, s, i: x.index_copy(0, i, s), lambda d: [values((3, 4), d), values((2, 4), d, seed=1),
                                                                     ints(2, 0)]),
    "index_fill": (lambda x, i: x.index_fill(1, i, 2.0), lambda d: [values((3, 4), d), ints(0, -1, 0)]),
    "index_reduce_amax": (lambda x, s, i: x.index_reduce(0, i, s, "amax", include_self=False),
                          lambda d: [values((3, 4), d), values((3, 4), d, seed=1), ints(2, 0, 2)]),
    "masked_select": (lambda x: x.masked_select(x > 0), lambda d: [values((3, 4), d)]),
    "masked_scatter": (lambda x, s: x.masked_scatter(x > 0, s), lambda d: [values((3, 4), d), values(13, d, seed=1)]),
    "take": (lambda x, i: x.take(i), lambda d: [values((3, 4), d), ints([0, -1], [5, 5])]),
    "take_along_dim": (lambda x, i: x.take_along_dim(i, 1), lambda d: [values((3, 4), d), ints([0], [-1], [2])]),
    "put": (lambda x, i, s: x.put(i, s), lambda d: [values((3, 4), d), ints(0, -1, 0), values(3, d, seed=1)]),
    "put_accumulate": (lambda x, i, s: x.put(i, s, accumulate=True),
                       lambda d: [values((3, 4), d), ints(0, -1, 0), values(3, d, seed=1)]),
    "repeat_interleave": (lambda x: x.repeat_interleave(2, dim=1), lambda d: [values((2, 3), d)]),
    "repeat_interleave_tensor": (lambda x, r: x.repeat_interleave(r, dim=0),
                                 lambda d: [values((3, 2), d), ints(2, 0, 1)]),
}


@needs_cuda()
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(DIFFERENTIABLE))
def test_forward_and_backward_match_cpu(name: str, dtype: Any) -> None:
    fn, arrays = DIFFERENTIABLE[name]
    run_both(fn, arrays(dtype))


@needs_cuda()
@pytest.mark.parametrize("dtype", FLOATS)
def test_ties_in_amax_and_zeros_in_prod_match_cpu(dtype: Any) -> None:
    whole = np.array([[0.0, 1.0, 2.0, 2.0], [2.0, 0.0, 1.0, 2.0], [1.0, 1.0, 0.0, 0.0]], dtype)
    for reduce in ("amax", "prod"):
        run_both(lambda x, s, i: x.scatter_reduce(0, i, s, reduce), [whole, whole[:2] * 1, I_DIM0])


# ---------------------------------------------------------------- integer, bool and no-grad outputs

def compare_outputs(fn: Callable[..., Any], arrays: list[np.ndarray]) -> None:
    """``fn`` of tensors made from ``arrays`` on each device: equal outputs (a tensor or a tuple)."""
    results = []
    for device in ("cpu", "cuda"):
        out = fn(*[tapegrad.tensor(a, device=device) for a in arrays])
        outs = out if isinstance(out, tuple) else (out,)
        assert all(o.device.type == device for o in outs)
        results.append(outs)
    assert len(results[0]) == len(results[1])
    for got, want in zip(results[1], results[0]):
        assert_close(got, want)


EXACT: dict[str, tuple[Callable[..., Any], list[np.ndarray]]] = {
    "scatter_repeats_last_wins": (lambda x, s, i: x.scatter(0, i, s),
                                  [np.zeros(4), np.arange(6.0), ints(1, 3, 1, 1, 3, 0)]),
    "scatter_int32": (lambda x, s, i: x.int().scatter(0, i, s.int()), [ints(1, 2, 3), ints(7, 8), ints(2, 2)]),
    "scatter_bool": (lambda x, i: x.scatter(0, i, True), [np.zeros((3, 4), bool), I_DIM0]),
    "scatter_legacy_multiply": (lambda x, s, i: x.scatter(0, i, s, reduce="multiply"),
                                [ints(1, 2, 3), ints(4, 5, 6), ints(0, 0, 2)]),
    "scatter_add_int64": (lambda x, s, i: x.scatter_add(0, i, s), [ints(1, 2, 3), ints(4, 5, 6), ints(0, 0, 2)]),
    "scatter_add_bool": (lambda x, s, i: x.scatter_add(0, i, s),
                         [np.array([True, False, False]), np.array([False, True, True]), ints(0, 1, 1)]),
    **{f"scatter_reduce_int_{r}": ((lambda r: lambda x, s, i: x.scatter_reduce(0, i, s, r, include_self=False))(r),
                                   [ints(-3, 2, 7), ints(4, -4, 5, -9), ints(0, 0, 1, 0)])
       for r in ("sum", "prod", "mean", "amax", "amin")},
    "scatter_reduce_bool": (lambda x, s, i: x.scatter_reduce(0, i, s, "prod"),
                            [np.array([True, True]), np.array([False, True, True]), ints(0, 1, 1)]),
    "scatter_reduce_nan": (lambda x, s, i: x.scatter_reduce(0, i, s, "amax"),
                           [np.array([1.0, np.nan, 3.0]), np.array([np.nan, 5.0, 6.0, 0.0]), ints(0, 0, 1, 2)]),
    "index_reduce_int_mean": (lambda x, s, i: x.index_reduce(0, i, s, "mean"),
                              [ints(1, 2, 3), ints(-4, -4, -4), ints(0, 0, 1)]),
    "put_bool": (lambda x, i, s: x.put(i, s), [np.zeros(3, bool), ints(2, -1), np.array([True, False])]),
    "argwhere": (lambda x: tapegrad.argwhere(x), [np.array([[0.0, 1.0], [np.nan, 0.0]])]),
    "argwhere_0d": (lambda x: tapegrad.argwhere(x), [np.array(2.0)]),
    "count_nonzero": (lambda x: tapegrad.count_nonzero(x, dim=(0, 2)), [np.arange(24).reshape(2, 3, 4) % 3]),
    "repeat_interleave_repeats": (lambda r: tapegrad.repeat_interleave(r), [ints(2, 0, 3)]),
    "unique": (lambda x: tapegrad.unique(x, return_inverse=True, return_counts=True),
               [np.array([3.0, 1.0, np.nan, 2.0, 3.0, -0.0, 0.0, np.nan])]),
    "unique_bool": (lambda x: tapegrad.unique(x, return_counts=True), [np.array([True, False, True])]),
    "unique_dim": (lambda x: tapegrad.unique(x, dim=1, return_inverse=True, return_counts=True),
                   [np.array([[1, 2, 1, 0], [0, 1, 0, 0]])]),
    "unique_consecutive": (lambda x: tapegrad.unique_consecutive(x, return_inverse=True, return_counts=True),
                           [np.array([[1, 1], [2, 1]])]),
    "unique_consecutive_dim": (lambda x: tapegrad.unique_consecutive(x, dim=0, return_counts=True),
                               [np.array([[1, 2], [1, 2], [0, 0]])]),
    "bincount": (lambda x: tapegrad.bincount(x, minlength=6), [ints(1, 3, 3, 0)]),
    "bincount_weights": (lambda x, w: tapegrad.bincount(x, w), [ints(1, 3, 3, 0), np.array([0.5, 1.0, 2.0, 4.0])]),
    "histc": (lambda x: tapegrad.histc(x, bins=5), [values(40, np.float32)]),
    "histc_range": (lambda x: tapegrad.histc(x, bins=4, min=-1, max=1), [np.array([-1.0, 0.0, 1.0, np.nan, 2.0])]),
    "searchsorted": (lambda b, v: tapegrad.searchsorted(b, v, right=True),
                     [np.array([1.0, 3.0, 3.0, 5.0]), np.array([[0.0, 3.0], [4.0, 6.0]])]),
    "searchsorted_nan": (lambda b, v: tapegrad.searchsorted(b, v),
                         [np.array([1.0, 3.0, np.nan, np.nan, np.nan]), np.array([0.5, 3.0, np.nan, 4.0])]),
    "searchsorted_sorter_nd": (lambda b, v, s: tapegrad.searchsorted(b, v, sorter=s, out_int32=True),
                               [np.array([[2.0, 0.0, 1.0], [9.0, 7.0, 8.0]]), np.array([[1.0, 0.5], [8.0, 9.5]]),
                                ints([1, 2, 0], [1, 2, 0])]),
    "bucketize": (lambda b, v: tapegrad.bucketize(v, b), [np.array([1, 3, 5]), np.array([0.5, 3.0, 9.0])]),
}


@needs_cuda()
@pytest.mark.parametrize("name", list(EXACT))
def test_outputs_match_cpu(name: str) -> None:
    fn, arrays = EXACT[name]
    compare_outputs(fn, arrays)


@needs_cuda()
def test_triangle_indices_on_the_device() -> None:
    for fn in (tapegrad.tril_indices, tapegrad.triu_indices):
        assert_close(fn(3, 4, -1, device="cuda"), fn(3, 4, -1))


@needs_cuda()
def test_errors_name_the_same_entry_on_both_devices() -> None:
    messages = []
    for device in ("cpu", "cuda"):
        x = tapegrad.zeros(3, 4, device=device)
        with pytest.raises(RuntimeError) as info:
            x.scatter(0, tapegrad.tensor(I_DIM0 + 2, device=device), 1.0)
        messages.append(str(info.value))
        with pytest.raises(IndexError) as info:
            x.take(tapegrad.tensor([0, 13, -20], device=device))
        messages.append(str(info.value))
    assert messages[:2] == messages[2:]


@needs_cuda()
def test_a_compiled_step_on_cuda_replays_as_eager() -> None:
    index = tapegrad.tensor([[0, 3, 1, 1, 2, 0], [2, 2, 0, 3, 1, 1]], device="cuda")
    columns = tapegrad.tensor([5, 0, 5], device="cuda")
    along = tapegrad.tensor([[1, -1], [0, 0], [5, 2], [3, 3]], device="cuda")

    def make() -> tuple[Callable[[Any], Any], Any]:
        w = tapegrad.tensor(values((4, 6)), device="cuda", requires_grad=True)

        def step(x: Any) -> Any:
            w.grad = None
            y = w * x
            loss = (w.scatter_add(0, index, y[:2]).square().sum()
                    + y.index_add(1, columns, x[:, :3], alpha=0.5).square().sum()
                    + tapegrad.take_along_dim(y, along, 1).square().sum() + y.repeat_interleave(2, dim=1).sum()
                    + y.index_fill(1, columns, 0.5).square().sum() + y.take(along).sum())
            loss.backward()
            return loss

        return step, w

    (eager, eager_w), (step, w) = make(), make()
    compiled = tapegrad.compile(step)
    for seed in range(4):
        x = tapegrad.tensor(values((4, 6), seed=seed + 1), device="cuda")
        assert_close(compiled(x), eager(x))
        assert_close(w.grad, eager_w.grad)
    assert compiled.traces == 1


# ---------------------------------------------------------------- the kernels compile for the GPU

@pytest.fixture(scope="module")
def ptx() -> Callable[..., str]:
    if SIMULATED:
        pytest.skip("PTX needs the real CUDA compiler: run without NUMBA_ENABLE_CUDASIM")
    from numba import cuda, types  # noqa: F401

    from tapegrad.backends import scatter_kernels

    cc = cuda.get_current_device().compute_capability if cuda.is_available() else (9, 0)
    module = scatter_kernels._cuda_module()

    def compile(name: str, *arg_types: Any) -> str:
        text, _ = cuda.compile_ptx(getattr(module, name).py_func, types.void(*arg_types), cc=cc)
        return text

    try:
        compile("searchsorted", types.float64[:, ::1], types.int64[:, ::1], types.float64[:, ::1], types.boolean,
                types.int64[:, ::1])
    except Exception as error:  # noqa: BLE001  (any failure: no usable NVVM/NVRTC)
        pytest.skip(f"cannot compile PTX ({type(error).__name__}: {error})")
    return compile


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "uint8"])
def test_segment_reduce_compiles(ptx: Callable[..., str], dtype: str) -> None:
    from numba import types

    t = getattr(types, dtype)
    assert ".entry" in ptx("segment_reduce", t[::1], types.int64[::1], types.int64[::1], t[::1], types.int64,
                           types.boolean, t, types.boolean)


@pytest.mark.parametrize("out", ["int32", "int64"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "boolean"])
def test_searchsorted_compiles(ptx: Callable[..., str], dtype: str, out: str) -> None:
    from numba import types

    t = getattr(types, dtype)
    assert ".entry" in ptx("searchsorted", t[:, ::1], types.int64[:, ::1], t[:, ::1], types.boolean,
                           getattr(types, out)[:, ::1])

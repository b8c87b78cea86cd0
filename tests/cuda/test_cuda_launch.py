"""``backends.cuda_launch``: kernels launched through ``cuLaunchKernel`` with parameters packed
as numba packs them.

The layout and packing rules are plain Python and are checked everywhere (no GPU needed). On a
GPU, launches through :func:`launch` must give what numba's dispatcher gives, for contiguous,
strided and broadcast arrays and for every kind of scalar and tuple argument; under the
simulator :func:`launch` is the dispatcher itself, which the other CUDA tests exercise.
"""
from __future__ import annotations

import itertools
import os
import struct
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from cuda_helpers import SIMULATED, numba_cuda
from tapegrad.backends import cuda_launch


def _numba_layout(view: np.ndarray) -> str:
    """numba's rule (``DeviceNDArray._numba_type_``), written from NumPy's flags."""
    if view.size and 0 in view.strides:
        return "A"
    if view.flags.c_contiguous:
        return "C"
    return "F" if view.flags.f_contiguous else "A"


def _views() -> list[np.ndarray]:
    base = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    found = [base, base.T, base[:, ::2], base[1:2], base[:, :1, :], base[:, :, 1:3], base[::-1],
             np.broadcast_to(base[:, :1], (4, 5, 6)), base[:0], base[0, 0, :1].reshape(1, 1, 1),
             np.asfortranarray(base), base.reshape(4, 30)[:, ::3], np.broadcast_to(np.float32(1), (3, 2))]
    for axes in itertools.permutations(range(3)):
        found.append(base.transpose(axes))
    return found


@pytest.mark.parametrize("index", range(len(_views())))
def test_layout_is_numbas_rule(index: int) -> None:
    view = _views()[index]
    assert cuda_launch._layout(view.shape, view.strides, view.itemsize, view.size) == _numba_layout(view)


def _fake_array(shape: tuple[int, ...], strides: tuple[int, ...], pointer: int) -> SimpleNamespace:
    size = int(np.prod(shape))
    return SimpleNamespace(shape=shape, strides=strides, size=size, dtype=np.dtype(np.float32),
                           gpu_data=SimpleNamespace(device_pointer=pointer))


def test_parameters_are_packed_in_numbas_order() -> None:
    # numba's _Kernel.launch passes an array as meminfo, parent, nitems, itemsize, data, shape,
    # strides; scalars as themselves; a tuple as its elements in order.
    array = _fake_array((2, 3), (12, 4), pointer=0x7000)
    args = (array, np.float32(1.5), True, (3, 4), 7)
    kinds = tuple(cuda_launch._kind(x, SimpleNamespace) for x in args)
    assert kinds == ((np.dtype(np.float32), 2, "C"), np.float32, bool, (tuple, (int, int)), int)
    values: list = []
    cuda_launch._values(args, values)
    assert values == [0, 0, 6, 4, 0x7000, 2, 3, 12, 4, np.float32(1.5), True, 3, 4, 7]
    fmt = "<" + "".join(cuda_launch._format(k) for k in kinds)
    assert struct.calcsize(fmt) == 8 * len(values)  # one aligned 8-byte slot per parameter
    packed = struct.pack(fmt, *values)
    assert struct.unpack_from("<f", packed, 8 * 9)[0] == 1.5 and packed[8 * 10] == 1


def test_kinds_key_arrays_by_dtype_rank_and_layout() -> None:
    a = _fake_array((4, 6), (24, 4), 0)
    b = _fake_array((4, 6), (4, 16), 0)
    c = _fake_array((4, 6), (0, 4), 0)
    kinds = [cuda_launch._kind(x, SimpleNamespace) for x in (a, b, c)]
    assert kinds == [(np.dtype(np.float32), 2, "C"), (np.dtype(np.float32), 2, "F"), (np.dtype(np.float32), 2, "A")]
    assert cuda_launch._kind((1, 2.0, a), SimpleNamespace) == (tuple, (int, float, kinds[0]))
    assert cuda_launch._kind("text", SimpleNamespace) is None  # left to the dispatcher
    assert cuda_launch._kind((1, "text"), SimpleNamespace) is None


@pytest.mark.skipif(SIMULATED or not numba_cuda.is_available(), reason="launches through the driver need a GPU")
def test_driver_launches_match_the_dispatcher() -> None:
    from tapegrad.cuda import _arrays  # (importing it restores np.row_stack, which numba-cuda needs to compile)

    @numba_cuda.jit
    def combine(out, x, y, scale, flip, offsets):
        i, j = numba_cuda.grid(2)
        if i < out.shape[0] and j < out.shape[1]:
            value = x[i, j] * scale + y[i, j] + offsets[0] - offsets[1]
            out[i, j] = -value if flip else value

    rng = np.random.default_rng(0)
    host = rng.standard_normal((6, 10)).astype(np.float32)
    x = numba_cuda.to_device(host)
    cases = [(x, numba_cuda.to_device(host.T.copy()).T),                        # C and F
             (x[:, ::2], x[:, 5:]),                                            # strided (A)
             (x[:, :5], numba_cuda.to_device(host[:1, :5]).reshape(1, 5))]     # broadcast below
    for a, b in cases:
        if b.shape != a.shape:
            b = _arrays.view(b, a.shape, (0, b.strides[1]))
        for scale, flip, offsets in ((np.float32(2.0), False, (3, 1)), (np.float32(-0.5), True, (0, 4))):
            want = numba_cuda.device_array(a.shape, np.float32)
            got = numba_cuda.device_array(a.shape, np.float32)
            combine[(2, 4), (8, 8)](want, a, b, scale, flip, offsets)
            cuda_launch.launch(combine, (2, 4), (8, 8), 0, got, a, b, scale, flip, offsets)
            np.testing.assert_array_equal(got.copy_to_host(), want.copy_to_host())


@pytest.mark.skipif(not SIMULATED, reason="the simulator's settings")
def test_the_simulator_is_quickened_by_loading_the_launcher() -> None:
    # In a new process (as the simulated GPU trainer runs): loading the launcher applies them.
    code = ("import sys\nfrom tapegrad.backends import cuda_launch, cuda_simulator\n"
            "from numba.cuda.simulator import kernelapi\n"
            "print(abs(sys.getswitchinterval() - cuda_simulator.SWITCH_INTERVAL) < 1e-6,"
            " kernelapi.FakeCUDAShared.array.__module__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, NUMBA_ENABLE_CUDASIM="1"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "tapegrad.backends.cuda_simulator"]


@pytest.mark.skipif(not SIMULATED, reason="the simulator's shared arrays")
def test_the_simulators_shared_arrays_are_made_once_per_block() -> None:
    # Threads of one block reach cuda.shared.array together; each must get the block's array.
    source = np.arange(64, dtype=np.float64)
    out = np.zeros(64)

    @numba_cuda.jit
    def reverse(x, y):
        cache = numba_cuda.shared.array(64, np.float64)
        t = numba_cuda.threadIdx.x
        cache[t] = x[t]
        numba_cuda.syncthreads()
        y[t] = cache[63 - t]

    reverse[1, 64](source, out)
    np.testing.assert_array_equal(out, source[::-1])

"""CUDA matrix products (``tapegrad.backends.cuda_linalg``) against NumPy.

Runs in the CUDA simulator or on a GPU (see ``conftest.py``)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_linalg.py -q

Most cases use a small tile (8x8 outputs, 4 threads by 4) so that odd sizes cross tile
boundaries while the simulator runs few threads; one case per dtype runs the default tile. On a GPU
with CuPy, the cuBLAS path is compared too.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numba import cuda

from cuda_helpers import HAVE_CUDA, SIMULATED, SKIP_REASON  # noqa: E402

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from tapegrad.backends import cuda_linalg as cl

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

SMALL = cl.Tile(8, 8, 4, 2, 2)
DTYPES = [np.float32, np.float64]
TOL = {np.float32: 2e-5, np.float64: 1e-12}
ids = {"ids": lambda d: np.dtype(d).name}


def _values(shape: tuple[int, ...], dtype: Any, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(dtype)


def _close(got: Any, want: np.ndarray, dtype: Any) -> None:
    host = got.copy_to_host()
    assert host.shape == want.shape and host.dtype == want.dtype
    np.testing.assert_allclose(host, want, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("m,k,n", [(3, 5, 4), (9, 7, 10), (1, 1, 1), (1, 6, 1), (2, 0, 3)], ids=str)
def test_matmul_matches_numpy(m: int, k: int, n: int, dtype: Any) -> None:
    a, b = _values((m, k), dtype, 1), _values((k, n), dtype, 2)
    _close(cl.matmul(cuda.to_device(a), cuda.to_device(b), tile=SMALL, use_cublas=False), a @ b, dtype)


@pytest.mark.parametrize("dtype", DTYPES, **ids)
def test_transposed_and_sliced_operands(dtype: Any) -> None:
    a_t = _values((7, 9), dtype, 3)         # a = a_t.T: (9, 7), its rows strided
    b_big = _values((7, 22), dtype, 4)      # b = every other column: (7, 11)
    a, b = cl.transpose(cuda.to_device(a_t)), cuda.to_device(b_big)[:, ::2]
    assert not a.is_c_contiguous() and not b.is_c_contiguous()
    _close(cl.matmul(a, b, tile=SMALL, use_cublas=False), a_t.T @ b_big[:, ::2], dtype)
    w = _values((10, 7), dtype, 5)          # x @ w.T, as a linear layer computes it
    _close(cl.matmul(cuda.to_device(a_t.T.copy()), cl.transpose(cuda.to_device(w)), tile=SMALL, use_cublas=False),
           a_t.T @ w.T, dtype)
    _close(cl.matmul(cl.transpose(b), cl.transpose(a), tile=SMALL, use_cublas=False), (a_t.T @ b_big[:, ::2]).T,
           dtype)


def test_strided_view_operands() -> None:
    big = _values((60,), np.float64, 21)
    # (buffer, strides) as cuda_kernels.run_chain takes them: a (3, 4) view from element 5,
    # rows 10 apart, every other column; and a (4, 2) view with a zero (broadcast) stride.
    a = cl.strided_view(cuda.to_device(big)[5:], (3, 4), (10, 2))
    b = cl.strided_view(cuda.to_device(big), (4, 2), (1, 0))
    want = np.lib.stride_tricks.as_strided(big[5:], (3, 4), (80, 16)) @ np.stack([big[:4], big[:4]], axis=1)
    _close(cl.matmul(a, b, tile=SMALL, use_cublas=False), want, np.float64)
    with pytest.raises(ValueError):
        cl.strided_view(cuda.to_device(big), (7, 10), (10, 1))  # past the end
    with pytest.raises(ValueError):
        cl.transpose(cuda.to_device(big))


@pytest.mark.parametrize("dtype", DTYPES, **ids)
def test_default_tiles(dtype: Any) -> None:
    a, b = _values((3, 5), dtype, 6), _values((5, 4), dtype, 7)
    _close(cl.matmul(cuda.to_device(a), cuda.to_device(b), use_cublas=False), a @ b, dtype)


@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("bias_shape", [(), (10,), (1, 10), (9, 1), (9, 10)], ids=str)
def test_addmm_broadcasts_bias(bias_shape: tuple[int, ...], dtype: Any) -> None:
    a, b, bias = _values((9, 3), dtype, 8), _values((3, 10), dtype, 9), _values(bias_shape, dtype, 10)
    got = cl.addmm(cuda.to_device(bias), cuda.to_device(a), cuda.to_device(b), beta=0.5, alpha=2.0, tile=SMALL,
                   use_cublas=False)
    _close(got, (0.5 * bias + 2.0 * (a @ b)).astype(dtype), dtype)


def test_addmm_beta_zero_ignores_bias_and_alpha_scales() -> None:
    a, b = _values((3, 4), np.float64, 11), _values((4, 2), np.float64, 12)
    bias = cuda.to_device(np.full(2, np.nan))
    _close(cl.addmm(bias, cuda.to_device(a), cuda.to_device(b), beta=0.0, alpha=-3.0, tile=SMALL, use_cublas=False),
           -3.0 * (a @ b), np.float64)
    out = cuda.device_array((3, 2))
    assert cl.addmm(None, cuda.to_device(a), cuda.to_device(b), out, tile=SMALL, use_cublas=False) is out
    with pytest.raises(ValueError):
        cl.addmm(cuda.to_device(np.zeros(3)), cuda.to_device(a), cuda.to_device(b), use_cublas=False)


@pytest.mark.parametrize("dtype", DTYPES, **ids)
def test_bmm_matches_numpy(dtype: Any) -> None:
    a, b = _values((2, 3, 5), dtype, 13), _values((2, 5, 9), dtype, 14)
    _close(cl.matmul(cuda.to_device(a), cuda.to_device(b), tile=SMALL, use_cublas=False), a @ b, dtype)
    wide = _values((2, 5, 18), dtype, 15)  # every other column: a strided batch
    got = cl.bmm(cuda.to_device(a), cuda.to_device(wide)[:, :, ::2], tile=SMALL, use_cublas=False)
    _close(got, a @ wide[:, :, ::2], dtype)


def test_validation() -> None:
    a = cuda.to_device(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError):
        cl.matmul(a, a)
    with pytest.raises(TypeError):
        cl.matmul(a, cuda.to_device(np.zeros((3, 2), np.float64)))
    with pytest.raises(TypeError):
        cl.matmul(cuda.to_device(np.zeros((2, 3), np.int64)), cuda.to_device(np.zeros((3, 2), np.int64)))


@pytest.mark.skipif(SIMULATED or not cl.cublas_available(), reason="needs a GPU and CuPy")
def test_cublas_path_matches_tiled() -> None:
    a_t, b = _values((70, 65), np.float32, 16), _values((70, 33), np.float32, 17)
    bias = _values((33,), np.float32, 18)
    args = (cuda.to_device(bias), cl.transpose(cuda.to_device(a_t)), cuda.to_device(b))
    tiled = cl.addmm(*args, beta=0.5, alpha=2.0, use_cublas=False).copy_to_host()
    blas = cl.addmm(*args, beta=0.5, alpha=2.0, use_cublas=True).copy_to_host()
    np.testing.assert_allclose(blas, tiled, rtol=1e-4, atol=1e-4)
    a3, b3 = _values((3, 4, 5), np.float64, 19), _values((3, 5, 6), np.float64, 20)
    np.testing.assert_allclose(cl.bmm(cuda.to_device(a3), cuda.to_device(b3), use_cublas=True).copy_to_host(),
                               a3 @ b3, rtol=1e-12)

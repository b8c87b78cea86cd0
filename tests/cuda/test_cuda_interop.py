"""Sharing CUDA memory with other libraries: ``__cuda_array_interface__``, ``as_tensor`` of
foreign GPU arrays, and DLPack (``__dlpack__``, ``__dlpack_device__``, ``from_dlpack``).

Runs in the CUDA simulator or on a GPU (see ``conftest.py``)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_interop.py -q

On a GPU with PyTorch installed, tensors also cross to and from ``torch`` without copies.
"""
from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SIMULATED, SKIP_REASON

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")


class Exporter:
    """A foreign GPU array: only the CUDA array interface of some memory it keeps alive."""

    def __init__(self, owner: Any, interface: dict[str, Any]) -> None:
        self.owner = owner
        self.__cuda_array_interface__ = interface


def test_cuda_array_interface_describes_the_memory() -> None:
    x = tapegrad.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device="cuda")
    interface = x.__cuda_array_interface__
    assert interface["shape"] == (2, 3) and interface["typestr"] == "<f4" and interface["version"] == 3
    assert interface["strides"] is None and interface["data"] == (x.data_ptr(), False)
    assert x.t().__cuda_array_interface__["strides"] == (4, 12)
    assert tapegrad.ones(2, dtype=tapegrad.int64, device="cuda").__cuda_array_interface__["typestr"] == "<i8"


def test_cuda_array_interface_keeps_a_broadcast_views_zero_strides() -> None:
    # numba-cuda's own interface calls a zero-stride view contiguous (strides None), which
    # made CuPy read an expanded batch as dense memory; wrapping it back must give the view.
    x = tapegrad.tensor([1.0, 2.0, 3.0], device="cuda").expand(2, 3)
    assert x.__cuda_array_interface__["strides"] == (0, 4)
    again = tapegrad.as_tensor(Exporter(x, x.__cuda_array_interface__))
    assert again.tolist() == [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]] and again.stride() == (0, 1)


def test_cpu_tensors_have_no_cuda_array_interface() -> None:
    x = tapegrad.ones(2)
    assert not hasattr(x, "__cuda_array_interface__")
    with pytest.raises(AttributeError, match="Can't get __cuda_array_interface__ on non-CUDA tensor type"):
        x.__cuda_array_interface__
    with pytest.raises(RuntimeError, match="requires grad"):
        tapegrad.ones(2, device="cuda", requires_grad=True).__cuda_array_interface__


def test_as_tensor_wraps_a_foreign_gpu_array_without_a_copy() -> None:
    source = tapegrad.tensor([1.0, 2.0, 3.0, 4.0], device="cuda")
    foreign = Exporter(source, source.__cuda_array_interface__)
    shared = tapegrad.as_tensor(foreign)
    assert shared.device.type == "cuda" and shared.data_ptr() == source.data_ptr()
    shared.mul_(10)
    assert source.tolist() == [10.0, 20.0, 30.0, 40.0]
    del source
    gc.collect()
    assert shared.tolist() == [10.0, 20.0, 30.0, 40.0]  # the foreign owner keeps the memory alive
    converted = tapegrad.as_tensor(foreign, dtype=tapegrad.float64)
    assert converted.dtype == tapegrad.float64 and converted.data_ptr() != shared.data_ptr()
    on_host = tapegrad.as_tensor(foreign, device="cpu")
    assert on_host.device.type == "cpu" and on_host.tolist() == [10.0, 20.0, 30.0, 40.0]


def test_as_tensor_wraps_a_strided_foreign_array() -> None:
    source = tapegrad.tensor([[1, 2, 3], [4, 5, 6]], device="cuda")
    shared = tapegrad.as_tensor(Exporter(source, source.t().__cuda_array_interface__))
    assert shared.shape == (3, 2) and shared.stride() == (1, 3)
    assert shared.tolist() == [[1, 4], [2, 5], [3, 6]]
    assert (shared * 2).tolist() == [[2, 8], [4, 10], [6, 12]]


def test_as_tensor_refuses_unsupported_dtypes() -> None:
    source = tapegrad.ones(2, device="cuda")
    interface = dict(source.__cuda_array_interface__, typestr="<f2", shape=(4,))
    with pytest.raises(TypeError, match="float16"):
        tapegrad.as_tensor(Exporter(source, interface))


def test_dlpack_round_trip_shares_memory() -> None:
    x = tapegrad.tensor([1.0, 2.0, 3.0], device="cuda")
    assert x.__dlpack_device__() == (2, 0)
    y = tapegrad.from_dlpack(x.__dlpack__())
    assert y.device.type == "cuda" and y.data_ptr() == x.data_ptr()
    y.add_(1)
    assert x.tolist() == [2.0, 3.0, 4.0]
    assert tapegrad.from_dlpack(x) is x
    strided = tapegrad.from_dlpack(tapegrad.tensor([[1, 2], [3, 4]], device="cuda").t().__dlpack__())
    assert strided.tolist() == [[1, 3], [2, 4]] and strided.dtype == tapegrad.int64
    flags = tapegrad.from_dlpack(tapegrad.tensor([True, False], device="cuda").__dlpack__())
    assert flags.dtype == tapegrad.bool and flags.tolist() == [True, False]
    with pytest.raises(RuntimeError, match="require gradient"):
        tapegrad.ones(2, device="cuda", requires_grad=True).__dlpack__()


def test_unconsumed_and_consumed_capsules_release_their_tensor() -> None:
    from tapegrad.cuda import _interop

    before = len(_interop._exported)
    capsule = tapegrad.ones(3, device="cuda").__dlpack__()
    assert len(_interop._exported) == before + 1
    del capsule
    gc.collect()
    assert len(_interop._exported) == before
    y = tapegrad.from_dlpack(tapegrad.ones(3, device="cuda").__dlpack__())
    assert len(_interop._exported) == before + 1
    del y
    gc.collect()
    assert len(_interop._exported) == before
    with pytest.raises(TypeError, match="capsule"):
        tapegrad.from_dlpack(object())


def test_cpu_dlpack_goes_through_numpy() -> None:
    array = np.arange(4.0)
    shared = tapegrad.from_dlpack(array)
    assert shared.device.type == "cpu" and shared.data_ptr() == array.ctypes.data
    x = tapegrad.tensor([1.0, 2.0])
    assert x.__dlpack_device__() == (1, 0)
    assert np.from_dlpack(x).tolist() == [1.0, 2.0]
    back = tapegrad.from_dlpack(x.__dlpack__())
    assert back.data_ptr() == x.data_ptr()


@pytest.mark.skipif(SIMULATED, reason="simulated CUDA memory is host memory: no real GPU library can take it")
def test_torch_takes_and_gives_cuda_tensors_without_copies() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    x = tapegrad.tensor([1.0, 2.0, 3.0], device="cuda")
    t = torch.from_dlpack(x)
    assert t.is_cuda and t.data_ptr() == x.data_ptr()
    t.mul_(2)
    assert x.tolist() == [2.0, 4.0, 6.0]
    t2 = torch.as_tensor(x, device="cuda")  # through __cuda_array_interface__
    assert t2.data_ptr() == x.data_ptr()
    source = torch.arange(6, dtype=torch.float32, device="cuda").reshape(2, 3)
    y = tapegrad.as_tensor(source)
    assert y.device.type == "cuda" and y.data_ptr() == source.data_ptr()
    assert (y * 2).tolist() == (source * 2).tolist()
    z = tapegrad.from_dlpack(source.t())
    assert z.data_ptr() == source.data_ptr() and z.tolist() == source.t().tolist()

"""``backends.cuda_capture``: a recording of device work issues the same launches, copies,
fills and checks again, on the same buffers; a value read back to the host makes it invalid.

Runs in the simulator or on a GPU (see ``conftest.py``).
"""
from __future__ import annotations

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SIMULATED, SKIP_REASON

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from tapegrad.backends import cuda_capture  # noqa: E402
from tapegrad.backends import cuda_kernels as ck  # noqa: E402
from tapegrad.backends import cuda_reduce as cr  # noqa: E402
from tapegrad.cuda import _arrays, _ops  # noqa: E402


def _host(array: object) -> np.ndarray:
    return _arrays.to_host(_arrays.adopt(array))


def test_launches_and_fills_are_issued_again_on_the_recorded_buffers() -> None:
    source = ck.upload(np.arange(4, dtype=np.float32))
    total = ck._cuda().device_array(1, np.float64)
    out = ck._cuda().device_array(4, np.float32)
    with cuda_capture.Recording() as recording:
        ck.fill_zeros(total)
        ck.elementwise(cr._identity, out, [source])
    assert recording.invalid is None and len(recording.ops) == 2
    np.testing.assert_array_equal(_host(out), [0, 1, 2, 3])  # each operation ran as it was recorded
    source.copy_to_device(np.array([5, 6, 7, 8], np.float32))
    total.copy_to_device(np.array([9.0]))
    cuda_capture.replay(recording.ops)
    np.testing.assert_array_equal(_host(out), [5, 6, 7, 8])  # the launch reads the buffer's contents now
    np.testing.assert_array_equal(_host(total), [0.0])


def test_a_copy_from_the_host_uploads_the_data_it_had_when_recorded() -> None:
    host = np.array([1.0, 2.0, 3.0])
    device = ck._cuda().device_array(3, np.float64)
    copy = _arrays.empty((3,), np.float64)
    with cuda_capture.Recording() as recording:
        device.copy_to_device(host)
        copy.copy_to_device(_arrays.adopt(device))  # a device-to-device copy through tapegrad's array
    # One operation each: the copies made inside a recorded copy are not recorded again.
    assert recording.invalid is None and len(recording.ops) == 2
    host[:] = -1.0
    device.copy_to_device(np.zeros(3))
    copy.copy_to_device(np.zeros(3))
    cuda_capture.replay(recording.ops)
    np.testing.assert_array_equal(_host(device), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(_host(copy), [1.0, 2.0, 3.0])


def test_a_host_check_runs_again_and_raises_for_the_values_it_finds() -> None:
    index = ck.upload(np.array([0, 2, 1], np.int64))
    with cuda_capture.Recording() as recording:
        _ops.check_range(index, 0, 3, lambda value: IndexError(f"bad index {value}"))
    assert recording.invalid is None and len(recording.ops) == 1
    cuda_capture.replay(recording.ops)  # still in range
    index.copy_to_device(np.array([0, 7, 1], np.int64))
    with pytest.raises(IndexError, match="bad index 7"):
        cuda_capture.replay(recording.ops)


def test_a_value_read_back_to_the_host_makes_the_recording_invalid() -> None:
    values = ck.upload(np.array([1.0, 2.0]))
    with cuda_capture.Recording() as recording:
        assert values.copy_to_host().tolist() == [1.0, 2.0]
    assert recording.invalid == "a device value was read back to the host"
    assert cuda_capture.active() is None


@pytest.mark.skipif(SIMULATED, reason="the driver's transfer functions exist on a GPU only")
def test_a_transfer_that_bypasses_the_recorded_paths_makes_the_recording_invalid() -> None:
    from numba.cuda.cudadrv import driver

    values = ck.upload(np.array([1.0, 2.0]))
    out = np.empty(2)
    with cuda_capture.Recording() as recording:
        driver.device_to_host(out, values, out.nbytes)
    assert recording.invalid == "an unrecorded device to host"
    np.testing.assert_array_equal(out, [1.0, 2.0])

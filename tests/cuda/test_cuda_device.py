"""The CUDA device model: ``tapegrad.cuda``, making and moving tensors, reading values back,
autograd across devices, modules, and the errors PyTorch gives.

Runs in the CUDA simulator or on a GPU (see ``conftest.py``); tensors stay tiny::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_device.py -q
"""
from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SIMULATED, SKIP_REASON, assert_close, values

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad  # noqa: E402
from tapegrad import nn  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")
CUDA = tapegrad.device("cuda", 0)


# ------------------------------------------------------------------ tapegrad.cuda

def test_cuda_module_reports_one_device() -> None:
    cuda = tapegrad.cuda
    assert cuda.is_available() and cuda.is_initialized()
    assert cuda.device_count() == 1 and cuda.current_device() == 0
    assert isinstance(cuda.get_device_name(), str) and cuda.get_device_name()
    assert isinstance(cuda.get_device_name(0), str)
    cuda.synchronize()
    cuda.set_device(0)


def test_other_device_indices_raise() -> None:
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        tapegrad.zeros(2, device="cuda:1")
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        tapegrad.ones(2).to("cuda:3")


def test_import_does_not_import_numba_cuda() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    code = "import sys, tapegrad; tapegrad.ones(2) + 1; print('numba.cuda' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "False"


def test_without_a_gpu_cuda_requests_raise_runtime_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    code = """
import tapegrad
if tapegrad.cuda.is_available():
    print("has a GPU")
else:
    assert tapegrad.cuda.device_count() == 0
    tapegrad.cuda.manual_seed(1)  # lazy, as in PyTorch: no error without a GPU
    for make in (lambda: tapegrad.zeros(2, device="cuda"), lambda: tapegrad.ones(2).cuda(),
                 lambda: tapegrad.tensor([1.0], device="cuda:0"), tapegrad.cuda.synchronize,
                 tapegrad.cuda.current_device, lambda: tapegrad.nn.Linear(2, 2).cuda()):
        try:
            make()
        except RuntimeError as error:
            assert "No CUDA GPUs are available" in str(error), error
        else:
            raise AssertionError("no error")
    print("refused")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("refused", "has a GPU")


# ------------------------------------------------------------------ the device of a tensor

@pytest.mark.parametrize("device", ["cuda", "cuda:0", CUDA, tapegrad.device("cuda")], ids=str)
def test_tensor_on_cuda_reports_its_device(device: Any) -> None:
    x = tapegrad.tensor([1.0, 2.0], device=device)
    assert x.device == CUDA and str(x.device) == "cuda:0"
    assert x.is_cuda and x.get_device() == 0
    assert x.cpu().device == tapegrad.device("cpu") and not x.cpu().is_cuda and x.cpu().get_device() == -1
    from numba.cuda.cudadrv import devicearray

    base = getattr(devicearray, "DeviceNDArray", None) or devicearray.FakeCUDAArray
    assert isinstance(x._data, base)


FACTORIES = {
    "tensor": lambda d: tapegrad.tensor([[1, 2], [3, 4]], device=d),
    "tensor-float": lambda d: tapegrad.tensor([1.5, -2.0], dtype=tapegrad.float64, device=d),
    "as_tensor": lambda d: tapegrad.as_tensor(np.arange(4.0), device=d),
    "zeros": lambda d: tapegrad.zeros(2, 3, device=d),
    "ones": lambda d: tapegrad.ones((2, 3), dtype=tapegrad.int32, device=d),
    "full": lambda d: tapegrad.full((2, 2), 7.5, device=d),
    "full-bool": lambda d: tapegrad.full((3,), True, device=d),
    "arange": lambda d: tapegrad.arange(5, device=d),
    "arange-float": lambda d: tapegrad.arange(0.0, 1.0, 0.25, device=d),
    "linspace": lambda d: tapegrad.linspace(-1, 1, 5, device=d),
    "eye": lambda d: tapegrad.eye(3, device=d),
    "zeros_like": lambda d: tapegrad.zeros_like(tapegrad.ones(2, device=d)),
    "ones_like": lambda d: tapegrad.ones_like(tapegrad.ones(2, device=d), dtype=tapegrad.float64),
    "full_like": lambda d: tapegrad.full_like(tapegrad.ones(2, 2, device=d), 3.0),
    "0-d": lambda d: tapegrad.tensor(2.5, device=d),
    "empty-shape": lambda d: tapegrad.zeros(0, 3, device=d),
}


@pytest.mark.parametrize("name", FACTORIES)
def test_factories_make_cuda_tensors_equal_to_cpu_ones(name: str) -> None:
    on_cuda, on_cpu = FACTORIES[name]("cuda"), FACTORIES[name](None)
    assert on_cuda.device == CUDA and on_cpu.device.type == "cpu"
    assert_close(on_cuda, on_cpu)


def test_empty_and_requires_grad() -> None:
    x = tapegrad.empty(2, 3, device="cuda", requires_grad=True)
    assert x.shape == (2, 3) and x.device == CUDA and x.requires_grad and x.is_leaf
    assert tapegrad.empty_like(x).device == CUDA
    with pytest.raises(RuntimeError, match="floating point"):
        tapegrad.zeros(2, dtype=tapegrad.int64, device="cuda", requires_grad=True)


def test_legacy_constructor_refuses_cuda_as_pytorch() -> None:
    with pytest.raises(RuntimeError, match="legacy constructor expects device type: cpu but device type: cuda"):
        tapegrad.FloatTensor([1.0], device="cuda")
    x = tapegrad.zeros(2, device="cuda")
    assert not isinstance(x, tapegrad.FloatTensor)  # the legacy type is the CPU one
    assert x.new([1, 2]).device == CUDA and x.new(3).shape == (3,)


def test_channels_last_copies_on_cuda_keep_values_and_device() -> None:
    x = tapegrad.arange(24.0).reshape(1, 2, 3, 4).cuda()
    y = x.contiguous(memory_format=tapegrad.channels_last)
    assert y.device == CUDA and y.stride() == (24, 1, 8, 2)
    assert y.is_contiguous(memory_format=tapegrad.channels_last) and not y.is_contiguous()
    assert_close(y, x)
    assert tapegrad.zeros_like(y).stride() == y.clone().stride() == (24, 1, 8, 2)
    assert_close(y.contiguous(), x.cpu())


def test_random_cuda_tensors_come_from_their_own_generator() -> None:
    tapegrad.manual_seed(3)
    on_cuda = tapegrad.rand(4, device="cuda")
    normal_cuda = tapegrad.randn(2, 2, device="cuda")
    on_cpu = tapegrad.rand(4)
    tapegrad.manual_seed(3)
    # The CPU stream did not move for the CUDA draws; the CUDA generator draws the same numbers.
    assert_close(on_cpu, tapegrad.rand(4))
    assert_close(on_cuda, on_cpu)
    assert_close(normal_cuda, tapegrad.randn(2, 2))
    tapegrad.cuda.manual_seed(5)
    assert tapegrad.cuda.initial_seed() == 5
    first = tapegrad.randint(0, 10, (6,), device="cuda")
    tapegrad.cuda.manual_seed_all(5)
    assert first.dtype == tapegrad.int64 and first.device == CUDA
    assert_close(first, tapegrad.randint(0, 10, (6,), device="cuda"))
    assert sorted(tapegrad.randperm(5, device="cuda").tolist()) == [0, 1, 2, 3, 4]
    assert tapegrad.rand_like(on_cuda).device == CUDA and tapegrad.randn_like(on_cuda).device == CUDA
    assert tapegrad.normal(0.0, 1.0, (3,), device="cuda").device == CUDA
    with pytest.raises(RuntimeError, match="Expected a 'cuda' device type for generator but found 'cpu'"):
        tapegrad.rand(2, device="cuda", generator=tapegrad.Generator())
    with pytest.raises(RuntimeError, match="Expected a 'cpu' device type for generator but found 'cuda'"):
        tapegrad.rand(2, generator=tapegrad.Generator("cuda"))
    own = tapegrad.Generator("cuda").manual_seed(7)
    assert own.device == CUDA
    assert_close(tapegrad.randn(3, device="cuda", generator=own),
                 tapegrad.randn(3, generator=tapegrad.Generator().manual_seed(7)))


def test_in_place_random_fills_and_bernoulli() -> None:
    x = tapegrad.zeros(3, 2, device="cuda")
    version = x._version
    x.uniform_(2.0, 3.0)
    assert x._version == version + 1
    assert ((x.cpu() >= 2) & (x.cpu() < 3)).all()
    x.normal_()
    assert x.device == CUDA
    drawn = tapegrad.bernoulli(tapegrad.full((4,), 1.0, device="cuda"))
    assert drawn.device == CUDA and drawn.tolist() == [1.0] * 4


# ------------------------------------------------------------------ moving and converting

def test_to_moves_and_converts() -> None:
    x = tapegrad.tensor([[1.5, -2.0], [3.0, 0.25]])
    on_cuda = x.to("cuda")
    assert on_cuda.device == CUDA and on_cuda.dtype == tapegrad.float32
    assert_close(on_cuda, x)
    assert on_cuda.to("cuda") is on_cuda and on_cuda.cuda() is on_cuda and on_cuda.to(CUDA) is on_cuda
    assert on_cuda.to(tapegrad.float32) is on_cuda
    assert on_cuda.to("cuda", copy=True) is not on_cuda
    as_double = on_cuda.to(tapegrad.float64)
    assert as_double.device == CUDA and as_double.dtype == tapegrad.float64
    assert_close(as_double, x.double())
    both = x.to("cuda", tapegrad.int64)
    assert both.device == CUDA and both.dtype == tapegrad.int64
    assert both.tolist() == [[1, -2], [3, 0]]
    like = x.to(tapegrad.ones(1, dtype=tapegrad.float64, device="cuda"))
    assert like.device == CUDA and like.dtype == tapegrad.float64
    back = on_cuda.to(device="cpu", dtype=tapegrad.float64)
    assert back.device.type == "cpu" and back.dtype == tapegrad.float64
    assert_close(back, x.double())
    assert x.cuda(0).device == CUDA and x.cuda(CUDA).device == CUDA
    assert on_cuda.cpu().cpu().device.type == "cpu"
    assert on_cuda.float() is on_cuda and on_cuda.double().device == CUDA
    assert on_cuda.long().dtype == tapegrad.int64 and on_cuda.bool().dtype == tapegrad.bool


def test_to_of_a_strided_view_copies_its_values() -> None:
    x = tapegrad.tensor(values((3, 4)), device="cuda")
    assert_close(x.t().cpu(), x.cpu().t())
    assert_close(x[:, 1:3].to("cpu", tapegrad.float32), x.cpu()[:, 1:3].float())


def test_gradient_flows_back_across_devices() -> None:
    x = tapegrad.tensor(values((2, 3)), requires_grad=True)
    y = (x.cuda() * 3.0).tanh().cpu()
    assert y.device.type == "cpu" and y.grad_fn.name() == "ToCopyBackward0"
    y.backward(tapegrad.ones(2, 3))
    assert x.grad.device.type == "cpu"
    reference = tapegrad.tensor(x.detach().numpy(), requires_grad=True)
    (reference * 3.0).tanh().backward(tapegrad.ones(2, 3))
    assert_close(x.grad, reference.grad)

    w = tapegrad.tensor(values((3,)), device="cuda", requires_grad=True)
    (w.to("cpu", tapegrad.float64) * 2).backward(tapegrad.ones(3, dtype=tapegrad.float64))
    assert w.grad.device == CUDA and w.grad.dtype == tapegrad.float64
    assert w.grad.tolist() == [2.0, 2.0, 2.0]


def test_double_backward_through_a_move() -> None:
    x = tapegrad.tensor([1.0, 2.0], dtype=tapegrad.float64, requires_grad=True)
    y = x.cuda() ** 3
    (g,) = tapegrad.autograd.grad(y, x, tapegrad.ones(2, dtype=tapegrad.float64, device="cuda"),
                                  create_graph=True)
    assert g.device.type == "cpu"
    (gg,) = tapegrad.autograd.grad(g, x, tapegrad.ones(2, dtype=tapegrad.float64))
    assert gg.tolist() == [6.0, 12.0]


def test_module_moves_in_place_keeping_parameter_objects() -> None:
    class Affine(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(tapegrad.tensor([1.0, 2.0, 3.0]))
            self.shift = nn.Parameter(tapegrad.tensor([0.5, 0.5, 0.5]))
            self.register_buffer("count", tapegrad.tensor([4]))

        def forward(self, x: tapegrad.Tensor) -> tapegrad.Tensor:
            return x * self.scale + self.shift

    model = Affine()
    params = list(model.parameters())
    optimizer = tapegrad.optim.SGD(model.parameters(), lr=0.1)
    assert model.cuda() is model
    assert all(a is b for a, b in zip(params, model.parameters()))
    assert optimizer.param_groups[0]["params"][0] is model.scale
    assert model.scale.device == CUDA and model.count.device == CUDA
    assert model.scale.requires_grad and model.scale.is_leaf
    out = model(tapegrad.ones(2, 3, device="cuda"))
    assert out.device == CUDA
    out.backward(tapegrad.ones(2, 3, device="cuda"))
    assert model.scale.grad.device == CUDA and model.scale.grad.tolist() == [2.0, 2.0, 2.0]
    model.to("cpu")
    assert model.scale.device.type == "cpu" and model.scale.grad.device.type == "cpu"
    assert model.count.device.type == "cpu"
    model.to(CUDA, tapegrad.float64)
    assert model.scale.dtype == tapegrad.float64 and model.count.dtype == tapegrad.int64
    assert model.shift.device == CUDA


# ------------------------------------------------------------------ values out

def test_values_are_copied_to_the_host() -> None:
    x = tapegrad.tensor([[1.0, 2.5], [-3.0, 4.0]], device="cuda")
    s = tapegrad.tensor(2.5, device="cuda")
    assert x.tolist() == [[1.0, 2.5], [-3.0, 4.0]]
    assert s.item() == 2.5 and float(s) == 2.5 and int(s) == 2 and bool(s)
    assert f"{s:.2f}" == "2.50"
    assert tapegrad.tensor([3], device="cuda").item() == 3
    assert [1, 2, 3][tapegrad.tensor(1, device="cuda")] == 2
    assert x.numpy(force=True).tolist() == x.tolist()
    assert x.is_contiguous() and not x.t().is_contiguous()
    assert x.stride() == (2, 1) and x.t().stride() == (1, 2) and x.element_size() == 4
    assert x.data_ptr() != 0 and x[1].data_ptr() == x.data_ptr() + 8


def test_repr_shows_the_device_as_pytorch() -> None:
    x = tapegrad.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    assert repr(x) == "tensor([1., 2.], device='cuda:0', requires_grad=True)"
    assert str(x * 2) == "tensor([2., 4.], device='cuda:0', grad_fn=<MulBackward0>)"
    assert repr(tapegrad.tensor([1, 2], device="cuda")) == "tensor([1, 2], device='cuda:0')"
    assert repr(tapegrad.tensor(1.5, dtype=tapegrad.float64, device="cuda")) == \
        "tensor(1.5000, device='cuda:0', dtype=tapegrad.float64)"


def test_numpy_refuses_as_pytorch() -> None:
    x = tapegrad.ones(2, device="cuda")
    message = ("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host "
               "memory first.")
    with pytest.raises(TypeError) as caught:
        x.numpy()
    assert str(caught.value) == message
    with pytest.raises(TypeError) as caught:
        np.asarray(x)
    assert str(caught.value) == message
    with pytest.raises(TypeError, match="can't convert cuda:0"):
        x.requires_grad_().numpy()


def test_deepcopy_pickle_and_grad_assignment() -> None:
    x = tapegrad.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    clone = copy.deepcopy(x)
    assert clone.device == CUDA and clone.requires_grad and clone.tolist() == [1.0, 2.0]
    assert clone.data_ptr() != x.data_ptr()
    loaded = pickle.loads(pickle.dumps(x))
    assert loaded.device == CUDA and loaded.requires_grad and loaded.tolist() == [1.0, 2.0]
    with pytest.raises(RuntimeError, match="different device"):
        x.grad = tapegrad.ones(2)
    x.grad = tapegrad.ones(2, device="cuda")
    assert x.grad.device == CUDA


# ------------------------------------------------------------------ mixing devices

SAME_DEVICE = "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"


@pytest.mark.parametrize("combine", [
    lambda a, b: a + b, lambda a, b: b * a, lambda a, b: tapegrad.maximum(a, b),
    lambda a, b: tapegrad.where(a > 0, a, b), lambda a, b: tapegrad.cat([a, b]),
    lambda a, b: tapegrad.stack([b, a]), lambda a, b: a.add_(b), lambda a, b: tapegrad.equal(a, b)],
    ids=["add", "rmul", "maximum", "where", "cat", "stack", "add_", "equal"])
def test_mixing_devices_raises_as_pytorch(combine: Any) -> None:
    a = tapegrad.ones(3, device="cuda")
    b = tapegrad.ones(3)
    with pytest.raises(RuntimeError) as caught:
        combine(a, b)
    assert str(caught.value) == SAME_DEVICE


def test_zero_dim_cpu_tensors_act_as_scalars() -> None:
    x = tapegrad.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    scale = tapegrad.tensor(3.0, requires_grad=True)
    y = x * scale + tapegrad.tensor(1.0)
    assert y.device == CUDA and y.tolist() == [4.0, 7.0]
    y.backward(tapegrad.ones(2, device="cuda"))
    assert scale.grad.device.type == "cpu" and scale.grad.shape == () and scale.grad.item() == 3.0
    assert x.grad.device == CUDA and x.grad.tolist() == [3.0, 3.0]
    # The 0-d tensor's dtype takes part in promotion as a 0-d tensor, as in PyTorch.
    assert (tapegrad.ones(2, dtype=tapegrad.int32, device="cuda") * tapegrad.tensor(2)).dtype == tapegrad.int32
    assert (tapegrad.ones(2, dtype=tapegrad.int32, device="cuda") * tapegrad.tensor(2.5)).dtype == tapegrad.float32


# ------------------------------------------------------------------ autograd details

def test_implicit_root_gradient_of_a_cuda_scalar() -> None:
    x = tapegrad.tensor(3.0, device="cuda", requires_grad=True)
    (x * x * 2).backward()
    assert x.grad.device == CUDA and x.grad.item() == 12.0


def test_repeated_backward_stays_on_the_eager_sweep() -> None:
    # Backward-time fusion compiles CPU kernels for a tape seen three times: CUDA tapes opt out.
    x = tapegrad.tensor(values((4,)), device="cuda", requires_grad=True)
    grads = []
    for _ in range(5):
        x.grad = None
        ((x * x + 1).tanh() * x).backward(tapegrad.ones(4, device="cuda"))
        grads.append(x.grad.tolist())
    assert all(g == grads[0] for g in grads)


def test_higher_order_gradients_on_cuda() -> None:
    data = values((3,), seed=4)
    results = []
    for device in ("cpu", "cuda"):
        x = tapegrad.tensor(data, device=device, requires_grad=True)
        y = (x * x).sigmoid() * x
        (g,) = tapegrad.autograd.grad(y, x, tapegrad.ones(3, dtype=tapegrad.float64, device=device),
                                      create_graph=True)
        (gg,) = tapegrad.autograd.grad(g, x, tapegrad.ones(3, dtype=tapegrad.float64, device=device))
        results.append((g, gg))
    assert_close(results[1][0], results[0][0])
    assert_close(results[1][1], results[0][1])


def test_broadcast_gradient_of_a_higher_order_sum() -> None:
    data = values((2, 3), seed=5)
    bias = values((3,), seed=6)
    results = []
    for device in ("cpu", "cuda"):
        x = tapegrad.tensor(data, device=device)
        b = tapegrad.tensor(bias, device=device, requires_grad=True)
        y = (x * b * b).tanh()
        (g,) = tapegrad.autograd.grad(y, b, tapegrad.ones(2, 3, dtype=tapegrad.float64, device=device),
                                      create_graph=True)
        (gg,) = tapegrad.autograd.grad(g, b, tapegrad.ones(3, dtype=tapegrad.float64, device=device))
        results.append((g, gg))
    assert_close(results[1][0], results[0][0])
    assert_close(results[1][1], results[0][1])


# ------------------------------------------------------------------ what is not supported yet

def _cpu_only_op(body: str) -> Any:
    """A function standing for an op whose module has no CUDA branch yet (``body`` uses
    ``input._data`` as the CPU code paths do)."""
    import numba

    namespace: dict[str, Any] = {"__name__": "tapegrad.ops.example", "np": np, "numba": numba,
                                 "first": numba.njit(lambda a: a.ravel()[0])}
    exec(f"def scale_rows(input):\n    return {body}\n", namespace)
    return namespace["scale_rows"]


@pytest.mark.parametrize("body", [
    "np.ascontiguousarray(input._data)", "np.concatenate([input._data, input._data])",
    "np.exp(input._data)", "input._data.sum()", "input._data.astype(np.float64)", "first(input._data)",
], ids=["conversion", "array-function", "ufunc", "method", "astype", "njit"])
def test_cpu_only_paths_raise_not_implemented_naming_op_and_device(body: str) -> None:
    with pytest.raises(NotImplementedError) as caught:
        _cpu_only_op(body)(tapegrad.ones(2, 3, device="cuda"))
    message = str(caught.value)
    assert "'scale_rows'" in message and "cuda" in message, message


def test_cpu_kernels_refuse_device_arrays() -> None:
    import numba

    @numba.njit
    def first(a: Any) -> Any:
        return a[0]

    with pytest.raises(NotImplementedError, match="CPU"):
        first(tapegrad.ones(2, device="cuda")._data)


@pytest.mark.skipif(not SIMULATED, reason="checks the simulator hides its host arrays")
def test_simulated_buffers_do_not_act_as_numpy_arrays() -> None:
    data = tapegrad.ones(2, device="cuda")._data
    with pytest.raises(NotImplementedError):
        data.sum()
    with pytest.raises(NotImplementedError):
        np.add(data, 1)
    with pytest.raises(NotImplementedError):
        data + 1
    assert not hasattr(data, "no_such_attribute")


_POOL_CHECK = """
import numba.cuda, tapegrad
x = tapegrad.ones(3, device="cuda")
print(type(numba.cuda.current_context().memory_manager).__name__, x.tolist())
"""


@pytest.mark.skipif(SIMULATED, reason="the simulator has no device memory")
@pytest.mark.parametrize("choice, manager", [(None, "PoolMemoryManager"), ("numba", "NumbaCUDAMemoryManager")])
def test_tensor_memory_comes_from_the_stream_ordered_pool(choice: str | None, manager: str) -> None:
    # A new process: the manager is chosen when the first CUDA context is made, and another
    # test in this one may have made it with numba alone (then numba's manager stays).
    env = {k: v for k, v in os.environ.items() if k != "TAPEGRAD_CUDA_ALLOCATOR"}
    if choice is not None:
        env["TAPEGRAD_CUDA_ALLOCATOR"] = choice
    result = subprocess.run([sys.executable, "-c", _POOL_CHECK], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == manager and "[1.0, 1.0, 1.0]" in result.stdout
    x = tapegrad.ones(1000, device="cuda")
    total = x
    for _ in range(200):  # each sum frees the one before it, with no synchronization in between
        total = total + x
    assert total.sum().item() == 201000.0 and total.tolist() == [201.0] * 1000


def test_internal_constants_are_uploaded_once_and_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    # Index maps (flip, interpolate) and masks repeat per call: equal ones share one device copy,
    # a different one gets its own, and the cache keeps to its byte budget.
    from tapegrad.cuda import _arrays

    monkeypatch.setattr(_arrays, "_constants", type(_arrays._constants)())
    monkeypatch.setattr(_arrays, "_constant_bytes", [0])
    first, again = _arrays.constant(np.arange(4)), _arrays.constant(np.arange(4))
    assert first is again
    np.testing.assert_array_equal(first.copy_to_host(), np.arange(4))
    other = _arrays.constant(np.arange(4, dtype=np.int32))
    assert other is not first and other.dtype == np.int32
    monkeypatch.setattr(_arrays, "CONSTANT_BUDGET", 64)
    _arrays.constant(np.zeros(6))  # 48 bytes: the oldest entries go to stay within 64
    assert _arrays._constant_bytes[0] <= 64 and _arrays.constant(np.arange(4)) is not first
    big = np.zeros(_arrays.CONSTANT_MAX_BYTES // 8 + 1)
    assert _arrays.constant(big) is not _arrays.constant(big)  # too big to keep
    x = tapegrad.arange(6.0, device="cuda").reshape(2, 3)
    before = len(_arrays._constants)
    np.testing.assert_array_equal(x.flip(1).cpu().numpy(), np.arange(6.0).reshape(2, 3)[:, ::-1])
    after = len(_arrays._constants)
    np.testing.assert_array_equal(x.flip(1).cpu().numpy(), np.arange(6.0).reshape(2, 3)[:, ::-1])
    assert after == before + 1 == len(_arrays._constants)  # the flip's index map, uploaded once


@pytest.mark.parametrize("shape", [(3,), (1,)], ids=["three", "one"])
def test_host_arrays_with_a_new_axis_upload(shape: tuple[int, ...]) -> None:
    # a[:, None] has stride 0 on its size-1 dim; it still uploads, as a tensor and as a constant.
    from tapegrad.cuda import _arrays

    host = np.arange(float(shape[0]))[:, None]
    assert 0 in host.strides
    for upload in (_arrays.to_device, _arrays.constant):
        np.testing.assert_array_equal(upload(host).copy_to_host(), host)
    assert_close(tapegrad.tensor(host, device="cuda"), host)

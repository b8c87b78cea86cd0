"""Lazy modules made on CUDA (``device='cuda'``) or moved there before their first call:
the placeholders materialize on CUDA, and the drawn parameters, outputs and gradients equal
the CPU module's from the same seed (the CUDA generator draws the CPU generator's numbers).

Runs in the CUDA simulator or on a GPU (see ``conftest.py``); the tensors are tiny::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_lazy.py -q
"""
from __future__ import annotations

from typing import Any, Callable

import pytest

from cuda_helpers import HAVE_CUDA, SKIP_REASON, assert_close, values  # noqa: E402

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad
from tapegrad import nn
from tapegrad.nn.parameter import is_lazy

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

MAKERS: dict[str, Callable[[str, bool], Any]] = {
    "LazyLinear": lambda device, move: (nn.LazyLinear(3, dtype=tapegrad.float64).to(device) if move
                                        else nn.LazyLinear(3, device=device, dtype=tapegrad.float64)),
    "LazyConv2d": lambda device, move: (nn.LazyConv2d(2, 2, padding=1).double().to(device) if move
                                        else nn.LazyConv2d(2, 2, padding=1, device=device, dtype=tapegrad.float64)),
}
SHAPES = {"LazyLinear": (2, 4), "LazyConv2d": (1, 2, 3, 3)}


@pytest.mark.parametrize("move", [False, True], ids=["device_argument", "moved_before_init"])
@pytest.mark.parametrize("name", list(MAKERS))
def test_a_lazy_module_on_cuda_materializes_there_and_matches_the_cpu(name: str, move: bool) -> None:
    results = {}
    for device in ("cpu", "cuda"):
        tapegrad.manual_seed(5)
        module = MAKERS[name](device, move)
        placeholders = list(module.parameters())
        assert all(is_lazy(p) and p.device.type == device for p in placeholders)
        x = tapegrad.tensor(values(SHAPES[name], seed=1), device=device, requires_grad=True)
        out = module(x)
        out.backward(tapegrad.tensor(values(tuple(out.shape), seed=2), device=device))
        assert type(module).__name__ == name.removeprefix("Lazy")
        assert [id(p) for p in module.parameters()] == [id(p) for p in placeholders]
        for p in module.parameters():
            assert type(p) is nn.Parameter and p.device.type == device and p.grad.device.type == device
        assert out.device.type == device
        results[device] = out, x.grad, [(p, p.grad) for p in module.parameters()]
    (cpu_out, cpu_grad, cpu_params), (cuda_out, cuda_grad, cuda_params) = results["cpu"], results["cuda"]
    assert_close(cuda_out, cpu_out)
    assert_close(cuda_grad, cpu_grad)
    assert len(cuda_params) == len(cpu_params) > 0
    for (p_cuda, g_cuda), (p_cpu, g_cpu) in zip(cuda_params, cpu_params):
        assert_close(p_cuda, p_cpu)
        assert_close(g_cuda, g_cpu)

"""The GPU workloads of the benchmark suite (``asv_benchmarks/workloads.py``): the ``-cuda`` MLP
step runs on CUDA and takes the CPU step's values, here at a tiny size (the simulator runs
every CUDA thread in Python); and no GPU benchmark times the simulator."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SIMULATED, SKIP_REASON

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

import tapegrad  # noqa: E402
from asv_benchmarks import workloads  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")


@pytest.mark.parametrize("classify", [True, False], ids=["cross_entropy", "mse"])
def test_cuda_mlp_step_trains_as_the_cpu_step(classify: bool) -> None:
    losses = {}
    for device in ("cpu", "cuda"):
        step = workloads._mlp_step(tapegrad, (6, 5, 3), 4, classify=classify, device=device)
        losses[device] = [step() for _ in range(3)]
        assert all(loss.device.type == device for loss in losses[device])
    cpu = [loss.item() for loss in losses["cpu"]]
    cuda = [loss.item() for loss in losses["cuda"]]
    np.testing.assert_allclose(cuda, cpu, rtol=1e-5)
    assert cpu[2] < cpu[0]  # the step really updates the parameters


def test_the_w3_cuda_workload_is_registered_for_tapegrad_and_torch_only() -> None:
    assert workloads.has_workload("W3-cuda", "tapegrad") and workloads.has_workload("W3-cuda", "torch")
    assert workloads.has_workload("W3-cuda", "tapegrad", "compiled")
    assert not workloads.has_workload("W3-cuda", "jax")


def test_the_compiled_cuda_step_synchronizes_outside_the_compiled_function() -> None:
    calls = []
    original = tapegrad.cuda.synchronize
    tapegrad.cuda.synchronize = lambda *args: calls.append(args)  # type: ignore[assignment]
    try:
        step = workloads._synchronized(tapegrad, tapegrad.compile(
            workloads._mlp_step(tapegrad, (6, 5, 3), 4, classify=True, device="cuda")))
        losses = [step().item() for _ in range(3)]
    finally:
        tapegrad.cuda.synchronize = original
    assert len(calls) == 3  # the third call replayed, and still synchronized
    eager = workloads._mlp_step(tapegrad, (6, 5, 3), 4, classify=True, device="cuda")
    np.testing.assert_allclose(losses, [eager().item() for _ in range(3)], rtol=1e-5)


@pytest.mark.skipif(not SIMULATED, reason="checks that the simulator is never timed")
def test_gpu_benchmarks_skip_under_the_simulator() -> None:
    from asv_benchmarks import bench_gpu, bench_workloads

    assert not workloads.cuda_ready("tapegrad")
    for benchmark in (bench_gpu.FusedElementwiseBandwidth(), bench_gpu.W3StepOverTorchCUDA()):
        with pytest.raises(NotImplementedError, match="GPU"):
            benchmark.setup()
    with pytest.raises(NotImplementedError, match="GPU"):
        bench_workloads.W3MLPStepCUDA().setup("eager")

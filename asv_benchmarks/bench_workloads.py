"""Workloads W1-W4 and W6 of the design document: time and peak memory of one step.

Every class is parameterized over tapegrad's execution modes (``workloads.MODES``): "eager", and
"compiled" (the step under ``tapegrad.compile``; its setup traces and compiles it, so the timed
calls replay the generated code). A workload without a compiled variant (W1, W6) is reported as
skipped in that mode, and so is a ``-cuda`` workload on a machine without a GPU. W5 (a new
process) is in ``bench_startup.py``; the GPU ratios to a copy and to PyTorch in ``bench_gpu.py``.
"""
from __future__ import annotations

from typing import Any

from .workloads import MODES, build, cuda_ready, has_workload, warmed


class _Workload:
    workload = ""
    params = (list(MODES),)
    param_names = ["mode"]
    # The large steps take 50-100 ms on a 2-core machine; a few samples suffice.
    repeat = (3, 10, 20.0)

    def setup(self, mode: str) -> None:
        if not has_workload(self.workload, "tapegrad", mode):
            raise NotImplementedError(f"{self.workload} has no {mode} variant")
        if self.workload.endswith("-cuda") and not cuda_ready("tapegrad"):
            raise NotImplementedError(f"{self.workload} needs a CUDA GPU")
        self.step = warmed(build(self.workload, "tapegrad", mode))

    def time_step(self, mode: str) -> Any:
        return self.step()

    def peakmem_step(self, mode: str) -> Any:
        return self.step()


class W1Add(_Workload):
    """``a + b``, 16 floats that require grad (per-op overhead)."""
    workload = "W1"


class W1bChainBackward(_Workload):
    """``((a*b+1).tanh()*a).sum().backward()`` on 16 floats (recording and backward overhead)."""
    workload = "W1b"


class W2Elementwise(_Workload):
    """``(tanh(x*.5+1)*x + sigmoid(x)).sum()`` forward and backward, 4M float32."""
    workload = "W2"


class W3MLPStep(_Workload):
    """MLP 784-256-128-10, batch 64: zero_grad, forward, cross-entropy, backward, SGD momentum."""
    workload = "W3"


class W3MLPStepCUDA(_Workload):
    """W3 on cuda:0, ended by a synchronize (skipped without a GPU)."""
    workload = "W3-cuda"


class W4SmallMLPStep(_Workload):
    """MLP 2-16-16-1, batch 32: the same step with MSE loss (overhead-bound)."""
    workload = "W4"


class W6Matmul(_Workload):
    """1024x1024 float32 matmul, forward and backward (three BLAS calls)."""
    workload = "W6"

"""The benchmarks compare like with like: tapegrad and PyTorch, given the same seed, compute the
same numbers step after step (tapegrad reproduces PyTorch's random streams and initialisation).
Not timed."""
from __future__ import annotations

import math

import pytest

from asv_benchmarks import workloads


@pytest.mark.parametrize("workload", ["W2", "W3", "W4", "W6"])
def test_tapegrad_and_torch_steps_agree(workload: str) -> None:
    pytest.importorskip("torch")
    ours, theirs = workloads.build(workload, "tapegrad"), workloads.build(workload, "torch")
    for _ in range(3):  # the training steps update their parameters in between
        a, b = ours(), theirs()
        a_value, b_value = float(a.detach().sum()), float(b.detach().sum())
        assert math.isclose(a_value, b_value, rel_tol=1e-4, abs_tol=1e-3), (workload, a_value, b_value)

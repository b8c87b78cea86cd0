"""The benchmarks compare like with like: tapegrad and PyTorch, given the same seed, compute the
same numbers step after step (tapegrad reproduces PyTorch's random streams and initialisation),
and tapegrad's compiled steps compute what its eager steps do. Not timed."""
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


# W1b returns nothing (its work is the gradients of tensors its closure holds): left out.
@pytest.mark.parametrize("workload", [w for w in ["W2", "W3", "W4", "W6"]
                                      if workloads.has_workload(w, "tapegrad", "compiled")])
def test_compiled_and_eager_steps_agree(workload: str) -> None:
    # A compiled step comes back from ``build`` already called COMPILED_WARMUP_CALLS times (its
    # training steps have updated their parameters that often): the eager twin catches up first.
    compiled, eager = workloads.build(workload, "tapegrad", "compiled"), workloads.build(workload, "tapegrad")
    for _ in range(workloads.COMPILED_WARMUP_CALLS):
        eager()
    for _ in range(3):  # replays of the generated code
        a, b = compiled(), eager()
        assert not a.requires_grad  # compiled steps return detached tensors
        a_value, b_value = float(a.sum()), float(b.detach().sum())
        assert math.isclose(a_value, b_value, rel_tol=1e-5, abs_tol=1e-5), (workload, a_value, b_value)

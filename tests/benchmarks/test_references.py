"""What this machine can do, measured in the same run as the workloads: the roofline lines of
the summary compare W2 with a NumPy memory copy of its array and W3/W6 with NumPy's sgemm."""
from __future__ import annotations

from typing import Any

from asv_benchmarks import workloads


def test_numpy_copy(timed: Any) -> None:
    timed("reference", "numpy copy", workloads.warmed(workloads.numpy_copy()))


def test_numpy_sgemm(timed: Any) -> None:
    timed("reference", "numpy sgemm", workloads.warmed(workloads.numpy_sgemm()))

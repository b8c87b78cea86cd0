"""Fixtures and the end-of-run summary of the pytest-benchmark suite.

Each test times one workload of the design document in one library (tapegrad, and PyTorch and
JAX when they are installed). At the end of the session the summary prints tapegrad's median
time over each peer's, and a roofline line per large workload: achieved GB/s for elementwise work
against a NumPy memory copy, achieved GFLOP/s for matmul work against NumPy's sgemm, both
measured in the same run.

Here each library is timed in its own block of rounds, so a change in machine load between
blocks moves the ratios; ``benchmarks/compare.py`` alternates the libraries round by round and
is the one to quote.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from asv_benchmarks import workloads

PEERS = ("torch", "jax")

# (row, library) -> median seconds per step, filled as the benchmarks run.
_medians: dict[tuple[str, str], float] = {}


@pytest.fixture
def timed(benchmark: Any) -> Callable[..., Any]:
    """``timed(row, library, fn, group=None, **pedantic)`` benchmarks ``fn`` and keeps its median
    for the summary under ``(row, library)``; ``pedantic`` keywords switch to
    ``benchmark.pedantic``. ``group`` (default: ``row``) is pytest-benchmark's table."""

    def run(row: str, library: str, fn: Callable[..., Any], group: str | None = None, **pedantic: Any) -> Any:
        benchmark.group = group or row
        benchmark.extra_info.update(workload=row, library=library)
        result = benchmark.pedantic(fn, **pedantic) if pedantic else benchmark(fn)
        if benchmark.stats:  # None when benchmarking is disabled
            _medians[row, library] = benchmark.stats.stats.median
        return result

    return run


def _format_seconds(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _format_ratio(ratio: float) -> str:
    # A compiled small step can be hundreds of times faster than a peer: keep a digit showing.
    return f"{ratio:.2f}x" if ratio >= 0.095 else f"{ratio:.2g}x"


def _ratio_table() -> list[str]:
    # Grouped by workload, in the order they ran (the sort is stable); tapegrad's modes other than
    # eager are rows of their own ("W2 compiled", "W5 compiled warm cache").
    rows = sorted(dict.fromkeys(row for row, library in _medians if library == "tapegrad"),
                  key=lambda row: row.split()[0])
    width = max([16, *(len(row) for row in rows)])
    header = f"{'workload':{width}s} {'tapegrad':>10s}"
    for peer in PEERS:
        header += f" {peer:>10s} {'ratio':>7s}"
    lines = [header]
    for row in rows:
        ours = _medians[row, "tapegrad"]
        line = f"{row:{width}s} {_format_seconds(ours):>10s}"
        for peer in PEERS:
            # A peer has one time per workload ("W2", "W5"), set against each of tapegrad's modes
            # and cache states ("W2 compiled", "W5 warm cache").
            theirs = _medians.get((row, peer)) or _medians.get((row.split()[0], peer))
            line += (f" {_format_seconds(theirs):>10s} {_format_ratio(ours / theirs):>7s}" if theirs
                     else f" {'-':>10s} {'-':>7s}")
        lines.append(line)
    return lines


def _roofline_line(row: str, amount: float, unit: str, reference: str, reference_amount: float) -> str | None:
    """Achieved rate of ``row`` in each library, and its share of the reference's rate."""
    reference_time = _medians.get(("reference", reference))
    parts = []
    for library in ("tapegrad", *PEERS):
        if reference_time and (row, library) in _medians:
            achieved = amount / _medians[row, library] / 1e9
            share = achieved / (reference_amount / reference_time / 1e9)
            parts.append(f"{library} {achieved:.3g} {unit} ({share:.0%})")
    if not parts:
        return None
    peak = reference_amount / reference_time / 1e9
    return f"{row} roofline, against {reference} at {peak:.3g} {unit}: " + ", ".join(parts)


def _roofline_lines() -> list[str]:
    lines = [_roofline_line("W2", workloads.W2_BYTES, "GB/s", "numpy copy", workloads.COPY_BYTES),
             _roofline_line("W3", workloads.W3_FLOPS, "GFLOP/s", "numpy sgemm", workloads.SGEMM_FLOPS),
             _roofline_line("W6", workloads.W6_FLOPS, "GFLOP/s", "numpy sgemm", workloads.SGEMM_FLOPS)]
    return [line for line in lines if line]


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own tables
def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _medians:
        return
    write = terminalreporter.write_line
    terminalreporter.section("tapegrad against its peers")
    write("median time per step; ratio = tapegrad / peer (below 1: tapegrad is faster)")
    for line in _ratio_table():
        write(line)
    rooflines = _roofline_lines()
    if rooflines:
        write(f"roofline: W2 must move {workloads.W2_BYTES / 1e6:.1f} MB (read x, write its gradient); "
              f"W3 does {workloads.W3_FLOPS / 1e9:.3g} and W6 {workloads.W6_FLOPS / 1e9:.3g} GFLOP of matmul")
        for line in rooflines:
            write(line)
    write("")
    write("Libraries were timed one after another, not alternately: quote the ratios of "
          "`python benchmarks/compare.py` instead.")

"""The design document's workloads W1-W6 in tapegrad and its peers (pytest-benchmark).

Run with ``python -m pytest tests/benchmarks``; the default test command does not collect
this directory. ``--benchmark-disable`` runs every benchmark once without timing (a smoke test).
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from asv_benchmarks import workloads

STEP_WORKLOADS = ["W1", "W1b", "W2", "W3", "W3-cuda", "W4", "W6"]
W5_ROUNDS = 3


def require(library: str) -> None:
    """Skips the test when ``library`` (a peer) is not installed."""
    if library != "tapegrad":
        pytest.importorskip(library)


def row_name(workload: str, mode: str) -> str:
    """The summary's row: tapegrad's eager mode is the plain workload name."""
    return workload if mode == "eager" else f"{workload} {mode}"


# Workload-major order: the libraries of one workload run back to back. tapegrad runs in each of
# its modes; a peer runs its own way (JAX under jit).
STEP_CASES = [pytest.param(workload, library, mode,
                           id=f"{workload}-{library}-{mode}" if library == "tapegrad" else f"{workload}-{library}")
              for workload in STEP_WORKLOADS for library in workloads.LIBRARIES
              for mode in (workloads.MODES if library == "tapegrad" else ("eager",))
              if workloads.has_workload(workload, library, mode)]


@pytest.mark.parametrize("workload, library, mode", STEP_CASES)
def test_step(workload: str, library: str, mode: str, timed: Any) -> None:
    require(library)
    if workload.endswith("-cuda") and not workloads.cuda_ready(library):
        pytest.skip(f"{workload} needs a CUDA GPU and {library} built for it")
    step = workloads.warmed(workloads.build(workload, library, mode))
    timed(row_name(workload, mode) if library == "tapegrad" else workload, library, step, group=workload)


@pytest.fixture(scope="module", params=workloads.MODES)
def warm_cache(request: pytest.FixtureRequest) -> Iterator[workloads.WarmCache]:
    cache = workloads.WarmCache("tapegrad", request.param)
    yield cache
    cache.close()


@pytest.fixture
def empty_cache_dirs() -> Iterator[Any]:
    """``fresh(mode)`` makes a fresh temporary directory for every round; all are removed after."""
    made: list[tempfile.TemporaryDirectory] = []

    def fresh(mode: str) -> Any:
        def setup() -> tuple[tuple[str, str, str], dict]:
            made.append(tempfile.TemporaryDirectory(prefix="tapegrad-bench-"))
            return ("tapegrad", made[-1].name, mode), {}
        return setup

    yield fresh
    for directory in made:
        directory.cleanup()


def test_w5_tapegrad_warm_cache(warm_cache: workloads.WarmCache, timed: Any) -> None:
    report = timed(row_name("W5", warm_cache.mode) + " warm cache", "tapegrad", warm_cache.run, group="W5",
                   rounds=W5_ROUNDS, iterations=1)
    assert report["seconds"] > 0


@pytest.mark.parametrize("mode", workloads.MODES)
def test_w5_tapegrad_empty_cache(mode: str, empty_cache_dirs: Any, timed: Any) -> None:
    report = timed(row_name("W5", mode) + " empty cache", "tapegrad", workloads.run_startup, group="W5",
                   setup=empty_cache_dirs(mode), rounds=W5_ROUNDS, iterations=1)
    assert report["seconds"] > 0


@pytest.mark.parametrize("peer", ["torch", "jax"])
def test_w5_peer(peer: str, timed: Any, benchmark: Any) -> None:
    # A peer has no kernel cache of tapegrad's kind: its one start-up time stands against both
    # of tapegrad's rows. One untimed run first, so that every library starts with its files in
    # the operating system's page cache (tapegrad's warm-cache fixture does the same).
    require(peer)
    if not benchmark.disabled:
        workloads.run_startup(peer)
    report = timed("W5", peer, lambda: workloads.run_startup(peer), rounds=W5_ROUNDS, iterations=1)
    assert report["seconds"] > 0

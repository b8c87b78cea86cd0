"""Start-up and compile time: new processes with empty and warm kernel caches (W5).

Each measurement is a new Python process whose kernel caches (``TAPEGRAD_CACHE_DIR`` and
``NUMBA_CACHE_DIR``) point at a temporary directory: a fresh one for "empty", one filled by an
earlier run for "warm". Processes are slow (an empty cache compiles every kernel W3 needs), so
they run once per asv run in ``setup_cache`` and the ``track_`` benchmarks report the medians.
In the "compiled" mode the process runs the W3 step under ``tapegrad.compile`` until its first
replay (three calls, see ``workloads.run_first_step``), so tracing and code generation count.
"""
from __future__ import annotations

import statistics
import tempfile
from typing import Any

from .workloads import MODES, run_import, run_startup

_EMPTY_RUNS = 2
_WARM_RUNS = 3
_CACHES = ["empty", "warm"]


class Startup:
    params = (_CACHES, list(MODES))
    param_names = ["cache", "mode"]
    timeout = 900

    def setup_cache(self) -> dict[tuple[str, str], dict[str, Any]]:
        results: dict[tuple[str, str], dict[str, Any]] = {}
        for mode in MODES:
            empty, warm = [], []
            with tempfile.TemporaryDirectory(prefix="tapegrad-bench-") as cache_dir:
                empty.append(run_startup("tapegrad", cache_dir, mode))  # and fills the cache
                for _ in range(_WARM_RUNS):
                    warm.append(run_startup("tapegrad", cache_dir, mode))
            for _ in range(_EMPTY_RUNS - 1):
                with tempfile.TemporaryDirectory(prefix="tapegrad-bench-") as cache_dir:
                    empty.append(run_startup("tapegrad", cache_dir, mode))
            results["empty", mode] = {"runs": empty}
            results["warm", mode] = {"runs": warm}
        return results

    setup_cache.timeout = 900  # type: ignore[attr-defined]

    def track_first_w3_step_seconds(self, results: dict, cache: str, mode: str) -> float:
        """W5: seconds from spawning the process to the end of its first W3 step."""
        return statistics.median(run["seconds"] for run in results[cache, mode]["runs"])

    track_first_w3_step_seconds.unit = "seconds"  # type: ignore[attr-defined]

    def track_first_w3_step_peak_rss(self, results: dict, cache: str, mode: str) -> float:
        """Peak resident memory of that process."""
        return round(statistics.median(run["peak_rss_mb"] for run in results[cache, mode]["runs"]), 1)

    track_first_w3_step_peak_rss.unit = "MB"  # type: ignore[attr-defined]


class Import:
    """Seconds from spawning a process to the end of ``import tapegrad`` (no kernel compiles)."""

    timeout = 300

    def track_import_seconds(self) -> float:
        with tempfile.TemporaryDirectory(prefix="tapegrad-bench-") as cache_dir:
            return statistics.median(run_import("tapegrad", cache_dir)["seconds"] for _ in range(3))

    track_import_seconds.unit = "seconds"  # type: ignore[attr-defined]

"""asv benchmarks of tapegrad: the design document's workloads W1-W6, per-op micro benchmarks
and start-up time. Workload definitions shared with the other suites live in ``workloads.py``."""

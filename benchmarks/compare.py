"""Side-by-side timings of tapegrad against PyTorch eager on the small workloads.

Runs the two libraries alternately (A, B, A, B, ...) and reports the median of the per-round
ratios, because these machines are shared and noisy: only ratios from one run mean anything.
Usage: ``python benchmarks/compare.py [--rounds 31]``.
"""
from __future__ import annotations

import argparse
import statistics
import timeit
from typing import Any, Callable


def workloads(lib: Any) -> dict[str, Callable[[], Any]]:
    lib.manual_seed(0)
    a = lib.randn(16, requires_grad=True)
    b = lib.randn(16, requires_grad=True)

    def add() -> Any:
        return a + b

    def chain_backward() -> None:
        ((a * b + 1).tanh() * a).sum().backward()

    return {"W1 a + b (16 floats, requires_grad)": add,
            "W1b ((a*b+1).tanh()*a).sum().backward()": chain_backward}


def per_call(fn: Callable[[], Any], number: int) -> float:
    return timeit.timeit(fn, number=number) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=31)
    args = parser.parse_args()
    import tapegrad
    import torch

    torch.set_num_threads(1)
    ours, theirs = workloads(tapegrad), workloads(torch)
    print(f"{'workload':45s} {'tapegrad':>10s} {'torch':>10s} {'ratio':>7s}")
    for name in ours:
        fa, fb = ours[name], theirs[name]
        for fn in (fa, fb):  # warm up: compile, caches
            per_call(fn, 200)
        number = 2000 if "W1 " in name else 300
        ratios, ta, tb = [], [], []
        for _ in range(args.rounds):
            a_time, b_time = per_call(fa, number), per_call(fb, number)
            ta.append(a_time)
            tb.append(b_time)
            ratios.append(a_time / b_time)
        print(f"{name:45s} {statistics.median(ta) * 1e6:8.2f}us {statistics.median(tb) * 1e6:8.2f}us "
              f"{statistics.median(ratios):7.2f}")


if __name__ == "__main__":
    main()

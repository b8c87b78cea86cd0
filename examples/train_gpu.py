"""Train the handwritten-digit classifier of ``train_cpu.py`` on a CUDA GPU with tapegrad.

The task, data, flags and outputs are those of ``examples/train_cpu.py`` (it is the same
trainer), run with the model, the optimizer state and every batch on ``cuda``: each op runs as
a CUDA kernel generated from the same scalar definitions as the CPU kernels (convolution as
im2col and a matrix product). The default model is the MLP. ``--compile`` replays the steps
as CUDA programs (each fused elementwise group one generated kernel; convolutions and pooling
call the eager kernels).

Without a GPU the trainer says so and exits with status 1. ``--simulate`` runs it under Numba's
CUDA simulator instead (kernels executed on the CPU, thread by thread: slow, so give it a small
``--limit``); the tests use it.

    pip install -e ".[examples,cuda]"
    python examples/train_gpu.py                                   # MLP, 15 epochs
    python examples/train_gpu.py --compile                         # the same, compiled steps
    python examples/train_gpu.py --model cnn                       # the CNN, eager
    python examples/train_gpu.py --simulate --limit 64 --epochs 1  # no GPU needed
"""
from __future__ import annotations

import os
import pathlib
import sys

# The simulator is chosen by an environment variable that Numba reads when it is imported.
if __name__ == "__main__" and "--simulate" in sys.argv[1:]:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import tapegrad  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import train_cpu  # noqa: E402


def main(argv: list[str] | None = None) -> float:
    argv = sys.argv[1:] if argv is None else argv
    if "-h" not in argv and "--help" not in argv:
        try:
            tapegrad.cuda.init()
        except RuntimeError as error:
            sys.stderr.write(f"train_gpu.py: no CUDA device is available here: {error}.\n"
                             "Run examples/train_cpu.py on the CPU, or pass --simulate to run under Numba's CUDA "
                             "simulator.\n")
            sys.exit(1)
    return train_cpu.main(argv, device="cuda")


if __name__ == "__main__":
    main()

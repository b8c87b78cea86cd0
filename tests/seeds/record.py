"""Record PyTorch's output of each seed program into expected/ (needs torch installed)."""
from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))
from test_seeds import PROGRAMS, SEEDS, as_torch, run_program  # noqa: E402

for program in PROGRAMS:
    output = run_program(as_torch(program.read_text()), str(program))
    (SEEDS / "expected" / f"{program.stem}.txt").write_text(output)
    print(f"recorded {program.stem}")

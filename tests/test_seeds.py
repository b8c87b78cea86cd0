"""The tutorial programs in tests/seeds/ (PyTorch lessons with ``torch`` replaced by
``tapegrad``) must run and print exactly what PyTorch prints.

Each program is checked two ways: against PyTorch 2.13's output recorded in
tests/seeds/expected/ (regenerate with ``python tests/seeds/record.py`` when torch is
installed), and, when torch is importable, against torch running the same program now.
"""
from __future__ import annotations

import contextlib
import io
import pathlib
import warnings

import pytest

SEEDS = pathlib.Path(__file__).parent / "seeds"
PROGRAMS = sorted(SEEDS.glob("seed_*.py"))


def run_program(source: str, name: str) -> str:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(source, name, "exec"), {"__name__": "__main__"})
    return stdout.getvalue()


def as_torch(source: str) -> str:
    return source.replace("tapegrad", "torch")


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.stem)
def test_seed_prints_pytorch_recorded_output(program: pathlib.Path) -> None:
    expected = (SEEDS / "expected" / f"{program.stem}.txt").read_text()
    output = run_program(program.read_text(), str(program))
    assert as_torch(output).splitlines() == expected.splitlines()


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.stem)
def test_seed_matches_torch_running_it(program: pathlib.Path) -> None:
    pytest.importorskip("torch")
    source = program.read_text()
    ours = run_program(source, str(program))
    theirs = run_program(as_torch(source), str(program))
    assert as_torch(ours).splitlines() == theirs.splitlines()


def test_seed_programs_are_present() -> None:
    assert len(PROGRAMS) == 5

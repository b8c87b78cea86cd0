"""Fixtures of the fused-backward tests."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from tapegrad.autograd import fused_backward


@pytest.fixture
def fresh_structures() -> Iterator[None]:
    """No structure seen or compiled before the test, nor left behind by it."""
    fused_backward._seen.clear()
    fused_backward._compiled.clear()
    yield
    fused_backward._seen.clear()
    fused_backward._compiled.clear()


@pytest.fixture
def unfused(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], Any]], Any]:
    """Run a callable with fusion disabled: every backward takes the ordinary sweep (and no
    sighting is counted)."""

    def run(fn: Callable[[], Any]) -> Any:
        with monkeypatch.context() as patch:
            patch.setattr(fused_backward, "run", lambda *args: None)
            patch.setattr(fused_backward, "chains", lambda steps: None)
            return fn()

    return run


@pytest.fixture
def untraceable_vjps(monkeypatch: pytest.MonkeyPatch) -> Callable[[type], None]:
    """Make the VJPs of an op class raise ``TraceError`` while a tracer records them (they
    still run untraced), as a VJP doing something the tracer cannot record would."""
    from tapegrad.compiler import trace

    def refuse(op_class: type) -> None:
        original = op_class.vjp

        def refusing(self: Any, step: Any, grad: Any) -> Any:
            if trace.ACTIVE is not None:
                raise trace.TraceError("not recordable")
            return original(self, step, grad)

        monkeypatch.setattr(op_class, "vjp", refusing)

    return refuse

"""Debug output (``debug=True`` or ``TAPEGRAD_LOG=compile``) and the shape of the recorded,
fused list: the elementwise forward and backward of one shape become one loop with the
loss's sum as its epilogue."""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from tapegrad.compiler import fusion
from tapegrad.compiler.graph import CAPTURED

PREFIX = "[tapegrad.compile]"


def _w2_closure(x):
    # The same source as in the equality and retrace tests, so the generated code is shared.
    def w2():
        x.grad = None
        loss = (tapegrad.tanh(x * .5 + 1) * x + tapegrad.sigmoid(x)).sum()
        loss.backward()
        return loss
    return w2


@pytest.fixture
def traced():
    # A new CompiledFunction per test; the generated module is shared (same source).
    x = tapegrad.linspace(-2, 2, 1000).requires_grad_()
    compiled = tapegrad.compile(_w2_closure(x), debug=True)
    return x, compiled


def _versions(compiled):
    return [version for versions in compiled._steps.values() for version in versions]


def test_debug_prints_the_list_and_the_fused_groups(traced, capfd):
    x, compiled = traced
    capfd.readouterr()
    compiled()
    assert PREFIX not in capfd.readouterr().err  # the eager first call prints nothing
    compiled()
    err = capfd.readouterr().err
    assert f"{PREFIX} traced w2" in err
    assert "captured tensor [1000] float32" in err
    for op in ("elementwise[tanh", "elementwise[sigmoid", "elementwise[tanh_backward", "sum[axes=[0]]", "return"):
        assert op in err, op
    assert "fused groups:" in err
    fused = [line for line in err.splitlines() if line.strip().startswith("fused [1000]:")]
    assert len(fused) == 1 and "+ 1 sum(s)" in fused[0]
    assert compiled.tape.format() in err
    compiled()
    assert PREFIX not in capfd.readouterr().err  # replays are silent


def test_one_fused_group_holds_forward_backward_and_the_sum(traced):
    x, compiled = traced
    for _ in range(3):
        compiled()
    assert compiled.traces == 1
    graph = compiled.tape
    assert [v.kind for v in graph.captured] == [CAPTURED] and graph.captured[0].source is x
    (version,) = _versions(compiled)
    assert version.graph is graph
    groups = [u for u in version.units if isinstance(u, fusion.Group)]
    assert len(groups) == 1
    (group,) = groups
    assert group.shape == (1000,)
    ops = [node.rule.describe(node).split(":")[0] for node in group.nodes]
    assert {"tanh", "sigmoid", "mul", "add"} <= set(ops)                    # forward
    assert {"tanh_backward", "sigmoid_backward"} <= set(ops)               # backward
    assert ops.index("tanh") < ops.index("tanh_backward")
    # Every elementwise node of the list is in the group; the loss's sum is its epilogue.
    elementwise = [n for n in graph.nodes if n.rule.elementwise]
    assert len(group.nodes) == len(elementwise)
    assert len(group.sums) == 1
    loss_value = group.sums[0].outputs[0]
    assert loss_value.shape == () and loss_value in graph.outputs
    # Outside the group only the start of backward remains (no loop, no separate sum).
    others = [u for u in version.units if not isinstance(u, fusion.Group)]
    assert not any(n.rule.elementwise or n.rule.name == "sum" for n in others)
    # Forward values that backward reads never go through memory: the loop stores the gradient only.
    stored = fusion.stored_values(graph, version.units)[id(group)]
    assert stored == {graph.outputs[1].index}
    assert graph.outputs[1].shape == (1000,)
    # The result is still right.
    value = compiled()
    xs = x.detach().numpy().astype(np.float64)
    want = (np.tanh(xs * 0.5 + 1) * xs + 1 / (1 + np.exp(-xs))).sum()
    np.testing.assert_allclose(float(value.numpy()), want, rtol=1e-5)


def test_retrace_reason_is_printed(traced, capfd):
    x, compiled = traced
    for _ in range(3):
        compiled()
    capfd.readouterr()
    old = x.data
    x.data = tapegrad.linspace(-1, 3, 300)
    try:
        compiled()
        err = capfd.readouterr().err
        assert "guard failed for w2" in err and "captured tensor is now float32[300]" in err
        assert "traced as float32[1000]" in err and "retracing" in err
        assert f"{PREFIX} traced w2" in err
    finally:
        x.data = old


def test_tapegrad_log_environment_variable(monkeypatch, capfd):
    x = tapegrad.linspace(-2, 2, 1000).requires_grad_()
    quiet = tapegrad.compile(_w2_closure(x))
    for _ in range(3):
        quiet()
    assert PREFIX not in capfd.readouterr().err
    monkeypatch.setenv("TAPEGRAD_LOG", "compile")
    loud = tapegrad.compile(_w2_closure(x))
    for _ in range(3):
        loud()
    err = capfd.readouterr().err
    assert f"{PREFIX} traced w2" in err and "fused groups:" in err


def test_decorator_forms():
    @tapegrad.compile
    def plain(a):
        return a * 2.0

    @tapegrad.compile(debug=True, cache_size=3)
    def configured(a):
        return a * 2.0

    assert isinstance(plain, tapegrad.compiler.CompiledFunction)
    assert configured.debug is True and configured.cache_size == 3
    assert plain.__name__ == "plain" and plain.__wrapped__ is not None
    assert plain.traces == 0 and plain.tape is None

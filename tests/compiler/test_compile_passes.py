"""The passes that shape the generated step: matmul epilogues (``split_bias_products``),
optimizer updates merged across parameters (``fuse_updates``) and buffer planning
(``planning.plan``). Each is checked on the list it produces and on results equal to eager."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
from compile_helpers import as_numpy, batches, make_train_step, mlp, tol
from tapegrad.compiler import fusion, passes, planning, rules
from tapegrad.compiler.graph import NODE, Graph, Node


def _train_pair(make_model, make_opt, data, loss="mse"):
    """Eager and compiled copies trained on ``data``; returns (eager model, compiled model,
    compiled step, per-step (eager loss, compiled loss))."""
    eager_model, compiled_model = make_model(), make_model()
    eager = make_train_step(eager_model, make_opt(eager_model), loss)
    compiled = tapegrad.compile(make_train_step(compiled_model, make_opt(compiled_model), loss))
    losses = [(float(as_numpy(eager(x, y))), float(as_numpy(compiled(x, y)))) for x, y in data]
    return eager_model, compiled_model, compiled, losses


def _assert_same_parameters(a: nn.Module, b: nn.Module, dtype=np.float32) -> None:
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(as_numpy(q), as_numpy(p), **tol(dtype))


def _nodes(compiled, rule):
    return [n for n in compiled.tape.nodes if n.rule is rule]


# ------------------------------------------------------------------ optimizer updates merged
@pytest.mark.parametrize("optimizer", ["adam", "sgd_momentum"])
def test_updates_of_all_parameters_run_as_one_node(optimizer):
    def make_opt(model):
        if optimizer == "adam":
            return tapegrad.optim.Adam(model.parameters(), lr=1e-2)
        return tapegrad.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)

    eager_model, compiled_model, compiled, losses = _train_pair(
        lambda: mlp((6, 8, 8, 3)), make_opt, batches("mse", 6, 5, 6, 3, np.float32))
    (merged,) = _nodes(compiled, rules.MULTI_UPDATE)
    assert merged.attrs[3] == 6  # three weights and three biases
    assert not _nodes(compiled, rules.FUSED_UPDATE)
    for expected, got in losses:
        np.testing.assert_allclose(got, expected, rtol=1e-5)
    _assert_same_parameters(eager_model, compiled_model)


def test_two_optimizers_give_two_merged_updates_and_match_eager():
    # Different kernels never merge: the body gets SGD, the head Adam.
    def make_opt(model):
        params = list(model.parameters())
        sgd = tapegrad.optim.SGD(params[:2], lr=0.05, momentum=0.5)
        adam = tapegrad.optim.Adam(params[2:], lr=1e-2)

        class Both:
            def zero_grad(self, set_to_none=True):
                sgd.zero_grad(set_to_none), adam.zero_grad(set_to_none)

            def step(self):
                sgd.step(), adam.step()

        return Both()

    eager_model, compiled_model, compiled, _ = _train_pair(
        lambda: mlp((4, 8, 8, 2)), make_opt, batches("mse", 5, 3, 4, 2, np.float32))
    merged = _nodes(compiled, rules.MULTI_UPDATE)
    assert sorted(n.attrs[0].name for n in merged) == ["optim_adam", "optim_sgd"]
    assert sorted(n.attrs[3] for n in merged) == [2, 4]
    _assert_same_parameters(eager_model, compiled_model)


def test_large_parameters_take_the_threaded_merged_update():
    # 1024 * 1024 weights plus biases pass the threshold: the threaded kernel, chunked.
    sizes = (1024, 1024, 2)
    assert sizes[0] * sizes[1] >= rules.UPDATE_PARALLEL_THRESHOLD
    eager_model, compiled_model, compiled, _ = _train_pair(
        lambda: mlp(sizes), lambda m: tapegrad.optim.Adam(m.parameters(), lr=1e-3),
        batches("mse", 3, 2, sizes[0], sizes[-1], np.float32))
    (step,) = [s for steps in compiled._steps.values() for s in steps]
    assert step.parallel
    assert len(_nodes(compiled, rules.MULTI_UPDATE)) == 1
    _assert_same_parameters(eager_model, compiled_model)


def test_fuse_updates_merges_only_adjacent_runs():
    graph = Graph()
    kernel = type("K", (), {"name": "k", "scalars": ("lr",)})()
    values = [graph.new_value((3,), np.float32, NODE) for _ in range(8)]

    def update(p, g):
        out = graph.new_value((3,), np.float32, NODE)
        return graph.add(Node(rules.FUSED_UPDATE, (p, g, values[7]), (out,), (kernel, (False,), ()), (p,)))

    update(values[0], values[1])
    update(values[2], values[3])
    other = graph.add(Node(rules.FULL, (), (values[4],), 0.0))
    update(values[5], values[6])
    assert passes.fuse_updates(graph) == 1
    assert [n.rule for n in graph.nodes] == [rules.MULTI_UPDATE, rules.FULL, rules.FUSED_UPDATE]
    assert graph.nodes[1] is other
    assert graph.nodes[0].writes == (values[0], values[2])


# ------------------------------------------------------------------ matmul epilogue
def test_bias_add_joins_the_activation_loop():
    eager_model, compiled_model, compiled, losses = _train_pair(
        lambda: mlp((5, 7, 3), nn.Tanh), lambda m: tapegrad.optim.SGD(m.parameters(), lr=0.1),
        batches("mse", 4, 6, 5, 3, np.float32))
    assert not _nodes(compiled, rules.ADDMM)
    (step,) = [s for steps in compiled._steps.values() for s in steps]
    groups = [u for u in step.units if isinstance(u, fusion.Group)]
    described = [[n.rule.describe(n).split(":")[0] for n in g.nodes] for g in groups]
    assert any(ops[:2] == ["add", "tanh"] for ops in described), described
    for expected, got in losses:
        np.testing.assert_allclose(got, expected, rtol=1e-5)
    _assert_same_parameters(eager_model, compiled_model)


@pytest.mark.parametrize("beta, alpha", [(0.5, 1.0), (1.0, 2.0)])
def test_scaled_addmm_stays_one_node(beta, alpha):
    rng = np.random.default_rng(3)
    bias = tapegrad.from_numpy(rng.standard_normal(4))
    w = tapegrad.from_numpy(rng.standard_normal((3, 4))).requires_grad_()

    def fn(x):
        w.grad = None
        out = tapegrad.addmm(bias, x, w, beta=beta, alpha=alpha).relu().sum()
        out.backward()
        return out

    compiled = tapegrad.compile(fn)
    for _ in range(3):
        x = tapegrad.from_numpy(rng.standard_normal((2, 3)))
        got = compiled(x)
        got_grad = as_numpy(w.grad)
        expected = fn(x)
        np.testing.assert_allclose(as_numpy(got), as_numpy(expected), rtol=1e-12)
        np.testing.assert_allclose(got_grad, as_numpy(w.grad), rtol=1e-12)
    assert len(_nodes(compiled, rules.ADDMM)) == 1


# ------------------------------------------------------------------ buffer planning
def _chain_graph():
    """x -> a = x@x (tmp) -> b = a@x (tmp) -> c = b@x (tmp) -> out = c@x (returned)."""
    graph = Graph()
    x = graph.new_value((4, 4), np.float64, "argument", ((0,), 0))
    values = [x]
    for _ in range(4):
        out = graph.new_value((4, 4), np.float64, NODE)
        graph.add(Node(rules.MATMUL, (values[-1], x), (out,), None))
        values.append(out)
    graph.outputs = [values[-1]]
    graph.link_users()
    return graph, values


def test_plan_reuses_memory_of_dead_temporaries_and_never_places_outputs():
    graph, values = _chain_graph()
    units = fusion.fuse(graph)
    layout = planning.plan(graph, units, fusion.stored_values(graph, units))
    a, b, c, out = values[1:]
    assert out.index not in layout.slots  # returned to the caller: a fresh array every call
    assert set(layout.slots) == {a.index, b.index, c.index}
    # a dies when b is made (unit 1 reads it): c (unit 2) may take a's slot, not b's.
    assert layout.slots[c.index] == layout.slots[a.index]
    assert layout.slots[b.index] != layout.slots[a.index]
    assert layout.sizes[np.dtype(np.float64)] == 2 * 16
    assert layout.requested == 3 * 16 * 8


def test_plan_keeps_memory_alive_through_views():
    graph, values = _chain_graph()
    a = values[1]
    # A transposed view of a, read by the last node: a's memory must live until then.
    view = graph.new_value((4, 4), np.float64, NODE)
    graph.nodes.insert(1, Node(rules.VIEW, (a,), (view,), ((4, 4), (1, 4), 0)))
    view.producer = graph.nodes[1]
    last = graph.nodes[-1]
    last.inputs = (last.inputs[0], view)
    graph.link_users()
    units = fusion.fuse(graph)
    layout = planning.plan(graph, units, fusion.stored_values(graph, units))
    offsets = [layout.slots[v.index] for v in values[1:4]]
    assert len(set(offsets)) == 3


def test_replays_return_fresh_arrays_and_agree_across_threads():
    model = mlp((6, 16, 2))

    @tapegrad.compile
    def forward(x):
        return model(x).relu() * 2.0

    rng = np.random.default_rng(0)
    inputs = [tapegrad.from_numpy(rng.standard_normal((3, 6)).astype(np.float32)) for _ in range(8)]
    with tapegrad.no_grad():
        expected = [as_numpy(model(x).relu() * 2.0) for x in inputs]
        first = forward(inputs[0])
        forward(inputs[0])
        kept = forward(inputs[0])
        snapshot = as_numpy(kept)
        errors: list[BaseException] = []

        def work(offset: int) -> None:
            try:
                with tapegrad.no_grad():  # grad mode is per thread, as in PyTorch
                    for k in range(40):
                        i = (k + offset) % len(inputs)
                        np.testing.assert_allclose(as_numpy(forward(inputs[i])), expected[i], rtol=1e-5, atol=1e-6)
            except BaseException as error:  # noqa: BLE001 - reported by the main thread
                errors.append(error)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    assert forward.traces == 1
    np.testing.assert_array_equal(as_numpy(kept), snapshot)  # later replays did not write into it
    assert not np.shares_memory(first.numpy(), kept.numpy())


# ------------------------------------------------------------------ sums over the batch axis
def _sum_axes_in_groups(compiled):
    (step,) = [s for steps in compiled._steps.values() for s in steps]
    groups = [u for u in step.units if isinstance(u, fusion.Group)]
    alone = [u for u in step.units if not isinstance(u, fusion.Group) and u.rule is rules.SUM]
    return [tuple(n.attrs[0]) for g in groups for n in g.sums], alone


@pytest.mark.parametrize("rows, expect_fused", [(6, True), (1 << 10, False)])
def test_bias_gradient_sums_join_single_threaded_loops_only(rows, expect_fused):
    # (rows, 128): 6 rows run on one thread, so the batch-axis sum of relu's backward (the
    # bias gradient) accumulates in its loop; 1024 rows run on threads and keep it separate.
    def fn(x):
        w.grad = b.grad = None
        loss = (x @ w + b).relu().sum()
        loss.backward()
        return loss

    rng = np.random.default_rng(0)
    w = tapegrad.from_numpy(rng.standard_normal((4, 128))).requires_grad_()
    b = tapegrad.from_numpy(rng.standard_normal(128)).requires_grad_()
    compiled = tapegrad.compile(fn)
    for _ in range(3):
        x = tapegrad.from_numpy(rng.standard_normal((rows, 4)))
        got = float(as_numpy(compiled(x)))
        got_w, got_b = as_numpy(w.grad), as_numpy(b.grad)
        expected = float(as_numpy(fn(x)))
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        np.testing.assert_allclose(got_w, as_numpy(w.grad), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got_b, as_numpy(b.grad), rtol=1e-12, atol=1e-12)
    fused, alone = _sum_axes_in_groups(compiled)
    assert ((0,) in fused) is expect_fused
    assert any(tuple(n.attrs[0]) == (0,) for n in alone) is not expect_fused


# ------------------------------------------------------------------ the small passes, one by one
def _argument(graph: Graph, shape: tuple[int, ...], position: int = 0):
    return graph.new_value(shape, np.float64, "argument", ((position,), 0))


def _node(graph: Graph, rule, inputs, shape, attrs=None, writes=()):
    out = graph.new_value(shape, np.float64, NODE)
    graph.add(Node(rule, tuple(inputs), (out,), attrs, tuple(writes)))
    return out


def test_fold_constants_evaluates_scalar_arithmetic_on_filled_values():
    from tapegrad.ops.elementwise import _add, _mul

    graph = Graph()
    x = _argument(graph, (3,))
    two = _node(graph, rules.FULL, (), (), 2.0)
    six = _node(graph, rules.ELEMENTWISE, (two, 3.0), (), (_mul, np.dtype(np.float64)))
    out = _node(graph, rules.ELEMENTWISE, (x, six), (3,), (_add, np.dtype(np.float64)))
    graph.outputs = [out]
    assert passes.fold_constants(graph) == 1
    assert six.producer.rule is rules.FULL and six.producer.attrs == 6.0
    assert out.producer.rule is rules.ELEMENTWISE  # reads an argument: not a constant


def test_eliminate_dead_keeps_writes_effects_and_what_outputs_need():
    from tapegrad.ops.elementwise import _add

    graph = Graph()
    x = _argument(graph, (3,))
    add = (_add, np.dtype(np.float64))
    unused = _node(graph, rules.ELEMENTWISE, (x, 1.0), (3,), add)
    targets = tuple(graph.new_value((3,), dtype, NODE) for dtype in (np.int64, np.float64, np.bool_))
    check = graph.add(Node(rules.NLL_TARGETS, (x,), (*targets, graph.new_value((), np.float64, NODE)), (3, -100)))
    written = _node(graph, rules.ELEMENTWISE, (x, 2.0), (3,), add, writes=(x,))
    out = _node(graph, rules.ELEMENTWISE, (x, 3.0), (3,), add)
    graph.outputs = [out]
    assert passes.eliminate_dead(graph) == 1
    assert unused.producer not in graph.nodes
    assert graph.nodes == [check, written.producer, out.producer]


def test_elide_copies_drops_a_copy_of_a_fresh_array():
    graph = Graph()
    a, b = _argument(graph, (2, 3)), _argument(graph, (3, 4), 1)
    product = _node(graph, rules.MATMUL, (a, b), (2, 4))
    copy = _node(graph, rules.ELEMENTWISE, (product,), (2, 4), (rules.identity, np.dtype(np.float64)))
    graph.outputs = [copy]
    assert passes.elide_copies(graph) == 1
    assert graph.outputs == [product] and [n.rule for n in graph.nodes] == [rules.MATMUL]
    # A copy of an argument must stay: the caller owns that array.
    graph = Graph()
    x = _argument(graph, (3,))
    kept = _node(graph, rules.ELEMENTWISE, (x,), (3,), (rules.identity, np.dtype(np.float64)))
    graph.outputs = [kept]
    assert passes.elide_copies(graph) == 0


def test_fold_transposes_computes_a_transposed_product_directly():
    graph = Graph()
    a, b = _argument(graph, (2, 3)), _argument(graph, (3, 4), 1)
    product = _node(graph, rules.MATMUL, (a, b), (2, 4))
    transposed = _node(graph, rules.VIEW, (product,), (4, 2), ((4, 2), (1, 4), 0))
    graph.outputs = [transposed]
    assert passes.fold_transposes(graph) == 1
    node = transposed.producer
    assert node.rule is rules.MATMUL and [x.shape for x in node.inputs] == [(4, 3), (3, 2)]
    assert product.producer not in graph.nodes
    # b.T and a.T are views of the arguments, made just before the product.
    views = [n for n in graph.nodes if n.rule is rules.VIEW]
    assert [v.inputs[0] for v in views] == [b, a]

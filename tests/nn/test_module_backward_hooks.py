"""Module backward hooks: ``register_full_backward_hook``, ``register_full_backward_pre_hook``
and the deprecated ``register_backward_hook``.

Each test runs the same code with tapegrad and, where it is installed, PyTorch (``lib``), and
checks values worked out by hand, so the two libraries are held to the same numbers.
"""
from __future__ import annotations

import copy
import doctest
import warnings
from typing import Any

import numpy as np
import pytest

import tapegrad

try:
    import torch
except ImportError:
    torch = None

LIBS = [pytest.param(tapegrad, id="tapegrad")] + ([pytest.param(torch, id="torch")] if torch is not None else [])
HOOK_NAME = "BackwardHookFunctionBackward"


def values(grads: Any) -> Any:
    """A tuple of gradients as nested lists (None stays None), to compare with plain numbers."""
    return [None if g is None else g.detach().numpy().tolist() for g in grads]


def linear(lib: Any, weight: list, bias: list) -> Any:
    """``lib.nn.Linear`` with the given weight and bias."""
    layer = lib.nn.Linear(len(weight[0]), len(weight))
    with lib.no_grad():
        layer.weight.copy_(lib.tensor(weight))
        layer.bias.copy_(lib.tensor(bias))
    return layer


def recorder(log: list, tag: str = "hook") -> Any:
    def hook(module: Any, grad_input: tuple, grad_output: tuple) -> None:
        log.append((tag, module, values(grad_input), values(grad_output)))
    return hook


def two_input_module(lib: Any) -> Any:
    class Two(lib.nn.Module):
        def forward(self, a: Any, b: Any, c: float = 3.0, *, k: Any = None) -> Any:
            return a * b * c + (0 if k is None else k)
    return Two()


def tuple_module(lib: Any) -> Any:
    class Tuple(lib.nn.Module):
        def forward(self, a: Any) -> tuple:
            return a * 2, a * 3, 5
    return Tuple()


# ---------------------------------------------------------------- full hooks: what they see

@pytest.mark.parametrize("lib", LIBS)
def test_linear_hook_sees_input_and_output_gradients(lib):
    layer = linear(lib, [[1.0, 2.0], [3.0, 4.0]], [0.5, -0.5])
    log: list = []
    layer.register_full_backward_hook(recorder(log))
    x = lib.tensor([[1.0, -1.0]], requires_grad=True)
    y = layer(x)
    assert y.grad_fn.name() == HOOK_NAME
    assert log == []  # nothing runs before backward
    (y * lib.tensor([[1.0, 10.0]])).sum().backward()
    # grad_output = [[1, 10]]; grad_input = grad_output @ W = [[1 + 30, 2 + 40]].
    assert len(log) == 1
    tag, module, grad_input, grad_output = log[0]
    assert module is layer
    assert grad_output == [[[1.0, 10.0]]]
    assert grad_input == [[[31.0, 42.0]]]
    assert x.grad.tolist() == [[31.0, 42.0]]
    assert layer.weight.grad.tolist() == [[1.0, -1.0], [10.0, -10.0]]
    assert layer.bias.grad.tolist() == [1.0, 10.0]


@pytest.mark.parametrize("lib", LIBS)
def test_inputs_not_requiring_grad_and_non_tensors(lib):
    module = two_input_module(lib)
    log: list = []
    module.register_full_backward_hook(recorder(log))
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([3.0, 4.0])
    k = lib.ones(2, requires_grad=True)
    y = module(a, b, 2.0, k=k)
    # The identity node sits on the tensors only: one edge, to the product's node.
    assert [f.name() for f, _ in y.grad_fn.next_functions] == ["AddBackward0"]
    y.sum().backward()
    (_, _, grad_input, grad_output), = log
    # A tensor that needs no gradient gets zeros, a non-tensor None; keyword arguments are not seen.
    assert grad_input == [[6.0, 8.0], [0.0, 0.0], None]
    assert grad_output == [[1.0, 1.0]]
    assert a.grad.tolist() == [6.0, 8.0]
    assert k.grad.tolist() == [1.0, 1.0]
    assert b.grad is None


@pytest.mark.parametrize("lib", LIBS)
def test_unused_input_gets_zeros(lib):
    class Unused(lib.nn.Module):
        def forward(self, a: Any, b: Any) -> Any:
            return a * 2
    module = Unused()
    log: list = []
    module.register_full_backward_hook(recorder(log))
    a = lib.ones(2, requires_grad=True)
    b = lib.ones(2, requires_grad=True)
    module(a, b).sum().backward()
    assert log[0][2] == [[2.0, 2.0], [0.0, 0.0]]
    assert b.grad.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("lib", LIBS)
def test_integer_input_gets_integer_zeros(lib):
    class Pick(lib.nn.Module):
        def forward(self, a: Any, index: Any) -> Any:
            return a[index]
    module = Pick()
    log: list = []
    module.register_full_backward_hook(recorder(log))
    a = lib.ones(3, requires_grad=True)
    module(a, lib.tensor([0, 2])).sum().backward()
    assert log[0][2] == [[1.0, 0.0, 1.0], [0, 0]]
    assert a.grad.tolist() == [1.0, 0.0, 1.0]


@pytest.mark.parametrize("lib", LIBS)
def test_no_input_requiring_grad_fires_on_the_outputs(lib):
    layer = linear(lib, [[1.0, 2.0]], [0.0])
    log: list = []
    layer.register_full_backward_pre_hook(lambda m, grad_output: log.append(("pre", values(grad_output))))
    layer.register_full_backward_hook(recorder(log))
    out = layer(lib.tensor([[1.0, 2.0]]))
    with pytest.warns(UserWarning, match="Full backward hook is firing when gradients are computed with respect "
                                         "to module outputs since no inputs require gradients"):
        (out * 3).sum().backward()
    assert [entry[0] for entry in log] == ["pre", "hook"]
    assert log[0][1] == [[[3.0]]]
    assert log[1][2:] == ([None], [[[3.0]]])
    assert layer.weight.grad.tolist() == [[3.0, 6.0]]


@pytest.mark.parametrize("lib", LIBS)
def test_no_input_requiring_grad_hook_may_not_replace(lib):
    layer = linear(lib, [[1.0, 2.0]], [0.0])
    layer.register_full_backward_hook(lambda m, grad_input, grad_output: (lib.ones(1, 2),))
    out = layer(lib.tensor([[1.0, 2.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="Backward hook for Modules where no input requires gradient should "
                                               "always return None or None for all gradients."):
            out.sum().backward()
    ok = linear(lib, [[1.0, 2.0]], [0.0])
    ok.register_full_backward_hook(lambda m, grad_input, grad_output: (None,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ok(lib.tensor([[1.0, 2.0]])).sum().backward()
    assert ok.weight.grad.tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize("lib", LIBS)
def test_tuple_output(lib):
    module = tuple_module(lib)
    log: list = []
    module.register_full_backward_pre_hook(lambda m, grad_output: log.append(("pre", values(grad_output))))
    module.register_full_backward_hook(recorder(log))
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    doubled, tripled, five = module(a)
    assert doubled.grad_fn.name() == HOOK_NAME and tripled.grad_fn.name() == HOOK_NAME and five == 5
    doubled.sum().backward(retain_graph=True)
    # An output that got no gradient, and a non-tensor one, are None in grad_output.
    assert log == [("pre", [[1.0, 1.0], None, None]), ("hook", module, [[2.0, 2.0]], [[1.0, 1.0], None, None])]
    log.clear()
    (doubled + tripled * 10).sum().backward()
    assert log[1][2:] == ([[32.0, 32.0]], [[1.0, 1.0], [10.0, 10.0], None])
    assert a.grad.tolist() == [34.0, 34.0]


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("container", ["list", "dict"])
def test_list_and_dict_outputs_warn_and_do_not_fire(lib, container):
    class Nested(lib.nn.Module):
        def forward(self, a: Any) -> Any:
            return [a * 2, a * 3] if container == "list" else {"x": a * 2}
    module = Nested()
    log: list = []
    module.register_full_backward_hook(recorder(log))
    a = lib.ones(2, requires_grad=True)
    with pytest.warns(UserWarning, match="For backward hooks to be called, module output should be a Tensor or a "
                                         f"tuple of Tensors but received <class '{container}'>"):
        out = module(a)
    first = out[0] if container == "list" else out["x"]
    assert first.grad_fn.name() == "MulBackward0"
    first.sum().backward()
    assert log == []
    assert a.grad.tolist() == [2.0, 2.0]


@pytest.mark.parametrize("lib", LIBS)
def test_forward_hooks_see_the_wrapped_arguments(lib):
    layer = lib.nn.Linear(2, 2)
    seen = []
    layer.register_forward_pre_hook(lambda m, args: seen.append(args[0].grad_fn))
    layer.register_forward_hook(lambda m, args, out: seen.append((args[0].grad_fn.name(), out.grad_fn.name())))
    layer.register_full_backward_hook(lambda *args: None)
    out = layer(lib.ones(1, 2, requires_grad=True))
    assert seen == [None, (HOOK_NAME, "AddmmBackward0")]
    assert out.grad_fn.name() == HOOK_NAME


@pytest.mark.parametrize("lib", LIBS)
def test_identity_module_returns_a_new_tensor(lib):
    module = lib.nn.Identity()
    log: list = []
    module.register_full_backward_hook(recorder(log))
    a = lib.ones(2, requires_grad=True)
    out = module(a)
    assert out is not a and out.grad_fn.name() == HOOK_NAME
    (out * 4).sum().backward()
    assert log[0][2:] == ([[4.0, 4.0]], [[4.0, 4.0]])
    assert a.grad.tolist() == [4.0, 4.0]


# ---------------------------------------------------------------- replacing gradients

@pytest.mark.parametrize("lib", LIBS)
def test_hook_replaces_grad_input_upstream(lib):
    first = linear(lib, [[1.0, 0.0], [0.0, 2.0]], [0.0, 0.0])
    second = linear(lib, [[1.0, 1.0]], [0.0])
    net = lib.nn.Sequential(first, second)
    second.register_full_backward_hook(lambda m, grad_input, grad_output: (grad_input[0] * 10,))
    x = lib.tensor([[1.0, 1.0]], requires_grad=True)
    net(x).sum().backward()
    # Unhooked, d/dh = [1, 1] reaches the first layer; the hook makes it [10, 10].
    assert first.weight.grad.tolist() == [[10.0, 10.0], [10.0, 10.0]]
    assert first.bias.grad.tolist() == [10.0, 10.0]
    assert x.grad.tolist() == [[10.0, 20.0]]
    assert second.weight.grad.tolist() == [[1.0, 2.0]]  # the module's own gradients are untouched


@pytest.mark.parametrize("lib", LIBS)
def test_hook_returning_none_entries_stops_the_gradient(lib):
    layer = linear(lib, [[1.0, 2.0]], [0.0])
    layer.register_full_backward_hook(lambda m, grad_input, grad_output: (None,))
    x = lib.ones(1, 2, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is None
    assert layer.weight.grad.tolist() == [[1.0, 1.0]]


@pytest.mark.parametrize("lib", LIBS)
def test_pre_hook_replaces_grad_output(lib):
    layer = linear(lib, [[1.0, 2.0], [3.0, 4.0]], [0.0, 0.0])
    log: list = []
    layer.register_full_backward_pre_hook(lambda m, grad_output: log.append("pre") or (grad_output[0] * 10,))
    layer.register_full_backward_hook(recorder(log))
    x = lib.tensor([[1.0, 2.0]], requires_grad=True)
    layer(x).sum().backward()
    assert log[0] == "pre"
    # The hook sees the replaced grad_output, and everything inside the module gets it.
    assert log[1][2:] == ([[[40.0, 60.0]]], [[[10.0, 10.0]]])
    assert x.grad.tolist() == [[40.0, 60.0]]
    assert layer.weight.grad.tolist() == [[10.0, 20.0], [10.0, 20.0]]
    assert layer.bias.grad.tolist() == [10.0, 10.0]


@pytest.mark.parametrize("lib", LIBS)
def test_replacements_of_the_wrong_length_or_size_raise(lib):
    x = lib.ones(1, 2, requires_grad=True)
    cases = [
        ("register_full_backward_hook", lambda m, gi, go: (None, None),
         "Backward hook returned an invalid number of grad_input, got 2, but expected 1"),
        ("register_full_backward_pre_hook", lambda m, go: (None, None),
         "Backward pre hook returned an invalid number of grad_output, got 2, but expected 1"),
        ("register_full_backward_hook", lambda m, gi, go: (lib.ones(3),), "hook 'hook' has changed the size of value"),
        ("register_full_backward_pre_hook", lambda m, go: (lib.ones(3),), "hook 'hook' has changed the size of value"),
    ]
    for method, hook, message in cases:
        layer = lib.nn.Linear(2, 2)
        getattr(layer, method)(hook)
        with pytest.raises(RuntimeError, match=message):
            layer(x).sum().backward()


# ---------------------------------------------------------------- registration

@pytest.mark.parametrize("lib", LIBS)
def test_handle_remove(lib):
    layer = lib.nn.Linear(2, 2)
    log: list = []
    handle = layer.register_full_backward_hook(recorder(log))
    pre_handle = layer.register_full_backward_pre_hook(lambda m, go: log.append("pre"))
    x = lib.ones(1, 2, requires_grad=True)
    out = layer(x)
    handle.remove()
    pre_handle.remove()
    # Hooks set up by a call run for that call even when removed after it.
    out.sum().backward()
    assert [entry if entry == "pre" else entry[0] for entry in log] == ["pre", "hook"]
    log.clear()
    out = layer(x)
    assert out.grad_fn.name() == "AddmmBackward0"  # no identity nodes any more
    out.sum().backward()
    assert log == []


@pytest.mark.parametrize("lib", LIBS)
def test_prepend_orders_hooks(lib):
    layer = lib.nn.Linear(2, 2)
    log: list = []
    layer.register_full_backward_hook(lambda *args: log.append(1))
    layer.register_full_backward_hook(lambda *args: log.append(2), prepend=True)
    layer.register_full_backward_hook(lambda *args: log.append(3))
    layer.register_full_backward_pre_hook(lambda *args: log.append("p1"))
    layer.register_full_backward_pre_hook(lambda *args: log.append("p2"), prepend=True)
    layer(lib.ones(1, 2, requires_grad=True)).sum().backward()
    assert log == ["p2", "p1", 2, 1, 3]


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("remove_first", [False, True])
def test_mixing_full_and_regular_hooks_raises(lib, remove_first):
    message = ("Cannot use both regular backward hooks and full backward hooks on a single Module. "
               "Please use only one of them.")
    layer = lib.nn.Linear(2, 2)
    handle = layer.register_full_backward_hook(lambda *args: None)
    if remove_first:
        handle.remove()  # the module has chosen its kind for good
    with pytest.raises(RuntimeError, match=message):
        layer.register_backward_hook(lambda *args: None)
    layer = lib.nn.Linear(2, 2)
    handle = layer.register_backward_hook(lambda *args: None)
    if remove_first:
        handle.remove()
    with pytest.raises(RuntimeError, match=message):
        layer.register_full_backward_hook(lambda *args: None)
    layer.register_full_backward_pre_hook(lambda *args: None)  # pre-hooks go with either kind


# ---------------------------------------------------------------- when hooks run

@pytest.mark.parametrize("lib", LIBS)
def test_module_called_twice_fires_twice(lib):
    layer = linear(lib, [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])
    log: list = []
    layer.register_full_backward_hook(recorder(log))
    x = lib.ones(1, 2, requires_grad=True)
    (layer(x) * 2 + layer(x * 3) * 5).sum().backward()
    # The later call's hook runs first, each with its own gradients.
    assert [entry[2:] for entry in log] == [([[[5.0, 5.0]]], [[[5.0, 5.0]]]), ([[[2.0, 2.0]]], [[[2.0, 2.0]]])]
    assert x.grad.tolist() == [[17.0, 17.0]]


@pytest.mark.parametrize("lib", LIBS)
def test_nested_modules_firing_order(lib):
    inner = lib.nn.Linear(2, 2)
    relu = lib.nn.ReLU()
    outer = lib.nn.Sequential(inner, relu)
    log: list = []
    for name, module in (("outer", outer), ("inner", inner), ("relu", relu)):
        module.register_full_backward_pre_hook(lambda m, go, name=name: log.append(f"{name} pre"))
        module.register_full_backward_hook(lambda m, gi, go, name=name: log.append(name))
    outer(lib.ones(1, 2, requires_grad=True)).sum().backward()
    assert log == ["outer pre", "relu pre", "relu", "inner pre", "inner", "outer"]


@pytest.mark.parametrize("lib", LIBS)
def test_hooks_run_under_autograd_grad(lib):
    layer = linear(lib, [[1.0, 2.0], [3.0, 4.0]], [0.0, 0.0])
    log: list = []
    layer.register_full_backward_hook(recorder(log))
    layer.register_full_backward_hook(lambda m, gi, go: (gi[0] + 1,))
    x = lib.ones(1, 2, requires_grad=True)
    (grad,) = lib.autograd.grad(layer(x).sum(), x)
    assert log[0][2] == [[[4.0, 6.0]]]
    assert grad.tolist() == [[5.0, 7.0]]
    assert x.grad is None and layer.weight.grad is None


@pytest.mark.parametrize("lib", LIBS)
def test_retained_graph_fires_per_backward(lib):
    layer = linear(lib, [[1.0, 2.0]], [0.0])
    log: list = []
    layer.register_full_backward_hook(recorder(log))
    x = lib.ones(1, 2, requires_grad=True)
    loss = layer(x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert [entry[2] for entry in log] == [[[[1.0, 2.0]]], [[[1.0, 2.0]]]]
    assert x.grad.tolist() == [[2.0, 4.0]]


@pytest.mark.parametrize("lib", LIBS)
def test_no_firing_without_grad(lib):
    layer = lib.nn.Linear(2, 2)
    log: list = []
    layer.register_full_backward_hook(recorder(log))
    layer.register_full_backward_pre_hook(lambda m, go: log.append("pre"))
    x = lib.ones(1, 2, requires_grad=True)
    with lib.no_grad():
        out = layer(x)
    assert not out.requires_grad and out.grad_fn is None

    class Detached(lib.nn.Module):
        def forward(self, a: Any) -> Any:
            return a.detach() * 2
    detached = Detached()
    detached.register_full_backward_hook(recorder(log))
    out = detached(x)
    assert not out.requires_grad
    (layer(x).sum() * 0 + (x * 1).sum()).backward()  # hooked layer, but through a path of its own
    assert [entry if isinstance(entry, str) else entry[0] for entry in log] == ["pre", "hook"]
    log.clear()
    (x * 2).sum().backward()
    assert log == []


# ---------------------------------------------------------------- in place

@pytest.mark.parametrize("lib", LIBS)
def test_forward_may_not_change_an_input_in_place(lib):
    class AddInPlace(lib.nn.Module):
        def forward(self, a: Any, b: Any) -> Any:
            b.add_(1)
            return a * b
    module = AddInPlace()
    module.register_full_backward_hook(lambda *args: None)
    a = lib.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="Output 1 of BackwardHookFunction is a view and is being modified inplace. "
                                           "This view is the output of a function that returns multiple views."):
        module(a, a * 1)
    # An input that needs no gradient may be changed.
    b = lib.ones(2)
    out = module(a, b)
    assert b.tolist() == [2.0, 2.0] and out.tolist() == [2.0, 2.0]

    class SingleInPlace(lib.nn.Module):
        def forward(self, a: Any) -> Any:
            return a.mul_(2)
    single = SingleInPlace()
    single.register_full_backward_pre_hook(lambda *args: None)
    with pytest.raises(RuntimeError, match="Output 0 of BackwardHookFunction is a view and is being modified inplace. "
                                           r"This view was created inside a custom Function \(or because an input "
                                           "was returned as-is\\)"):
        single(a * 1)


@pytest.mark.parametrize("lib", LIBS)
def test_forward_may_not_change_an_input_in_place_without_grad_either(lib):
    class Sneaky(lib.nn.Module):
        def forward(self, a: Any) -> Any:
            with lib.no_grad():
                a.add_(1)
            return a * 2
    module = Sneaky()
    module.register_full_backward_hook(lambda *args: None)
    with pytest.raises(RuntimeError, match="Output 0 of BackwardHookFunction is a view and its base or another view "
                                           "of its base has been modified inplace."):
        module(lib.ones(2, requires_grad=True) * 1)


# ---------------------------------------------------------------- the deprecated hook

@pytest.mark.parametrize("lib", LIBS)
def test_deprecated_hook_on_linear_sees_the_last_op(lib):
    layer = linear(lib, [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [0.0, 0.0, 0.0])
    log: list = []
    layer.register_backward_hook(recorder(log))  # registering does not warn; calling does
    x = lib.tensor([[1.0, -1.0]], requires_grad=True)
    with pytest.warns(FutureWarning, match="Using a non-full backward hook when the forward contains multiple "
                                           "autograd Nodes is deprecated"):
        out = layer(x)
    assert out.grad_fn.name() == "AddmmBackward0"
    (out * lib.tensor([[1.0, 2.0, 3.0]])).sum().backward()
    # addmm(bias, x, W.T): grad_input is (d bias, d x, d W.T).
    (_, module, grad_input, grad_output), = log
    assert module is layer
    assert grad_output == [[[1.0, 2.0, 3.0]]]
    assert grad_input == [[1.0, 2.0, 3.0], [[22.0, 28.0]], [[1.0, 2.0, 3.0], [-1.0, -2.0, -3.0]]]


@pytest.mark.parametrize("lib", LIBS)
def test_deprecated_hook_input_not_requiring_grad_is_none(lib):
    layer = linear(lib, [[1.0, 2.0]], [0.0])
    log: list = []
    layer.register_backward_hook(recorder(log))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer(lib.tensor([[3.0, 4.0]])).sum().backward()
    assert log[0][2] == [[1.0], None, [[3.0], [4.0]]]


@pytest.mark.parametrize("lib", LIBS)
def test_deprecated_hook_replaces_grad_input(lib):
    relu = lib.nn.ReLU()
    log: list = []
    relu.register_backward_hook(lambda m, gi, go: log.append((values(gi), values(go))) or (gi[0] * 3,))
    x = lib.tensor([-1.0, 2.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one op on an input with history: nothing is missed, no warning
        out = relu(x * 1)
    (out * 5).sum().backward()
    assert log == [([[0.0, 5.0]], [[5.0, 5.0]])]
    assert x.grad.tolist() == [0.0, 15.0]


@pytest.mark.parametrize("lib", LIBS)
def test_deprecated_hook_wrong_number_of_values_raises(lib):
    relu = lib.nn.ReLU()

    def three(m: Any, gi: tuple, go: tuple) -> tuple:
        return (None, None, None)
    relu.register_backward_hook(three)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = relu(lib.ones(2, requires_grad=True) * 1)
    with pytest.raises(RuntimeError, match="hook 'three' has returned an incorrect number of values "
                                           r"\(got 3, but expected 1\)"):
        out.sum().backward()


@pytest.mark.parametrize("lib", LIBS)
def test_deprecated_hook_on_tuple_of_different_nodes_warns(lib):
    module = tuple_module(lib)
    module.register_backward_hook(lambda *args: None)
    with pytest.warns(FutureWarning, match="Using non-full backward hooks on a Module that does not return a single "
                                           "Tensor or a tuple of Tensors is deprecated"):
        module(lib.ones(2, requires_grad=True))

    class Pair(lib.nn.Module):
        def forward(self, a: Any) -> tuple:
            return a * 2, a * 3
    pair = Pair()
    pair.register_backward_hook(lambda *args: None)
    with pytest.warns(FutureWarning, match="Using a non-full backward hook when outputs are generated by different "
                                           "autograd Nodes is deprecated"):
        pair(lib.ones(2, requires_grad=True))


# ---------------------------------------------------------------- against PyTorch on a network

def _train_with_hooks(lib: Any) -> tuple[list, list]:
    net = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Tanh(), lib.nn.Linear(8, 3), lib.nn.Sigmoid())
    with lib.no_grad():
        for p in net.parameters():
            p.copy_(lib.tensor(np.linspace(-1, 1, p.numel()).reshape(tuple(p.shape)).astype(np.float32)))
    log: list = []
    net[1].register_full_backward_hook(
        lambda m, gi, go: log.append(("tanh", float(gi[0].sum()), float(go[0].sum()))) or (gi[0] * 2,))
    net[2].register_full_backward_pre_hook(lambda m, go: log.append(("pre", float(go[0].sum()))))
    net[3].register_backward_hook(lambda m, gi, go: log.append(("sigmoid", float(gi[0].sum()), float(go[0].sum()))))
    x = lib.tensor(np.linspace(-2, 2, 20).reshape(5, 4).astype(np.float32))
    grads = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(6):  # repeated, so that tapegrad's backward fusion gets its chance
            net.zero_grad()
            ((net(x) - 0.5) ** 2).mean().backward()
            grads.append([p.grad.numpy().copy() for p in net.parameters()])
    return log, grads


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
def test_network_hooks_and_gradients_match_torch():
    ours, our_grads = _train_with_hooks(tapegrad)
    theirs, their_grads = _train_with_hooks(torch)
    assert [entry[0] for entry in ours] == [entry[0] for entry in theirs]
    np.testing.assert_allclose([entry[1:] for entry in ours if entry[0] != "pre"],
                               [entry[1:] for entry in theirs if entry[0] != "pre"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose([entry[1] for entry in ours if entry[0] == "pre"],
                               [entry[1] for entry in theirs if entry[0] == "pre"], rtol=1e-4, atol=1e-6)
    for our_step, their_step in zip(our_grads, their_grads):
        for ours_grad, theirs_grad in zip(our_step, their_step):
            np.testing.assert_allclose(ours_grad, theirs_grad, rtol=1e-4, atol=1e-6)


def test_docstring_examples():
    for method in (tapegrad.nn.Module.register_full_backward_hook, tapegrad.nn.Module.register_full_backward_pre_hook):
        runner = doctest.DocTestRunner()
        finder = doctest.DocTestFinder()
        for test in finder.find(method, globs={"tapegrad": tapegrad, "nn": tapegrad.nn}):
            runner.run(test)
        assert runner.failures == 0 and runner.tries > 0


def test_copied_and_unpickled_modules_keep_their_hooks():
    layer = linear(tapegrad, [[1.0, 2.0]], [0.0])
    log: list = []
    layer.register_full_backward_hook(recorder(log))
    twin = copy.deepcopy(layer)
    twin(tapegrad.ones(1, 2, requires_grad=True)).sum().backward()
    assert len(log) == 1 and log[0][1] is twin
    # State from before the fast path's flag existed: the flag is derived from the hook tables.
    state = {key: value for key, value in layer.__dict__.items() if key != "_call_hooks"}
    revived = object.__new__(type(layer))
    revived.__setstate__(state)
    revived(tapegrad.ones(1, 2, requires_grad=True)).sum().backward()
    assert len(log) == 2 and log[1][1] is revived

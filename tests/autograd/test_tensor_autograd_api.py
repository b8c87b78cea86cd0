"""The autograd surface of a tensor: retain_grad, hooks, is_leaf, grad_fn, detach, .data, .grad."""
from __future__ import annotations

import warnings

import pytest

import tapegrad
from autograd_helpers import assert_close, libraries


# ---------------------------------------------------------------- is_leaf / requires_grad

def test_is_leaf_and_grads_of_leaves_and_non_leaves():
    for lib in libraries():
        w = lib.tensor([1.0], requires_grad=True)
        x = lib.tensor([2.0], requires_grad=True)
        a = lib.add(w, x)
        b = lib.add(w, 2)
        y = lib.mul(a, b)
        y.backward()
        assert [t.is_leaf for t in (w, x, a, b, y)] == [True, True, False, False, False]
        assert w.grad.tolist() == [6.0] and x.grad.tolist() == [3.0]
        assert _non_leaf_grads_are_none(a, b, y) == [True, True, True]


def _non_leaf_grads_are_none(*tensors):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return [t.grad is None for t in tensors]


def test_tensor_without_requires_grad_is_a_leaf():
    x = tapegrad.tensor([1.0])
    y = x * 2
    assert x.is_leaf and y.is_leaf
    assert y.grad_fn is None


def test_requires_grad_inplace_setter_returns_self():
    x = tapegrad.tensor([1.0, 2.0])
    assert x.requires_grad_() is x
    assert x.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad
    x.requires_grad = True
    assert x.requires_grad


def test_requires_grad_on_int_tensor_raises():
    with pytest.raises(RuntimeError, match="floating point"):
        tapegrad.tensor([1, 2]).requires_grad_()
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="floating point"):
        torch.tensor([1, 2]).requires_grad_()


def test_requires_grad_false_on_non_leaf_raises():
    x = tapegrad.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="you can only change requires_grad flags of leaf variables"):
        (x * 2).requires_grad_(False)
    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="you can only change requires_grad flags of leaf variables"):
        (tx * 2).requires_grad_(False)


# ---------------------------------------------------------------- grad_fn

def test_grad_fn_names_match_torch():
    def programs(lib):
        x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        return [x + 1, x - 1, 1 - x, x * x, x / 2, x ** 2, x.exp(), x.sum(), x.sum(0), x.mean(),
                x[0], x[:1], x.view(4), x.t(), x @ x, x.clone(), x.relu(), x.sigmoid(), x.tanh(),
                lib.cat([x, x]), lib.stack([x, x]), x.double(), x.unsqueeze(0), x.transpose(0, 1)]

    names = [y.grad_fn.name() for y in programs(tapegrad)]
    torch = pytest.importorskip("torch")
    expected = [y.grad_fn.name() for y in programs(torch)]
    assert names == expected


def test_grad_fn_names_without_torch():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    assert (x + 1).grad_fn.name() == "AddBackward0"
    assert (x * x).grad_fn.name() == "MulBackward0"
    assert x.sum().grad_fn.name() == "SumBackward0"
    assert x[0].grad_fn.name() == "SelectBackward0"
    assert "MulBackward0" in repr((x * x).grad_fn)


def test_next_functions_structure():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    c = tapegrad.tensor([3.0, 4.0])
    y = x * c
    z = y.sum()
    ((node, nr),) = z.grad_fn.next_functions
    assert node is y.grad_fn and nr == 0
    (acc, acc_nr), (none, none_nr) = y.grad_fn.next_functions
    assert acc.name() == "AccumulateGrad"
    assert acc.variable is x
    assert acc_nr == 0
    assert none is None and none_nr == 0


def test_next_functions_share_one_accumulator_per_leaf():
    x = tapegrad.tensor([1.0], requires_grad=True)
    (a, _), (b, _) = (x * x).grad_fn.next_functions
    assert a is b
    (c, _), = (x + 1).grad_fn.next_functions[:1]
    assert c is a


# ---------------------------------------------------------------- retain_grad

def test_retain_grad_on_non_leaf():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    assert y.retains_grad
    (y * y).sum().backward()
    assert_close(y.grad, [6.0, 12.0])
    assert_close(x.grad, [18.0, 36.0])

    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = tx * 3
    ty.retain_grad()
    (ty * ty).sum().backward()
    assert_close(y.grad, ty.grad)


def test_non_leaf_grad_is_none_without_retain_grad():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.sum().backward()
    with pytest.warns(UserWarning, match="not a leaf Tensor"):
        assert y.grad is None
    assert not y.retains_grad


def test_retained_grad_accumulates():
    x = tapegrad.tensor([1.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    (y * 5).sum().backward(retain_graph=True)
    (y * 5).sum().backward()
    assert_close(y.grad, [10.0])


def test_retain_grad_on_leaf_is_a_noop():
    x = tapegrad.tensor([1.0], requires_grad=True)
    x.retain_grad()
    (x * 2).sum().backward()
    assert_close(x.grad, [2.0])


def test_retain_grad_without_requires_grad_raises():
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        tapegrad.tensor([1.0]).retain_grad()


# ---------------------------------------------------------------- hooks

def test_hook_on_leaf_sees_and_replaces_gradient():
    for lib in libraries():
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        seen = []

        def hook(g):
            seen.append(g.tolist())
            return g * 10

        x.register_hook(hook)
        (x * x).sum().backward()
        assert seen == [[2.0, 4.0]]
        assert x.grad.tolist() == [20.0, 40.0]


def test_hook_on_non_leaf_modifies_gradient_flowing_back():
    for lib in libraries():
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * x
        y.register_hook(lambda g: g * 2)
        (y * 3).sum().backward()
        assert x.grad.tolist() == [12.0, 24.0]


def test_hook_returning_none_keeps_gradient():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()))
    (x * 4).sum().backward()
    assert seen == [[4.0, 4.0]]
    assert_close(x.grad, [4.0, 4.0])


def test_hook_removed_via_handle():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    handle = x.register_hook(lambda g: g * 100)
    handle.remove()
    (x * 1).sum().backward()
    assert_close(x.grad, [1.0, 1.0])

    y = tapegrad.tensor([1.0], requires_grad=True)
    h = y * 2
    handle = h.register_hook(lambda g: g * 100)
    handle.remove()
    h.sum().backward()
    assert_close(y.grad, [2.0])


def test_several_hooks_apply_in_order():
    x = tapegrad.tensor([1.0], requires_grad=True)
    x.register_hook(lambda g: g + 1)
    x.register_hook(lambda g: g * 10)
    (x * 1).sum().backward()
    assert_close(x.grad, [20.0])


def test_hook_and_retain_grad_on_same_non_leaf():
    for lib in libraries():
        x = lib.tensor([1.0], requires_grad=True)
        y = x * 2
        y.retain_grad()
        y.register_hook(lambda g: g * 3)
        (y * 5).sum().backward()
        assert (y.grad.tolist(), x.grad.tolist()) == ([15.0], [30.0])


def test_hook_on_tensor_without_requires_grad_raises():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        tapegrad.tensor([1.0]).register_hook(lambda g: g)


def test_hook_is_called_by_autograd_grad():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 2)
    (g,) = tapegrad.autograd.grad((x * 3).sum(), x)
    assert_close(g, [6.0, 6.0])


# ---------------------------------------------------------------- detach / .data

def test_detach_shares_data_and_version():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    d[0] = 5.0
    assert x.tolist() == [5.0, 2.0]
    assert x._version == d._version == 1


def test_detach_version_bump_is_seen_by_saved_tensor():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y * y
    y.detach().zero_()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()

    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = tx * 2
    tz = ty * ty
    ty.detach().zero_()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tz.sum().backward()


def test_detach_of_non_leaf_stops_gradients():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = (y.detach() * x).sum()
    z.backward()
    assert_close(x.grad, [2.0, 4.0])


def test_detach_inplace():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert y.detach_() is y
    assert not y.requires_grad and y.is_leaf and y.grad_fn is None

    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = tx * 2
    ty.detach_()
    assert not ty.requires_grad and ty.is_leaf


def test_data_shares_storage_but_is_not_tracked():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    d = x.data
    assert not d.requires_grad and d.grad_fn is None
    d.mul_(3)  # not tracked: no version bump, so backward still runs with the new values
    assert x.tolist() == [3.0, 6.0]
    assert x._version == 0
    y.sum().backward()
    assert_close(x.grad, [6.0, 12.0])


def test_data_setter_replaces_values():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    x.data = tapegrad.tensor([7.0, 8.0])
    assert x.tolist() == [7.0, 8.0]
    assert x.requires_grad and x.is_leaf


def test_grad_data_zero_resets_gradient():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    x.grad.data.zero_()
    assert_close(x.grad, [0.0, 0.0])
    (x * 2).sum().backward()
    assert_close(x.grad, [2.0, 2.0])


# ---------------------------------------------------------------- .grad setter

def test_grad_setter_accepts_matching_tensor_and_none():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    x.grad = tapegrad.tensor([0.5, 0.5])
    (x * 1).sum().backward()
    assert_close(x.grad, [1.5, 1.5])
    x.grad = None
    assert x.grad is None


def test_grad_setter_rejects_shape_mismatch():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"size.*\(?\[?3\]?.*\(?\[?2"):
        x.grad = tapegrad.tensor([1.0, 2.0, 3.0])
    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="size"):
        tx.grad = torch.tensor([1.0, 2.0, 3.0])


def test_grad_setter_rejects_dtype_mismatch():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="float64.*float32"):
        x.grad = tapegrad.tensor([1.0, 2.0], dtype=tapegrad.float64)
    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="dtype"):
        tx.grad = torch.tensor([1.0, 2.0], dtype=torch.float64)


def test_grad_setter_rejects_non_tensor():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError):
        x.grad = [1.0, 2.0]


def test_failed_grad_assignment_keeps_old_grad():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    old = x.grad
    with pytest.raises(RuntimeError):
        x.grad = tapegrad.tensor([1.0])
    assert x.grad is old

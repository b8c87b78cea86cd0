"""Views, version counters, in-place ops and ``x[idx] = value`` under autograd."""
from __future__ import annotations

import re

import numpy as np
import pytest

import tapegrad
from autograd_helpers import assert_close, libraries, to_numpy

LEAF_MESSAGE = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_MESSAGE = "a view of a leaf Variable that requires grad is being used in an in-place operation."
MODIFIED = "modified by an inplace operation"


def grad_fn_name(t) -> str:
    """``t.grad_fn.name()`` without the C++ namespace torch gives some nodes."""
    return t.grad_fn.name().replace("torch::autograd::", "")


def version(t) -> int:
    """The in-place version of a tapegrad or torch tensor."""
    return t._version


BASE = np.arange(12, dtype=np.float32).reshape(3, 4) / 4 - 1
WEIGHTS = (np.arange(12, dtype=np.float32).reshape(3, 4) % 5 - 2) / 3


# ---------------------------------------------------------------- views share storage

@pytest.mark.parametrize("make_view", [
    lambda x: x[1],
    lambda x: x[:, 1:3],
    lambda x: x[::2],
    lambda x: x.view(12),
    lambda x: x.reshape(2, 6),
    lambda x: x.t(),
    lambda x: x.transpose(0, 1),
    lambda x: x.unsqueeze(0),
    lambda x: x.narrow(1, 1, 2),
    lambda x: x.select(1, 2),
    lambda x: x.permute(1, 0),
    lambda x: x.T,
], ids=["int", "slice", "step", "view", "reshape", "t", "transpose", "unsqueeze", "narrow",
        "select", "permute", "T"])
def test_views_share_storage_and_version_with_base(make_view):
    x = tapegrad.tensor(BASE.copy())
    v = make_view(x)
    before = version(x)
    v.add_(100)
    assert version(x) == version(v) == before + 1
    assert (x.numpy() >= 50).sum() == v.numel()
    x.mul_(0)
    assert version(v) == before + 2
    assert not v.numpy().any()


def test_view_of_view_shares_version():
    x = tapegrad.zeros(3, 4)
    vv = x[1:][:, 2]
    vv.fill_(7)
    assert version(x) == 1
    assert x[1:, 2].tolist() == [7.0, 7.0]
    assert x.sum().item() == 14.0


def test_version_counter_matches_torch():
    versions = []
    for lib in libraries():
        x = lib.zeros(4)
        v = x[1:3]
        seq = [version(x)]
        v.add_(1)
        seq.append(version(x))
        x[0] = 3.0
        seq.append(version(v))
        x.zero_()
        seq.append(version(x))
        versions.append(seq)
    assert versions == [[0, 1, 2, 3]] * len(versions)


def test_out_of_place_ops_do_not_bump_version():
    x = tapegrad.ones(3)
    _ = x * 2 + x.exp()
    assert version(x) == 0


# ---------------------------------------------------------------- saved tensors modified in place

def test_inplace_on_saved_input_makes_backward_raise():
    for lib in libraries():
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x * 1
        z = h * h
        h.mul_(2)
        with pytest.raises(RuntimeError, match=MODIFIED):
            z.sum().backward()


def test_inplace_on_saved_output_makes_backward_raise():
    for lib in libraries():
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()
        z = y.sum()
        y.add_(1)
        with pytest.raises(RuntimeError, match=MODIFIED):
            z.backward()


def test_inplace_error_message_names_tensor_and_versions():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    z = h * h
    h.add_(1)
    with pytest.raises(RuntimeError) as info:
        z.sum().backward()
    message = str(info.value)
    assert "[tapegrad.FloatTensor [2]]" in message
    assert "is at version 1; expected version 0 instead" in message


def test_inplace_through_view_on_saved_tensor_makes_backward_raise():
    x = tapegrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 1
    z = h.sin()
    h[1:].mul_(2)
    with pytest.raises(RuntimeError, match=MODIFIED):
        z.sum().backward()


def test_inplace_on_unsaved_tensor_is_fine():
    grads = []
    for lib in libraries():
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x + 1          # add saves nothing
        z = h + 3
        h.mul_(5)
        (z.sum() + h.sum()).backward()
        grads.append(to_numpy(x.grad))
    for g in grads:
        np.testing.assert_allclose(g, [6.0, 6.0])


# ---------------------------------------------------------------- leaves

@pytest.mark.parametrize("op", [
    lambda t: t.add_(1), lambda t: t.mul_(2), lambda t: t.zero_(), lambda t: t.fill_(3.0),
    lambda t: t.copy_(tapegrad.ones(2)), lambda t: t.clamp_(0, 1), lambda t: t.sub_(1),
    lambda t: t.div_(2), lambda t: t.exp_(),
], ids=["add_", "mul_", "zero_", "fill_", "copy_", "clamp_", "sub_", "div_", "exp_"])
def test_inplace_on_leaf_requiring_grad_raises(op):
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape(LEAF_MESSAGE)):
        op(x)
    assert x.tolist() == [1.0, 2.0]
    assert version(x) == 0


def test_iadd_on_leaf_requiring_grad_raises():
    for lib in libraries():
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError, match=re.escape(LEAF_MESSAGE)):
            x += 1


def test_inplace_on_leaf_allowed_under_no_grad():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    with tapegrad.no_grad():
        x.add_(1)
        x[0] = 10.0
        x -= 1
    assert x.tolist() == [9.0, 2.0]
    assert x.is_leaf and x.requires_grad and x.grad_fn is None
    (x * x).sum().backward()
    assert_close(x.grad, [18.0, 4.0])


@pytest.mark.parametrize("op", [
    lambda x: x[0].mul_(2),
    lambda x: x[:1].add_(1),
    lambda x: x.view(2, 1).zero_(),
    lambda x: x.__setitem__(0, 5.0),
    lambda x: x.__setitem__(slice(0, 1), 5.0),
], ids=["select-mul_", "slice-add_", "view-zero_", "setitem-int", "setitem-slice"])
def test_inplace_on_view_of_leaf_raises_view_message(op):
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape(VIEW_MESSAGE)):
        op(x)
    assert x.tolist() == [1.0, 2.0]
    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape(VIEW_MESSAGE)):
        op(tx)


def test_advanced_setitem_on_leaf_raises_leaf_message():
    for lib in libraries():
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError, match=re.escape(LEAF_MESSAGE)):
            x[lib.tensor([0])] = 5.0
        with pytest.raises(RuntimeError, match=re.escape(LEAF_MESSAGE)):
            x[lib.tensor([True, False])] = 5.0


# ---------------------------------------------------------------- x[idx] = value: CopySlices

SETITEM_KEYS = {
    "int": lambda lib: 1,
    "negative-int": lambda lib: -1,
    "slice": lambda lib: slice(1, 3),
    "step-slice": lambda lib: (slice(None), slice(0, 4, 2)),
    "int-pair": lambda lib: (1, 2),
    "int-and-slice": lambda lib: (2, slice(1, None)),
    "ellipsis": lambda lib: (Ellipsis, 3),
    "bool-mask": lambda lib: lib.tensor(BASE > 0.2),
    "bool-rows": lambda lib: lib.tensor([True, False, True]),
    "int-array": lambda lib: lib.tensor([2, 0]),
    "int-array-pair": lambda lib: (lib.tensor([0, 2, 1]), lib.tensor([3, 0, 1])),
    "slice-and-array": lambda lib: (slice(None), lib.tensor([1, 3])),
}


def _region_shape(key_fn):
    key = key_fn(tapegrad)

    def plain(k):
        return k.numpy() if isinstance(k, tapegrad.Tensor) else k

    key = tuple(plain(k) for k in key) if isinstance(key, tuple) else plain(key)
    return np.zeros((3, 4))[key].shape


def _setitem_program(lib, key_fn, base_requires_grad, value_shape):
    dtype = lib.float32
    x = lib.tensor(BASE, requires_grad=True)
    v = lib.tensor(np.linspace(-1, 2, int(np.prod(value_shape)), dtype=np.float32).reshape(value_shape),
                   requires_grad=True)
    if base_requires_grad:
        y = x * 2
    else:
        y = lib.zeros(3, 4, dtype=dtype)
    y[key_fn(lib)] = v ** 2
    loss = (y * lib.tensor(WEIGHTS)).sum() + (y * y).sum()
    loss.backward()
    return y, x, v


@pytest.mark.parametrize("key_name", list(SETITEM_KEYS))
@pytest.mark.parametrize("base_requires_grad", [True, False], ids=["non-leaf", "no-grad-leaf"])
def test_setitem_gradients_match_torch(key_name, base_requires_grad):
    key_fn = SETITEM_KEYS[key_name]
    shape = _region_shape(key_fn)
    y, x, v = _setitem_program(tapegrad, key_fn, base_requires_grad, shape)
    torch = pytest.importorskip("torch")
    ty, tx, tv = _setitem_program(torch, key_fn, base_requires_grad, shape)
    assert_close(y, ty)
    assert grad_fn_name(y) == grad_fn_name(ty)
    assert_close(v.grad, tv.grad, rtol=1e-5, atol=1e-5)
    if base_requires_grad:
        assert_close(x.grad, tx.grad, rtol=1e-5, atol=1e-5)
    else:
        assert x.grad is None and tx.grad is None


@pytest.mark.parametrize("key_name", list(SETITEM_KEYS))
@pytest.mark.parametrize("base_requires_grad", [True, False], ids=["non-leaf", "no-grad-leaf"])
def test_setitem_gradients_without_torch(key_name, base_requires_grad):
    """With y = 2x (or zeros) off the region and v**2 on it, loss = sum(W*y + y*y): the base gets
    2 * (W + 2y) off the region and 0 on it; the value gets (W + 2y) * 2v where it landed."""
    key_fn = SETITEM_KEYS[key_name]
    shape = _region_shape(key_fn)
    y, x, v = _setitem_program(tapegrad, key_fn, base_requires_grad, shape)
    advanced = key_name.startswith("bool") or "array" in key_name
    assert grad_fn_name(y) == ("IndexPutBackward0" if advanced else "CopySlices")
    vals = np.linspace(-1, 2, int(np.prod(shape)), dtype=np.float32).reshape(shape)
    key = key_fn(tapegrad)
    np_key = tuple(k.numpy() if isinstance(k, tapegrad.Tensor) else k for k in key) \
        if isinstance(key, tuple) else key.numpy() if isinstance(key, tapegrad.Tensor) else key
    expected_y = BASE * 2 if base_requires_grad else np.zeros((3, 4), np.float32)
    expected_y[np_key] = vals ** 2
    assert_close(y, expected_y, rtol=1e-5)
    on_region = np.zeros((3, 4), bool)
    on_region[np_key] = True
    dy = WEIGHTS + 2 * expected_y
    if base_requires_grad:
        assert_close(x.grad, np.where(on_region, 0.0, dy * 2), rtol=1e-5, atol=1e-5)
    else:
        assert x.grad is None
    assert_close(v.grad, dy[np_key] * 2 * vals, rtol=1e-5, atol=1e-5)


def test_setitem_broadcast_scalar_value_gradient():
    grads = []
    for lib in libraries():
        x = lib.tensor(BASE, requires_grad=True)
        s = lib.tensor(0.5, requires_grad=True)
        y = x * 1
        y[1:, ::2] = s * 3
        (y * lib.tensor(WEIGHTS)).sum().backward()
        grads.append((to_numpy(x.grad), to_numpy(s.grad)))
    expected_x = WEIGHTS.copy()
    expected_x[1:, ::2] = 0
    for gx, gs in grads:
        np.testing.assert_allclose(gx, expected_x)
        np.testing.assert_allclose(gs, 3 * WEIGHTS[1:, ::2].sum(), rtol=1e-6)


def test_setitem_with_python_number_on_non_leaf():
    grads = []
    for lib in libraries():
        x = lib.tensor(BASE, requires_grad=True)
        y = x.sin()  # sin saves its input, not its output
        y[0, 1:3] = 7.0
        (y * y).sum().backward()
        grads.append(to_numpy(x.grad))
    # d/dx sum(sin(x)^2) = sin(2x), except where 7 was written
    expected = np.sin(2 * BASE)
    expected[0, 1:3] = 0
    for g in grads:
        np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-6)


def test_seed_style_program_copy_slices():
    x = tapegrad.tensor([2.0, 3.0], requires_grad=True)
    k = tapegrad.zeros(2)
    k[0] = x[0] ** 2
    k[1] = x[1] ** 2
    assert repr(k) == "tensor([4., 9.], grad_fn=<CopySlices>)"
    k.backward(tapegrad.tensor([1.0, 0.0]), retain_graph=True)
    assert x.grad.tolist() == [4.0, 0.0]
    x.grad.data.zero_()
    k.backward(tapegrad.tensor([0.0, 1.0]))
    assert x.grad.tolist() == [0.0, 6.0]


def test_seed_style_program_matches_torch():
    results = []
    for lib in libraries():
        x = lib.tensor([2.0, 3.0], requires_grad=True)
        k = lib.zeros(2)
        k[0] = x[0] ** 2
        k[1] = x[1] ** 2
        k.backward(lib.tensor([1.0, 0.0]), retain_graph=True)
        first = x.grad.tolist()
        x.grad.data.zero_()
        k.backward(lib.tensor([0.0, 1.0]))
        results.append((first, x.grad.tolist(), grad_fn_name(k), k.tolist()))
    assert results == [([4.0, 0.0], [0.0, 6.0], "CopySlices", [4.0, 9.0])] * len(results)


def test_copy_slices_grad_fn_name_matches_torch():
    """Both libraries name the node CopySlices (torch adds its C++ namespace to name())."""
    k = tapegrad.zeros(2)
    k[0] = tapegrad.tensor(1.0, requires_grad=True) * 2
    # PyTorch's C++ nodes report namespaced names ("torch::autograd::CopySlices"); tapegrad
    # reports the class-style name that both libraries print in a tensor's repr.
    assert k.grad_fn.name() == "CopySlices"
    torch = pytest.importorskip("torch")
    tk = torch.zeros(2)
    tk[0] = torch.tensor(1.0, requires_grad=True) * 2
    assert tk.grad_fn.name() == "torch::autograd::CopySlices"


def test_seed_style_two_dim_setitem():
    m = tapegrad.tensor([[2.0, 3.0]], requires_grad=True)
    n = tapegrad.zeros(1, 2)
    n[0, 0] = m[0, 0] ** 2
    n[0, 1] = m[0, 1] ** 3
    assert n.tolist() == [[4.0, 27.0]]
    n.backward(tapegrad.ones_like(n))
    assert m.grad.tolist() == [[4.0, 27.0]]


def test_setitem_value_shape_mismatch_raises():
    for lib in libraries():
        y = lib.zeros(3, 4)
        with pytest.raises(RuntimeError):
            y[0] = lib.ones(3)


# ---------------------------------------------------------------- in-place ops on non-leaves

INPLACE_PROGRAMS = {
    "add_": lambda lib, y, o: y.add_(o),
    "add_-alpha": lambda lib, y, o: y.add_(o, alpha=-2.5),
    "sub_": lambda lib, y, o: y.sub_(o),
    "mul_": lambda lib, y, o: y.mul_(o),
    "mul_-scalar": lambda lib, y, o: y.mul_(3.0),
    "div_": lambda lib, y, o: y.div_(o + 3),
    "zero_": lambda lib, y, o: y.zero_(),
    "fill_": lambda lib, y, o: y.fill_(2.5),
    "fill_-tensor": lambda lib, y, o: y.fill_(o.sum()),
    "copy_": lambda lib, y, o: y.copy_(o * 4),
    "copy_-broadcast": lambda lib, y, o: y.copy_(o[0]),
    "clamp_": lambda lib, y, o: y.clamp_(-0.5, 0.75),
    "clamp_-min": lambda lib, y, o: y.clamp_(min=0.0),
    "iadd": lambda lib, y, o: y.__iadd__(o),
    "isub": lambda lib, y, o: y.__isub__(o * 2),
    "imul": lambda lib, y, o: y.__imul__(o),
    "itruediv": lambda lib, y, o: y.__itruediv__(2.0),
    "chain": lambda lib, y, o: y.mul_(o).add_(1).clamp_(max=1.5),
}


def _inplace_program(lib, name):
    x = lib.tensor(BASE, requires_grad=True)
    o = lib.tensor(WEIGHTS, requires_grad=True)
    y = x * 1.5
    out = INPLACE_PROGRAMS[name](lib, y, o)
    assert out is y
    loss = (y * lib.tensor(BASE + 2)).sum() + (y * y).sum()
    loss.backward()
    return y, x, o


@pytest.mark.parametrize("name", list(INPLACE_PROGRAMS))
def test_inplace_ops_on_non_leaf_match_torch(name):
    y, x, o = _inplace_program(tapegrad, name)
    torch = pytest.importorskip("torch")
    ty, tx, to = _inplace_program(torch, name)
    assert_close(y, ty, rtol=1e-6)
    assert_close(x.grad, tx.grad, rtol=1e-5, atol=1e-6)
    if to.grad is None:
        assert o.grad is None
    else:
        assert_close(o.grad, to.grad, rtol=1e-5, atol=1e-6)
    assert not y.is_leaf
    assert version(y) == version(ty)


X0 = np.array([1.0, 2.0, 3.0], dtype=np.float32)
O0 = np.array([0.5, -1.0, 2.0], dtype=np.float32)
W0 = np.array([1.0, 2.0, 3.0], dtype=np.float32)
ZEROS = np.zeros(3, dtype=np.float32)

# y = 2x, then the in-place op; loss = sum(W0 * y). (x.grad, o.grad) in closed form, None: no grad.
CLOSED_FORM = {
    "add_": (lambda y, o: y.add_(o), 2 * W0, W0),
    "sub_": (lambda y, o: y.sub_(o), 2 * W0, -W0),
    "mul_": (lambda y, o: y.mul_(o), 2 * O0 * W0, 2 * X0 * W0),
    "div_": (lambda y, o: y.div_(o), 2 * W0 / O0, -2 * X0 * W0 / O0 ** 2),
    "zero_": (lambda y, o: y.zero_(), ZEROS, None),
    "fill_": (lambda y, o: y.fill_(2.5), ZEROS, None),
    "copy_": (lambda y, o: y.copy_(o), ZEROS, W0),
    "clamp_": (lambda y, o: y.clamp_(2.5, 5.0), 2 * W0 * np.array([0, 1, 0], np.float32), None),
    "iadd": (lambda y, o: y.__iadd__(o), 2 * W0, W0),
    "imul": (lambda y, o: y.__imul__(o), 2 * O0 * W0, 2 * X0 * W0),
}


@pytest.mark.parametrize("name", list(CLOSED_FORM))
def test_inplace_ops_on_non_leaf_closed_form(name):
    op, expected_x, expected_o = CLOSED_FORM[name]
    x = tapegrad.tensor(X0, requires_grad=True)
    o = tapegrad.tensor(O0, requires_grad=True)
    y = x * 2
    op(y, o)
    (y * tapegrad.tensor(W0)).sum().backward()
    assert_close(x.grad, expected_x)
    if expected_o is None:
        assert o.grad is None
    else:
        assert_close(o.grad, expected_o)


def test_inplace_column_add_through_view_closed_form():
    x = tapegrad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    o = tapegrad.tensor([10.0, 20.0], requires_grad=True)
    y = x * 1
    y[:, 1].add_(o * 2)
    assert y.tolist() == [[1.0, 22.0], [3.0, 44.0]]
    (y * tapegrad.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    assert_close(x.grad, [[1.0, 2.0], [3.0, 4.0]])
    assert_close(o.grad, [4.0, 8.0])


def test_inplace_mul_on_non_leaf_without_torch():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.mul_(3)
    y.add_(x)
    y.sum().backward()
    assert_close(y, [4.0, 8.0])
    assert_close(x.grad, [4.0, 4.0])
    assert y.grad_fn.name() == "AddBackward0"


def test_copy_inplace_on_non_leaf_keeps_zero_gradient_edge():
    """As in torch, the overwritten history still receives a (zero) gradient."""
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    o = tapegrad.tensor([3.0, 4.0], requires_grad=True)
    y = x * 1.5
    y.copy_(o * 4)
    y.sum().backward()
    assert_close(o.grad, [4.0, 4.0])
    assert_close(x.grad, [0.0, 0.0])
    assert y.grad_fn.name() == "CopyBackwards"

    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = tx * 1.5
    ty.copy_(torch.tensor([3.0, 4.0]) * 4)
    ty.sum().backward()
    assert tx.grad.tolist() == [0.0, 0.0]
    assert type(ty.grad_fn).__name__ == "CopyBackwards"


def test_clamp_inplace_gradient_mask_without_torch():
    x = tapegrad.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    y = x * 1
    y.clamp_(-1, 1)
    (y * tapegrad.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert_close(y, [-1.0, 0.5, 1.0])
    assert_close(x.grad, [0.0, 2.0, 0.0])


def test_zero_inplace_kills_gradient_without_torch():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.zero_()
    (y + x).sum().backward()
    assert_close(x.grad, [1.0, 1.0])


# ---------------------------------------------------------------- in-place through views of non-leaves

VIEW_PROGRAMS = {
    "select-mul_": lambda lib, y, o: y[0].mul_(2),
    "slice-add_": lambda lib, y, o: y[1:, 1:3].add_(o[:2, :2]),
    "column-mul_": lambda lib, y, o: y[:, 1].mul_(o[:, 0]),
    "transpose-row": lambda lib, y, o: y.t()[2].mul_(-3),
    "view-copy_": lambda lib, y, o: y.view(12)[3:7].copy_(o.reshape(12)[:4]),
    "nested": lambda lib, y, o: y[1:][:, ::2].zero_(),
    "element-fill_": lambda lib, y, o: y[2, 3].fill_(o[0, 0] * 5),
    "unsqueeze-clamp_": lambda lib, y, o: y[0].unsqueeze(0).clamp_(0, 0.5),
    "setitem-on-view": lambda lib, y, o: y[1].__setitem__(slice(0, 2), o[2, 2:] * 2),
}


def _view_program(lib, name):
    x = lib.tensor(BASE, requires_grad=True)
    o = lib.tensor(WEIGHTS, requires_grad=True)
    y = x * 1
    VIEW_PROGRAMS[name](lib, y, o)
    loss = (y * lib.tensor(BASE + 2)).sum() + (y ** 2).sum()
    loss.backward()
    return y, x, o


@pytest.mark.parametrize("name", list(VIEW_PROGRAMS))
def test_inplace_through_view_of_non_leaf_matches_torch(name):
    y, x, o = _view_program(tapegrad, name)
    torch = pytest.importorskip("torch")
    ty, tx, to = _view_program(torch, name)
    assert_close(y, ty)
    assert grad_fn_name(y) == grad_fn_name(ty)
    assert_close(x.grad, tx.grad, rtol=1e-5, atol=1e-6)
    if to.grad is None:
        assert o.grad is None
    else:
        assert_close(o.grad, to.grad, rtol=1e-5, atol=1e-6)


def test_inplace_through_view_without_torch():
    x = tapegrad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * 1
    row = y[0]
    row.mul_(2)
    assert y.tolist() == [[2.0, 4.0], [3.0, 4.0]]
    assert y.grad_fn.name() == "CopySlices"
    y.sum().backward()
    assert_close(x.grad, [[2.0, 2.0], [1.0, 1.0]])


def test_view_history_after_base_inplace():
    """A view taken before its base was changed in place sees the new values and gradients."""
    results = []
    for lib in libraries():
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 1
        v = y[1:]
        y.mul_(lib.tensor([2.0, 3.0, 4.0]))
        (v * v).sum().backward()
        results.append((v.tolist(), x.grad.tolist()))
    # d/dx sum((x[1:] * [3, 4]) ** 2) = 2 * x * [9, 16]
    assert results == [([6.0, 12.0], [0.0, 36.0, 96.0])] * len(results)


def test_view_history_after_inplace_through_sibling_view():
    results = []
    for lib in libraries():
        x = lib.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        y = x * 1
        whole = y.view(2, 2)
        y[2:].mul_(10)
        whole.sum().backward()
        results.append((whole.tolist(), x.grad.tolist()))
    assert results == [([[1.0, 2.0], [30.0, 40.0]], [1.0, 1.0, 10.0, 10.0])] * len(results)


def test_view_grad_fn_after_inplace_on_view():
    names = []
    for lib in libraries():
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 1
        v = y[:2]
        v.mul_(2)
        names.append((grad_fn_name(y), v.requires_grad, v.is_leaf))
    assert names == [("CopySlices", True, False)] * len(names)


def test_inplace_on_non_leaf_then_second_backward_with_retain_graph():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y[0] = x[1] * 5
    loss = (y * y).sum()
    loss.backward(retain_graph=True)
    first = x.grad.tolist()
    loss.backward()
    assert first == [0.0, 4.0 + 2 * 10.0 * 5]
    assert x.grad.tolist() == [2 * v for v in first]


# ------------------------------------------------------------------ integers among advanced indices

# PyTorch applies integers as selects before the index arrays: they never move the indexed
# dims to the front (NumPy counts them among the advanced indices and does).
INTEGER_AND_ARRAY_KEYS = [
    ((0, slice(None), [1, 2]), (3, 2, 5)),
    ((0, slice(None), slice(None), [0, 1]), (3, 4, 2)),
    ((slice(None), [0, 1], slice(None), 0), (2, 2, 4)),
    (([0, 1], 0, [1, 2]), (2, 5)),
    ((Ellipsis, 0, [1, 2]), (2, 3, 2)),
    ((0, None, slice(None), [1, 2]), (1, 3, 2, 5)),
    ((1, [[0, 1], [2, 0]], slice(None), 3), (2, 2, 4)),
    ((0, "mask", 2), (7,)),
]


def _integer_and_array_key(lib, key):
    mask = lib.tensor([[True, False, True, True], [False] * 4, [True] * 4])
    return tuple(mask if k == "mask" else k for k in key)


@pytest.mark.parametrize("key, shape", INTEGER_AND_ARRAY_KEYS)
def test_integers_among_advanced_indices_select_first(key, shape):
    results = []
    for lib in libraries():
        z = lib.arange(120.0, requires_grad=True)
        y = z.reshape(2, 3, 4, 5)[_integer_and_array_key(lib, key)]
        assert tuple(y.shape) == shape
        (y * lib.arange(float(y.numel())).reshape(y.shape)).sum().backward()
        results.append((to_numpy(y), to_numpy(z.grad), y.grad_fn.name()))
    for ours, theirs in zip(results[0], results[-1]):
        assert np.array_equal(ours, theirs) if isinstance(ours, np.ndarray) else ours == theirs
    assert results[0][2] == "IndexBackward0"


def test_integers_among_advanced_indices_in_assignment():
    results = []
    for lib in libraries():
        x = lib.zeros(3, 4, 5)
        x[0, :, [1, 2]] = lib.arange(8.0).reshape(4, 2)
        leaf = lib.ones(2, requires_grad=True)
        y = lib.zeros(3, 4)
        y[1, [0, 2]] = leaf * 3
        y.sum().backward()
        results.append((to_numpy(x), to_numpy(y), to_numpy(leaf.grad)))
    expected = np.zeros((3, 4, 5), np.float32)
    expected[0, :, 1:3] = np.arange(8.0).reshape(4, 2)
    assert np.array_equal(results[0][0], expected)
    assert results[0][1][1].tolist() == [3.0, 0.0, 3.0, 0.0] and results[0][2].tolist() == [3.0, 3.0]
    for ours, theirs in zip(results[0], results[-1]):
        assert np.array_equal(ours, theirs)

"""Custom ``Function``s beyond one output: several outputs, non-differentiable and dirty
outputs, the ``setup_context`` style, validation of what ``backward`` returns, and
``once_differentiable``. Each class is written once, for a library (``lib``): tapegrad, and
torch when it is installed, must agree."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad
from tapegrad.autograd import Function, gradcheck, gradgradcheck
from tapegrad.autograd.function import once_differentiable
from autograd_helpers import assert_close


def _torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------- function factories

def _split(lib, calls=None, materialize=True):
    """(x * 2, x * 3, k, an integer tensor): two differentiable outputs, a plain value and an
    integer output; ``calls`` gets the gradients each backward call receives."""

    class Split(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.set_materialize_grads(materialize)
            ctx.save_for_backward(x)
            return x * 2, x * 3, k, (x > 0).long()

        @staticmethod
        def backward(ctx, g2, g3, gk, gi):
            if calls is not None:
                calls.append((g2, g3, gk, gi))
            (x,) = ctx.saved_tensors
            total = x * 0
            if g2 is not None:
                total = total + g2 * 2
            if g3 is not None:
                total = total + g3 * 3
            return total, None

    return Split


def _sort_like(lib, calls=None, materialize=True):
    """(x * x, x + 1) with the second output marked non-differentiable."""

    class Marked(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(materialize)
            ctx.save_for_backward(x)
            square, shifted = x * x, x + 1
            ctx.mark_non_differentiable(shifted)
            return square, shifted

        @staticmethod
        def backward(ctx, g_square, g_shifted):
            if calls is not None:
                calls.append((g_square, g_shifted))
            (x,) = ctx.saved_tensors
            return g_square * 2 * x

    return Marked


def _scale_inplace(lib):
    class ScaleInplace(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(3)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 3

    return ScaleInplace


def _returns(lib, make_grad):
    """out = x.sum() * y.sum() (y a tensor, k a plain value); backward returns ``make_grad(lib, g)``."""

    class Returns(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, y, k):
            return x.sum() * y.sum() * k

        @staticmethod
        def backward(ctx, g):
            return make_grad(lib, g)

    return Returns


def _setup_style(lib, seen=None):
    class Scaled(lib.autograd.Function):
        @staticmethod
        def forward(x, scale=2.0):
            if seen is not None:
                seen["forward_grad"] = lib.is_grad_enabled()
            return x * scale, (x > 0).long()

        @staticmethod
        def setup_context(ctx, inputs, output):
            if seen is not None:
                seen["inputs_len"] = len(inputs)
                seen["scale"] = inputs[1]
                seen["setup_grad"] = lib.is_grad_enabled()
                seen["output_requires_grad"] = [o.requires_grad for o in output]
            x, scale = inputs
            ctx.scale = scale
            ctx.mark_non_differentiable(output[1])

        @staticmethod
        def backward(ctx, g, g_mask):
            return g * ctx.scale, None

    return Scaled


def _once_cube(lib, seen=None):
    class OnceCube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @lib.autograd.function.once_differentiable
        def backward(ctx, g):
            """The cube's backward."""
            if seen is not None:
                seen.append(lib.is_grad_enabled())
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    return OnceCube


# ---------------------------------------------------------------- several outputs

def test_several_outputs_values_and_flags():
    x = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    out = _split(tapegrad).apply(x, 7)
    assert isinstance(out, tuple) and len(out) == 4
    doubled, tripled, k, positive = out
    assert_close(doubled, [2.0, -4.0])
    assert_close(tripled, [3.0, -6.0])
    assert k == 7
    assert positive.tolist() == [1, 0] and positive.dtype == tapegrad.int64
    assert doubled.requires_grad and tripled.requires_grad and not positive.requires_grad
    assert positive.grad_fn is None and positive.is_leaf
    assert doubled.grad_fn.name() == tripled.grad_fn.name() == "SplitBackward"


def test_unused_outputs_get_zero_gradients_of_their_dtype():
    calls = []
    x = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    doubled, _, _, _ = _split(tapegrad, calls).apply(x, 7)
    (doubled * tapegrad.tensor([1.0, 10.0])).sum().backward()
    assert len(calls) == 1
    g2, g3, gk, gi = calls[0]
    assert_close(g2, [1.0, 10.0])
    assert g3.tolist() == [0.0, 0.0] and g3.dtype == tapegrad.float32
    assert gk is None
    assert gi.tolist() == [0, 0] and gi.dtype == tapegrad.int64
    assert_close(x.grad, [2.0, 20.0])


def test_both_outputs_used_make_one_backward_call():
    calls = []
    x = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    doubled, tripled, _, _ = _split(tapegrad, calls).apply(x, 7)
    (doubled.sum() + (tripled * tripled).sum()).backward()
    assert len(calls) == 1
    assert_close(calls[0][0], [1.0, 1.0])
    assert_close(calls[0][1], [6.0, -12.0])  # 2 * tripled
    assert_close(x.grad, [2.0 + 18.0, 2.0 - 36.0])


def test_output_used_twice_gets_the_summed_gradient():
    calls = []
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    doubled, tripled, _, _ = _split(tapegrad, calls).apply(x, 1)
    (doubled.sum() + (doubled * 4).sum() + tripled.sum()).backward()
    assert len(calls) == 1
    assert_close(calls[0][0], [5.0, 5.0])
    assert_close(calls[0][1], [1.0, 1.0])
    assert_close(x.grad, [13.0, 13.0])


def test_materialize_false_passes_none_for_unused_outputs():
    calls = []
    x = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    _, tripled, _, _ = _split(tapegrad, calls, materialize=False).apply(x, 7)
    tripled.sum().backward()
    g2, g3, gk, gi = calls[0]
    assert g2 is None and gk is None and gi is None
    assert_close(g3, [1.0, 1.0])
    assert_close(x.grad, [3.0, 3.0])


def test_several_outputs_match_torch():
    torch = _torch()
    results = []
    for lib in (tapegrad, torch):
        calls = []
        x = lib.tensor([0.5, -1.5, 2.0], requires_grad=True)
        doubled, tripled, k, positive = _split(lib, calls).apply(x, 3)
        (doubled * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        results.append((doubled, tripled, k, positive, x.grad, calls[0]))
    mine, theirs = results
    for a, b in zip(mine[:2], theirs[:2]):
        assert_close(a, b)
        assert a.requires_grad == b.requires_grad
        assert a.grad_fn.name() == b.grad_fn.name()
    assert mine[2] == theirs[2]
    assert mine[3].tolist() == theirs[3].tolist() and mine[3].requires_grad == theirs[3].requires_grad
    assert_close(mine[4], theirs[4])
    for a, b in zip(mine[5], theirs[5]):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.tolist() == b.tolist() and str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]


def test_single_output_tuple_stays_a_tuple():
    class One(Function):
        @staticmethod
        def forward(ctx, x):
            return (x * 2,)

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    out = One.apply(x)
    assert isinstance(out, tuple) and len(out) == 1
    assert out[0].grad_fn.name() == "OneBackward"
    out[0].sum().backward()
    assert_close(x.grad, [2.0, 2.0])


def test_tensor_and_plain_value_output_single_differentiable():
    calls = []

    class WithCount(Function):
        @staticmethod
        def forward(ctx, x):
            return x.exp(), 5

        @staticmethod
        def backward(ctx, g, g_count):
            calls.append(g_count)
            return g * 2

    x = tapegrad.tensor([0.0, 1.0], requires_grad=True)
    y, count = WithCount.apply(x)
    assert count == 5 and y.grad_fn.name() == "WithCountBackward"
    y.sum().backward()
    assert calls == [None]
    assert_close(x.grad, [2.0, 2.0])


def test_several_outputs_without_grad_are_plain():
    for make_context in (tapegrad.no_grad, None):
        x = tapegrad.tensor([1.0, -2.0], requires_grad=make_context is not None)
        if make_context is None:
            out = _split(tapegrad).apply(x, 7)
        else:
            with make_context():
                out = _split(tapegrad).apply(x, 7)
        assert isinstance(out, tuple) and out[2] == 7
        assert all(not o.requires_grad and o.grad_fn is None for o in (out[0], out[1], out[3]))


def test_list_output_is_returned_untracked():
    class Listed(Function):
        @staticmethod
        def forward(ctx, x):
            return [x * 2, x * 3]

        @staticmethod
        def backward(ctx, g):
            return g

    out = Listed.apply(tapegrad.tensor([1.0], requires_grad=True))
    assert isinstance(out, list) and not out[0].requires_grad and not out[1].requires_grad


def test_same_tensor_returned_twice_is_the_later_output():
    calls = []

    class Twice(Function):
        @staticmethod
        def forward(ctx, x):
            y = x * 2
            return y, y

        @staticmethod
        def backward(ctx, g1, g2):
            calls.append((g1.tolist(), g2.tolist()))
            return g1 + g2

    x = tapegrad.tensor([1.0, 1.0], requires_grad=True)
    a, b = Twice.apply(x)
    assert a is b
    (a.sum() + 2 * b.sum()).backward()
    assert calls == [([0.0, 0.0], [3.0, 3.0])]  # as PyTorch: the later position takes it all
    assert_close(x.grad, [3.0, 3.0])


def test_several_outputs_hooks_retain_grad_and_second_backward():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    doubled, tripled, _, _ = _split(tapegrad).apply(x, 1)
    seen = []
    doubled.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
    tripled.retain_grad()
    loss = doubled.sum() + (tripled * 2).sum()
    loss.backward(retain_graph=True)
    assert seen == [[1.0, 1.0]]
    assert_close(tripled.grad, [2.0, 2.0])
    assert_close(x.grad, [20.0 + 6.0, 20.0 + 6.0])
    loss.backward()
    assert_close(x.grad, [52.0, 52.0])
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_autograd_grad_with_respect_to_an_output():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    doubled, tripled, _, _ = _split(tapegrad).apply(x, 1)
    loss = (doubled * tripled).sum()
    g_doubled, g_x = tapegrad.autograd.grad(loss, [doubled, x])
    assert_close(g_doubled, [3.0, 6.0])
    assert_close(g_x, [12.0, 24.0])  # loss = 6 x^2


def test_several_outputs_under_anomaly_mode():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tapegrad.autograd.detect_anomaly():
            doubled, tripled, _, _ = _split(tapegrad).apply(x, 1)
            (doubled + tripled).sum().backward()
    assert_close(x.grad, [5.0, 5.0])


def test_gradcheck_and_gradgradcheck_on_several_outputs():
    class PolarLike(Function):
        @staticmethod
        def forward(ctx, x, y, scale):
            ctx.save_for_backward(x, y)
            ctx.scale = scale
            return (x * y).sin() * scale, "tag", x.exp() + y

        @staticmethod
        def backward(ctx, g_a, g_tag, g_b):
            x, y = ctx.saved_tensors
            c = (x * y).cos() * ctx.scale
            return g_a * c * y + g_b * x.exp(), g_a * c * x + g_b, None

    x = tapegrad.tensor([0.3, -1.2, 0.7], dtype=tapegrad.float64, requires_grad=True)
    y = tapegrad.tensor([1.1, 0.4, -0.5], dtype=tapegrad.float64, requires_grad=True)
    assert gradcheck(lambda a, b: PolarLike.apply(a, b, 1.5), (x, y))
    assert gradgradcheck(lambda a, b: PolarLike.apply(a, b, 1.5), (x, y))

    class Wrong(PolarLike):
        @staticmethod
        def backward(ctx, g_a, g_tag, g_b):
            grads = PolarLike.backward(ctx, g_a, g_tag, g_b)
            return grads[0], grads[1] * 2, None

    assert not gradcheck(lambda a, b: Wrong.apply(a, b, 1.5), (x, y), raise_exception=False)


# ---------------------------------------------------------------- mark_non_differentiable

def test_mark_non_differentiable_output():
    calls = []
    x = tapegrad.tensor([1.0, 3.0], requires_grad=True)
    square, shifted = _sort_like(tapegrad, calls).apply(x)
    assert square.requires_grad and square.grad_fn.name() == "MarkedBackward"
    assert not shifted.requires_grad and shifted.grad_fn is None and shifted.is_leaf
    assert_close(shifted, [2.0, 4.0])
    square.sum().backward()
    assert_close(calls[0][1], [0.0, 0.0])
    assert_close(x.grad, [2.0, 6.0])


def test_mark_non_differentiable_without_materialized_grads():
    calls = []
    x = tapegrad.tensor([1.0, 3.0], requires_grad=True)
    square, _ = _sort_like(tapegrad, calls, materialize=False).apply(x)
    square.sum().backward()
    assert calls[0][1] is None


def test_all_outputs_non_differentiable():
    class Nothing(Function):
        @staticmethod
        def forward(ctx, x):
            y = x * 2
            ctx.mark_non_differentiable(y)
            return y

        @staticmethod
        def backward(ctx, g):
            return g

    y = Nothing.apply(tapegrad.tensor([1.0], requires_grad=True))
    assert not y.requires_grad and y.grad_fn is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_mark_non_differentiable_matches_torch():
    torch = _torch()
    got = []
    for lib in (tapegrad, torch):
        calls = []
        x = lib.tensor([1.0, 3.0], requires_grad=True)
        square, shifted = _sort_like(lib, calls).apply(x)
        (square * lib.tensor([2.0, 5.0])).sum().backward()
        got.append((square.requires_grad, shifted.requires_grad, shifted.grad_fn is None, square.grad_fn.name(),
                    x.grad.tolist(), calls[0][1].tolist()))
    assert got[0] == got[1]


def test_input_returned_unchanged_is_a_new_tensor():
    class Same(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 3

    for requires_grad in (True, False):
        x = tapegrad.tensor([1.0, 2.0], requires_grad=requires_grad)
        y = Same.apply(x)
        assert y is not x
        assert y.requires_grad == requires_grad
        assert y.tolist() == [1.0, 2.0]
    y.add_(1)
    assert x.tolist() == [2.0, 3.0]  # the same memory


# ---------------------------------------------------------------- mark_dirty

def test_mark_dirty_returns_the_input_with_new_history():
    leaf = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    h = leaf * 1
    version = h._version
    out = _scale_inplace(tapegrad).apply(h)
    assert out is h
    assert h._version == version + 2  # mul_ in forward, then mark_dirty
    assert h.grad_fn.name() == "ScaleInplaceBackward"
    assert_close(h, [3.0, 6.0])
    (h * tapegrad.tensor([1.0, 2.0])).sum().backward()
    assert_close(leaf.grad, [3.0, 6.0])


def test_mark_dirty_invalidates_earlier_saved_values():
    leaf = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    h = leaf * 1
    s = h * h
    _scale_inplace(tapegrad).apply(h)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        s.sum().backward()


def test_mark_dirty_leaf_that_requires_grad_raises():
    leaf = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="^a leaf Variable that requires grad has been used in an in-place "
                                           "operation.$"):
        _scale_inplace(tapegrad).apply(leaf)
    view_of_leaf = tapegrad.tensor([1.0, 2.0, 3.0], requires_grad=True)[:2]
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad is being used"):
        _scale_inplace(tapegrad).apply(view_of_leaf)


def test_mark_dirty_leaf_under_no_grad_is_allowed():
    leaf = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    with tapegrad.no_grad():
        out = _scale_inplace(tapegrad).apply(leaf)
    assert out is not leaf and not out.requires_grad
    assert leaf.requires_grad and leaf.tolist() == [3.0, 6.0]


def test_mark_dirty_without_grad_keeps_the_object_and_bumps_the_version():
    t = tapegrad.tensor([1.0, 2.0])
    out = _scale_inplace(tapegrad).apply(t)
    assert out is t and t._version == 2 and not t.requires_grad


def test_dirty_tensor_must_be_returned():
    class Hidden(Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g

    for t in (tapegrad.tensor([1.0]), tapegrad.tensor([1.0], requires_grad=True) * 1):
        with pytest.raises(RuntimeError, match="Some elements marked as dirty during the forward method were not "
                                               "returned as output"):
            Hidden.apply(t)


def test_mark_dirty_input_without_grad_gains_history():
    class AddInto(Function):
        @staticmethod
        def forward(ctx, x, y):
            x.add_(y)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g, g * 2

    x = tapegrad.zeros(2)
    y = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    out = AddInto.apply(x, y)
    assert out is x and x.requires_grad and not x.is_leaf
    x.sum().backward()
    assert_close(y.grad, [2.0, 2.0])


def test_mark_dirty_view_moves_the_base_history():
    got = []
    libs = [tapegrad]
    try:
        import torch
        libs.append(torch)
    except ImportError:
        pass
    for lib in libs:
        leaf = lib.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        base = leaf * 1
        view = base[1:3]
        out = _scale_inplace(lib).apply(view)
        assert out is view
        got.append((base.tolist(), base.grad_fn.name()))
        (base * lib.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
        got.append(leaf.grad.tolist())
    assert got[:2] == [([1.0, 6.0, 9.0, 4.0], "CopySlices"), [1.0, 6.0, 9.0, 4.0]]
    if len(got) == 4:
        assert got[2][0] == got[0][0] and got[3] == got[1]


def test_mark_dirty_with_several_outputs():
    class DirtyPair(Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 * 2 + g2 * 6

    leaf = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    h = leaf * 1
    o1, o2 = DirtyPair.apply(h)
    assert o1 is h and o1.grad_fn.name() == o2.grad_fn.name() == "DirtyPairBackward"
    (o1.sum() + o2.sum()).backward()
    assert_close(leaf.grad, [8.0, 8.0])


# ---------------------------------------------------------------- setup_context

def test_setup_context_style():
    seen = {}
    x = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    y, mask = _setup_style(tapegrad, seen).apply(x)
    assert seen == {"forward_grad": False, "inputs_len": 2, "scale": 2.0, "setup_grad": False,
                    "output_requires_grad": [False, False]}
    assert y.grad_fn.name() == "ScaledBackward" and not mask.requires_grad
    assert_close(y, [2.0, -4.0])
    y.sum().backward()
    assert_close(x.grad, [2.0, 2.0])


def test_setup_context_with_keyword_and_too_many_arguments():
    seen = {}
    x = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    y, _ = _setup_style(tapegrad, seen).apply(x, scale=3.0)
    assert seen["scale"] == 3.0
    y.sum().backward()
    assert_close(x.grad, [3.0, 3.0])
    with pytest.raises(TypeError, match="too many positional arguments"):
        _setup_style(tapegrad).apply(x, 3.0, 4.0)


def test_setup_context_under_no_grad_still_runs():
    seen = {}
    x = tapegrad.tensor([1.0], requires_grad=True)
    with tapegrad.no_grad():
        y, _ = _setup_style(tapegrad, seen).apply(x)
    assert "setup_grad" in seen and not y.requires_grad


def test_setup_context_matches_torch():
    torch = _torch()
    got = []
    for lib in (tapegrad, torch):
        seen = {}
        x = lib.tensor([1.0, -2.0, 0.5], requires_grad=True)
        y, mask = _setup_style(lib, seen).apply(x, scale=1.5)
        (y * y).sum().backward()
        got.append((seen, y.tolist(), mask.tolist(), mask.requires_grad, y.grad_fn.name(), x.grad.tolist()))
    assert got[0] == got[1]


def test_keyword_arguments_to_forward_with_ctx():
    class Scale(Function):
        @staticmethod
        def forward(ctx, x, factor=2.0):
            ctx.factor = factor
            return x * factor

        @staticmethod
        def backward(ctx, g):
            return g * ctx.factor, None

    x = tapegrad.tensor([1.0], requires_grad=True)
    Scale.apply(x, factor=5.0).sum().backward()
    assert_close(x.grad, [5.0])


def test_setup_context_not_overridden_is_not_implemented():
    with pytest.raises(NotImplementedError, match="setup_context is not implemented"):
        Function.setup_context(None, (), None)


# ---------------------------------------------------------------- what backward returns

def _grad_of_shape(shape):
    return lambda lib, g: (lib.ones(shape), None, None)


@pytest.mark.parametrize("shape", [(3,), (1,), (2, 1), ()])
def test_gradient_of_an_incompatible_shape_raises(shape):
    fn = _returns(tapegrad, _grad_of_shape(shape))
    x = tapegrad.ones(2, requires_grad=True)
    expected = f"Function ReturnsBackward returned an invalid gradient at index 0 - got {list(shape)} but " \
               f"expected shape compatible with [2]"
    with pytest.raises(RuntimeError) as info:
        fn.apply(x, tapegrad.ones(3), 1.0).backward()
    assert str(info.value) == expected


@pytest.mark.parametrize("shape,want", [((3, 2), [3.0, 3.0]), ((1, 2), [1.0, 1.0]), ((4, 1, 2), [4.0, 4.0])])
def test_gradient_broadcast_past_its_input_is_summed(shape, want):
    fn = _returns(tapegrad, _grad_of_shape(shape))
    x = tapegrad.ones(2, requires_grad=True)
    fn.apply(x, tapegrad.ones(3), 1.0).backward()
    assert x.grad.tolist() == want


def test_gradient_for_zero_dim_input_is_summed():
    fn = _returns(tapegrad, _grad_of_shape((2,)))
    x = tapegrad.tensor(1.0, requires_grad=True)
    fn.apply(x, tapegrad.ones(3), 1.0).backward()
    assert x.grad.shape == () and x.grad.item() == 2.0


def test_invalid_gradient_at_later_index():
    fn = _returns(tapegrad, lambda lib, g: (None, lib.ones(5), None))
    with pytest.raises(RuntimeError, match=r"invalid gradient at index 1 - got \[5\] but expected shape compatible "
                                           r"with \[3\]"):
        fn.apply(tapegrad.ones(2), tapegrad.ones(3, requires_grad=True), 1.0).backward()


def test_gradient_for_input_without_grad_is_not_checked():
    fn = _returns(tapegrad, lambda lib, g: (lib.ones(2), lib.ones(5), None))
    x = tapegrad.ones(2, requires_grad=True)
    fn.apply(x, tapegrad.ones(3), 1.0).backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_gradient_of_another_dtype_is_cast():
    fn = _returns(tapegrad, lambda lib, g: (lib.ones(2, dtype=lib.float64), None, None))
    x = tapegrad.ones(2, requires_grad=True)
    fn.apply(x, tapegrad.ones(3), 1.0).backward()
    assert x.grad.dtype == tapegrad.float32 and x.grad.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("make_grad,message", [
    (lambda lib, g: (1.0, None, None), "expected Variable or None (got float)"),
    (lambda lib, g: [g.expand(2), None, None], "function ReturnsBackward returned an incorrect number of "
                                               "gradients (expected 3, got 1)"),
    (lambda lib, g: g.expand(2), "function ReturnsBackward returned an incorrect number of gradients "
                                 "(expected 3, got 1)"),
    (lambda lib, g: (g.expand(2), 1.0, None), "expected Variable or None (got float)"),
    (lambda lib, g: (g.expand(2), None, g),
     "function ReturnsBackward returned a gradient different than None at position 3, but the corresponding "
     "forward input was not a Variable"),
    (lambda lib, g: (g.expand(2), None), "function ReturnsBackward returned an incorrect number of gradients "
                                         "(expected 3, got 2)"),
    (lambda lib, g: (g.expand(2), None, None, g), "function ReturnsBackward returned an incorrect number of "
                                                  "gradients (expected 3, got 4)"),
], ids=["float", "list", "lone-tensor", "float-for-tensor-without-grad", "non-tensor-input", "too-few",
        "too-many"])
def test_bad_backward_results_raise(make_grad, message):
    fn = _returns(tapegrad, make_grad)
    x = tapegrad.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        fn.apply(x, tapegrad.ones(3), 1.0).backward()
    assert str(info.value) == message


def test_trailing_nones_past_the_inputs_are_allowed():
    fn = _returns(tapegrad, lambda lib, g: (g.expand(2), None, None, None, None))
    x = tapegrad.ones(2, requires_grad=True)
    fn.apply(x, tapegrad.ones(3), 2.0).backward()
    assert x.grad.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("make_grad", [
    _grad_of_shape((3,)), _grad_of_shape((2, 1)), _grad_of_shape(()), _grad_of_shape((3, 2)),
    lambda lib, g: (lib.ones(2, dtype=lib.float64), None, None),
    lambda lib, g: (1.0, None, None),
    lambda lib, g: (g.expand(2), None, g),
    lambda lib, g: (g.expand(2), None),
    lambda lib, g: (g.expand(2), None, None, None),
    lambda lib, g: (None, lib.ones(5), None),
    lambda lib, g: [g.expand(2), None, None],
    lambda lib, g: g.expand(2),
    lambda lib, g: (g.expand(2), 1.0, None),
    lambda lib, g: (g.expand(2), None, None, 1.0),
], ids=["3", "2x1", "0d", "3x2", "float64", "float", "non-tensor", "too-few", "trailing-none", "no-grad-input",
        "list", "lone-tensor", "float-for-tensor-without-grad", "too-many-not-none"])
def test_backward_results_validated_as_torch(make_grad):
    torch = _torch()
    outcomes = []
    for lib in (tapegrad, torch):
        fn = _returns(lib, make_grad)
        x = lib.ones(2, requires_grad=True)
        try:
            fn.apply(x, lib.ones(3), 1.0).backward()
            grad = x.grad
            outcomes.append(("ok", None if grad is None else (grad.tolist(), str(grad.dtype).split(".")[-1])))
        except RuntimeError as error:
            # (The first custom-Function backward of a torch process words its count error with a capital.)
            message = str(error)
            outcomes.append(("error", message[:1].lower() + message[1:]))
    assert outcomes[0] == outcomes[1]


def test_invalid_gradient_from_several_outputs():
    class Pair(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            return tapegrad.ones(3)

    x = tapegrad.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Function PairBackward returned an invalid gradient at index 0 - got "
                                           r"\[3\] but expected shape compatible with \[2\]"):
        Pair.apply(x)[1].sum().backward()


# ---------------------------------------------------------------- once_differentiable

def test_once_differentiable_runs_backward_without_grad():
    seen = []
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    _once_cube(tapegrad, seen).apply(x).sum().backward()
    assert seen == [False]
    assert_close(x.grad, [3.0, 12.0])


def test_once_differentiable_keeps_the_name_and_doc():
    backward = _once_cube(tapegrad).backward
    assert backward.__name__ == "backward" and backward.__doc__ == "The cube's backward."
    assert hasattr(backward, "__wrapped__")


def test_once_differentiable_result_cannot_be_differentiated():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = _once_cube(tapegrad).apply(x)
    v = tapegrad.ones(2, requires_grad=True)
    (g,) = tapegrad.autograd.grad(y, x, grad_outputs=v, create_graph=True)
    assert_close(g, [3.0, 12.0])
    assert g.requires_grad and g.grad_fn.name() == "Error"
    with pytest.raises(RuntimeError, match="^trying to differentiate twice a function that was marked with "
                                           "@once_differentiable$"):
        g.sum().backward()


def test_once_differentiable_without_graph_of_gradients_is_plain():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    (g,) = tapegrad.autograd.grad(_once_cube(tapegrad).apply(x).sum(), x, create_graph=True)
    assert not g.requires_grad and g.grad_fn is None  # the incoming gradient needs none
    (g,) = tapegrad.autograd.grad(_once_cube(tapegrad).apply(x), x, grad_outputs=tapegrad.ones(2,
                                                                                             requires_grad=True))
    assert not g.requires_grad


def test_once_differentiable_with_several_outputs():
    class Pair(Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * 2, x * 3

        @staticmethod
        @once_differentiable
        def backward(ctx, g1, g2):
            return g1 * 2 + g2 * 3, None

    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y1, y2 = Pair.apply(x, 1)
    (g,) = tapegrad.autograd.grad((y1 * x).sum() + (y2 * x).sum(), x, create_graph=True)
    assert_close(g, [10.0, 20.0])
    with pytest.raises(RuntimeError, match="trying to differentiate twice"):
        g.sum().backward()


def test_once_differentiable_matches_torch():
    torch = _torch()
    got = []
    for lib in (tapegrad, torch):
        seen = []
        x = lib.tensor([1.0, -2.0], requires_grad=True)
        y = _once_cube(lib, seen).apply(x)
        (g,) = lib.autograd.grad(y, x, grad_outputs=lib.ones(2, requires_grad=True), create_graph=True)
        try:
            g.sum().backward()
            error = None
        except RuntimeError as e:
            error = str(e)
        got.append((seen, g.tolist(), g.requires_grad, g.grad_fn.name().split("::")[-1], error))
    assert got[0] == got[1]


# ---------------------------------------------------------------- unchanged single-output behaviour

def test_single_output_backward_gets_exactly_the_incoming_gradient():
    received = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            received.append(g)
            return g * 2

    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = Probe.apply(x)
    seed = tapegrad.tensor([3.0, 4.0])
    y.backward(seed)
    assert len(received) == 1 and received[0].tolist() == [3.0, 4.0]
    assert np.array_equal(x.grad.numpy(), np.array([6.0, 8.0], dtype=np.float32))

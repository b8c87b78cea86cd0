"""Custom ``tapegrad.autograd.Function`` subclasses and ``gradcheck``."""
from __future__ import annotations

import pytest

import tapegrad
from tapegrad.autograd import Function, GradcheckError, gradcheck
from autograd_helpers import assert_close


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2


class ScaledMul(Function):
    """out = scale * a * b, with ``scale`` a plain Python number."""

    @staticmethod
    def forward(ctx, a, b, scale):
        ctx.save_for_backward(a, b)
        ctx.scale = scale
        return a * b * scale

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        ScaledMul.last_needs = ctx.needs_input_grad
        grad_a = grad * b * ctx.scale if ctx.needs_input_grad[0] else None
        grad_b = grad * a * ctx.scale if ctx.needs_input_grad[1] else None
        return grad_a, grad_b, None


class WrongDerivative(Function):
    """exp with a deliberately wrong backward (the derivative of exp is not 2 * exp)."""

    @staticmethod
    def forward(ctx, x):
        out = x.exp()
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * 2


class TooManyGrads(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2, grad


class TooFewGrads(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a * b

    @staticmethod
    def backward(ctx, grad):
        return grad


def test_docstring_cube():
    x = tapegrad.tensor(2.0, requires_grad=True)
    Cube.apply(x).backward()
    assert_close(x.grad, 12.0)


def test_custom_function_grad_fn_and_result():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = Cube.apply(x)
    assert_close(y, [1.0, 8.0])
    assert y.requires_grad and not y.is_leaf
    assert y.grad_fn.name() == "CubeBackward"
    ((acc, _),) = y.grad_fn.next_functions
    assert acc.variable is x


def test_custom_function_forward_is_not_recorded_inside():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, t):
            seen["enabled"] = tapegrad.is_grad_enabled()
            return t * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    Probe.apply(x)
    assert seen["enabled"] is False


def test_custom_function_matches_torch():
    data = [0.5, -1.5, 2.0]
    x = tapegrad.tensor(data, requires_grad=True)
    (Cube.apply(x) * tapegrad.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert_close(x.grad, [0.75, 13.5, 36.0])

    torch = pytest.importorskip("torch")

    class TorchCube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 3 * x ** 2

    tx = torch.tensor(data, requires_grad=True)
    (TorchCube.apply(tx) * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert_close(x.grad, tx.grad)


def test_non_tensor_argument_and_needs_input_grad():
    a = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    b = tapegrad.tensor([3.0, 4.0])
    out = ScaledMul.apply(a, b, 0.5)
    assert_close(out, [1.5, 4.0])
    out.sum().backward()
    assert_close(a.grad, [1.5, 2.0])
    assert b.grad is None
    assert ScaledMul.last_needs == (True, False, False)


def test_needs_input_grad_both_tensors():
    a = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    b = tapegrad.tensor([3.0, 4.0], requires_grad=True)
    ScaledMul.apply(a, b, 2.0).sum().backward()
    assert ScaledMul.last_needs == (True, True, False)
    assert_close(a.grad, [6.0, 8.0])
    assert_close(b.grad, [2.0, 4.0])


def test_saved_tensors_inside_backward_are_version_checked():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    y = Cube.apply(h)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_custom_function_saved_tensors_freed_after_backward():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = Cube.apply(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()


def test_custom_function_without_grad_returns_plain_tensor():
    x = tapegrad.tensor([1.0, 2.0])
    y = Cube.apply(x)
    assert not y.requires_grad and y.grad_fn is None
    assert_close(y, [1.0, 8.0])


def test_wrong_number_of_returned_grads_raises():
    x = tapegrad.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        TooManyGrads.apply(x).sum().backward()

    torch = pytest.importorskip("torch")

    class TorchTooMany(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2, grad

    tx = torch.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        TorchTooMany.apply(tx).sum().backward()


def test_too_few_returned_grads_raises():
    a = tapegrad.tensor([1.0], requires_grad=True)
    b = tapegrad.tensor([2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        TooFewGrads.apply(a, b).sum().backward()


def test_gradcheck_on_custom_function():
    x = tapegrad.tensor([0.3, -1.2, 2.0], dtype=tapegrad.float64, requires_grad=True)
    assert gradcheck(Cube.apply, (x,))
    a = tapegrad.tensor([0.3, -1.2], dtype=tapegrad.float64, requires_grad=True)
    b = tapegrad.tensor([1.1, 0.4], dtype=tapegrad.float64, requires_grad=True)
    assert gradcheck(lambda p, q: ScaledMul.apply(p, q, 1.5), (a, b))


def test_second_order_through_custom_function_backward():
    x = tapegrad.tensor(2.0, dtype=tapegrad.float64, requires_grad=True)
    (g,) = tapegrad.autograd.grad(Cube.apply(x), x, create_graph=True)
    assert_close(g, 12.0)
    (gg,) = tapegrad.autograd.grad(g, x)
    assert_close(gg, 12.0)


# ---------------------------------------------------------------- gradcheck itself

@pytest.mark.parametrize("fn", [
    lambda t: (t * t).sum(),
    lambda t: t.sin() * t.exp(),
    lambda t: t.tanh() / (1 + t * t),
    lambda t: (t.reshape(2, 2) @ t.reshape(2, 2)).sum(0),
    lambda t: t.sigmoid().log(),
], ids=["square-sum", "sin-exp", "tanh-div", "matmul", "log-sigmoid"])
def test_gradcheck_true_for_correct_functions(fn):
    x = tapegrad.tensor([0.3, -0.7, 1.1, 0.2], dtype=tapegrad.float64, requires_grad=True)
    assert gradcheck(fn, (x,)) is True


def test_gradcheck_with_two_inputs():
    a = tapegrad.tensor([[0.3, -0.7], [1.1, 0.2]], dtype=tapegrad.float64, requires_grad=True)
    b = tapegrad.tensor([0.5, -0.25], dtype=tapegrad.float64, requires_grad=True)
    assert gradcheck(lambda p, q: (p * q).exp(), (a, b))


def test_gradcheck_raises_for_wrong_backward():
    x = tapegrad.tensor([0.3, -0.7], dtype=tapegrad.float64, requires_grad=True)
    with pytest.raises(GradcheckError):
        gradcheck(WrongDerivative.apply, (x,))


def test_gradcheck_error_is_a_runtime_error():
    assert issubclass(GradcheckError, RuntimeError)


def test_gradcheck_returns_false_without_raising():
    x = tapegrad.tensor([0.3, -0.7], dtype=tapegrad.float64, requires_grad=True)
    assert gradcheck(WrongDerivative.apply, (x,), raise_exception=False) is False


def test_gradcheck_wrong_backward_also_caught_by_torch():
    torch = pytest.importorskip("torch")

    class TorchWrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            out = x.exp()
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, grad):
            (out,) = ctx.saved_tensors
            return grad * out * 2

    tx = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(TorchWrong.apply, (tx,), raise_exception=False) is False
    x = tapegrad.tensor([0.3, -0.7], dtype=tapegrad.float64, requires_grad=True)
    assert gradcheck(WrongDerivative.apply, (x,), raise_exception=False) is False


def test_gradcheck_leaves_inputs_unchanged():
    x = tapegrad.tensor([0.3, -0.7], dtype=tapegrad.float64, requires_grad=True)
    gradcheck(lambda t: t.exp(), (x,))
    assert x.tolist() == [0.3, -0.7]
    assert x.grad is None


def test_gradcheck_warns_for_single_precision_inputs():
    x = tapegrad.tensor([0.3, -0.7], requires_grad=True)
    with pytest.warns(UserWarning, match="double precision"):
        gradcheck(lambda t: t * 2, (x,), atol=1e-2, rtol=1e-2)

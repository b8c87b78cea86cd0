"""``create_graph=True`` and ``tapegrad.autograd.grad``: higher derivatives and its options."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad
from tapegrad.autograd import grad
from autograd_helpers import assert_close


def _derivatives(f, x0, order, dtype=tapegrad.float64):
    """[f'(x0), f''(x0), ...] up to ``order`` via repeated autograd.grad with create_graph."""
    x = tapegrad.tensor(x0, dtype=dtype, requires_grad=True)
    y = f(x)
    found = []
    for _ in range(order):
        (y,) = grad(y.sum() if y.ndim else y, x, create_graph=True)
        found.append(y)
    return found


def test_third_derivative_of_cube():
    d1, d2, d3 = _derivatives(lambda x: x ** 3, 2.0, 3)
    assert_close(d1, 12.0)
    assert_close(d2, 12.0)
    assert_close(d3, 6.0)


def test_docstring_example_second_derivative():
    x = tapegrad.tensor(3.0, requires_grad=True)
    (g,) = grad(x ** 3, x, create_graph=True)
    (gg,) = grad(g, x)
    assert_close(g, 27.0)
    assert_close(gg, 18.0)
    assert gg.grad_fn is None and not gg.requires_grad


def test_sin_derivatives():
    x0 = 0.7
    d1, d2, d3 = _derivatives(tapegrad.sin, x0, 3)
    assert_close(d1, math.cos(x0))
    assert_close(d2, -math.sin(x0))
    assert_close(d3, -math.cos(x0))


def test_tanh_derivatives():
    x0 = 0.3
    t = math.tanh(x0)
    d1, d2, d3 = _derivatives(tapegrad.tanh, x0, 3)
    assert_close(d1, 1 - t * t)
    assert_close(d2, -2 * t * (1 - t * t))
    assert_close(d3, (1 - t * t) * (6 * t * t - 2), rtol=1e-6)


def test_exp_derivatives():
    d1, d2, d3 = _derivatives(tapegrad.exp, 1.3, 3)
    for d in (d1, d2, d3):
        assert_close(d, math.exp(1.3))


def test_vector_second_derivative_matches_torch():
    data = [0.1, -0.4, 1.2]

    def f(lib, x):
        return (lib.sin(x) * x ** 2 + lib.exp(x) * lib.tanh(x)).sum()

    x = tapegrad.tensor(data, dtype=tapegrad.float64, requires_grad=True)
    (g,) = grad(f(tapegrad, x), x, create_graph=True)
    (h,) = grad(g.sum(), x)

    torch = pytest.importorskip("torch")
    tx = torch.tensor(data, dtype=torch.float64, requires_grad=True)
    (tg,) = torch.autograd.grad(f(torch, tx), tx, create_graph=True)
    (th,) = torch.autograd.grad(tg.sum(), tx)
    assert_close(g, tg, rtol=1e-10)
    assert_close(h, th, rtol=1e-10)


def _mlp(lib, x, w1, b1, w2):
    return (lib.tanh(x @ w1 + b1) @ w2).sum()


def test_small_mlp_input_hessian_vector_product():
    rng = np.random.default_rng(1)
    xs, w1s, b1s, w2s = (rng.standard_normal(s) for s in [(2, 3), (3, 4), (4,), (4, 1)])
    v = rng.standard_normal((2, 3))

    x = tapegrad.tensor(xs, requires_grad=True)
    w1, b1, w2 = (tapegrad.tensor(a, requires_grad=True) for a in (w1s, b1s, w2s))
    (gx,) = grad(_mlp(tapegrad, x, w1, b1, w2), x, create_graph=True)
    hv_x, hv_w1 = grad((gx * tapegrad.tensor(v)).sum(), [x, w1])

    torch = pytest.importorskip("torch")
    tx = torch.tensor(xs, requires_grad=True)
    tw1, tb1, tw2 = (torch.tensor(a, requires_grad=True) for a in (w1s, b1s, w2s))
    (tgx,) = torch.autograd.grad(_mlp(torch, tx, tw1, tb1, tw2), tx, create_graph=True)
    thv_x, thv_w1 = torch.autograd.grad((tgx * torch.tensor(v)).sum(), [tx, tw1])

    assert_close(gx, tgx, rtol=1e-10)
    assert_close(hv_x, thv_x, rtol=1e-9, atol=1e-12)
    assert_close(hv_w1, thv_w1, rtol=1e-9, atol=1e-12)


def test_small_mlp_first_derivative_without_torch():
    x = tapegrad.tensor([[1.0, 2.0]], dtype=tapegrad.float64, requires_grad=True)
    w1 = tapegrad.tensor([[0.5], [-0.25]], dtype=tapegrad.float64, requires_grad=True)
    b1 = tapegrad.tensor([0.1], dtype=tapegrad.float64, requires_grad=True)
    w2 = tapegrad.tensor([[2.0]], dtype=tapegrad.float64, requires_grad=True)
    out = _mlp(tapegrad, x, w1, b1, w2)
    (gx, gb1) = grad(out, [x, b1], create_graph=True)
    pre = 1 * 0.5 + 2 * -0.25 + 0.1
    sech2 = 1 - math.tanh(pre) ** 2
    assert_close(gb1, [2 * sech2])
    assert_close(gx, [[2 * sech2 * 0.5, 2 * sech2 * -0.25]])
    # d/db1 of (d out / d b1) = 2 * d(sech^2)/dpre = -4 tanh sech^2
    (ggb1,) = grad(gb1.sum(), b1)
    assert_close(ggb1, [-4 * math.tanh(pre) * sech2])


def test_create_graph_backward_gives_differentiable_grad():
    x = tapegrad.tensor(2.0, requires_grad=True)
    (x ** 3).backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    assert_close(g, 12.0)
    (gg,) = grad(g, x)
    assert_close(gg, 12.0)


def test_grad_does_not_accumulate_into_leaves():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    (g,) = grad((x * x).sum(), x)
    assert_close(g, [2.0, 4.0])
    assert x.grad is None


def test_grad_result_without_create_graph_does_not_require_grad():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    (g,) = grad((x * x).sum(), x)
    assert not g.requires_grad


def test_grad_with_respect_to_non_leaf():
    x = tapegrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 2
    y = (h ** 2).sum()
    gh, gx = grad(y, [h, x])
    assert_close(gh, [4.0, 8.0, 12.0])
    assert_close(gx, [8.0, 16.0, 24.0])

    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    th = tx * 2
    tgh, tgx = torch.autograd.grad((th ** 2).sum(), [th, tx])
    assert_close(gh, tgh)
    assert_close(gx, tgx)


def test_grad_with_respect_to_non_leaf_used_twice():
    x = tapegrad.tensor(1.5, requires_grad=True)
    h = x.exp()
    y = h * h + h
    (gh,) = grad(y, h)
    assert_close(gh, 2 * math.exp(1.5) + 1, rtol=1e-6)


def test_grad_outputs_for_non_scalar_output():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    (g,) = grad(x * x, x, grad_outputs=tapegrad.tensor([1.0, -1.0]))
    assert_close(g, [2.0, -4.0])


def test_grad_without_grad_outputs_for_non_scalar_raises():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        grad(x * x, x)


def test_grad_frees_the_graph_unless_retained():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    grad(y, x, retain_graph=True)
    (g,) = grad(y, x)
    assert_close(g, [2.0, 4.0])
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        grad(y, x)


def test_unused_input_raises_unless_allow_unused():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    unused = tapegrad.tensor([3.0], requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        grad(y, [x, unused], retain_graph=True)
    gx, gu = grad(y, [x, unused], allow_unused=True)
    assert_close(gx, [2.0, 4.0])
    assert gu is None

    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    tu = torch.tensor([3.0], requires_grad=True)
    ty = (tx * tx).sum()
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        torch.autograd.grad(ty, [tx, tu], retain_graph=True)


def test_materialize_grads_gives_zeros_for_unused_inputs():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    unused = tapegrad.tensor([[3.0, 4.0]], dtype=tapegrad.float64, requires_grad=True)
    gx, gu = grad((x * 3).sum(), [x, unused], materialize_grads=True)
    assert_close(gx, [3.0, 3.0])
    assert_close(gu, [[0.0, 0.0]])
    assert gu.dtype is tapegrad.float64


def test_grad_input_that_does_not_require_grad_raises():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    c = tapegrad.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        grad((x * c).sum(), c)


def test_second_derivative_through_backward_of_mul_two_inputs():
    a = tapegrad.tensor(2.0, dtype=tapegrad.float64, requires_grad=True)
    b = tapegrad.tensor(5.0, dtype=tapegrad.float64, requires_grad=True)
    y = a * a * b
    ga, gb = grad(y, [a, b], create_graph=True)
    assert_close(ga, 20.0)
    assert_close(gb, 4.0)
    (gab,) = grad(ga, b)
    assert_close(gab, 4.0)
    (gba,) = grad(gb, a)
    assert_close(gba, 4.0)


def test_gradgradcheck_on_smooth_function():
    x = tapegrad.tensor([0.3, -0.2, 0.9], dtype=tapegrad.float64, requires_grad=True)
    assert tapegrad.autograd.gradgradcheck(lambda t: (t.sin() * t.exp()).sum(), (x,))

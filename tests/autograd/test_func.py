"""``tapegrad.func`` (PyTorch's ``torch.func``): grad, grad_and_value, vjp, jvp, jacrev,
jacfwd, hessian, vmap, functional_call and stack_module_state, against closed forms and finite
differences in float64, against ``torch.func`` where torch is installed, and their errors."""
from __future__ import annotations

import doctest
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest

import tapegrad
import tapegrad.func as func


def arrays(*shapes: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


def t64(array: Any, requires_grad: bool = False) -> tapegrad.Tensor:
    return tapegrad.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def to_numpy(value: Any) -> np.ndarray:
    return np.array(value.detach().numpy())


def close(got: Any, want: Any, rtol: float = 1e-9, atol: float = 1e-9) -> None:
    want = to_numpy(want) if hasattr(want, "detach") else np.asarray(want)
    got_array = to_numpy(got)
    assert got_array.shape == want.shape, f"shape {got_array.shape} != {want.shape}"
    np.testing.assert_allclose(got_array, want, rtol=rtol, atol=atol)


def same_structure(got: Any, want: Any, rtol: float = 1e-6, atol: float = 1e-6) -> None:
    """``got`` (tapegrad) and ``want`` (torch) are the same pytree of equal tensors."""
    if isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want)
        for g, w in zip(got, want):
            same_structure(g, w, rtol, atol)
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want)
        for key in want:
            same_structure(got[key], want[key], rtol, atol)
    else:
        assert isinstance(got, tapegrad.Tensor), type(got)
        assert tuple(got.shape) == tuple(want.shape)
        assert got.requires_grad == want.requires_grad
        np.testing.assert_allclose(to_numpy(got), want.detach().numpy(), rtol=rtol, atol=atol)


def numeric_jacobian(fn: Callable[..., Any], inputs: list[np.ndarray], which: int = 0,
                     eps: float = 1e-6) -> np.ndarray:
    """d fn / d inputs[which] by central differences, of shape ``out.shape + input.shape``."""
    def value(arrays_: list[np.ndarray]) -> np.ndarray:
        return to_numpy(fn(*[t64(a) for a in arrays_]))

    out_shape = value(inputs).shape
    x = inputs[which]
    jac = np.zeros(out_shape + x.shape)
    for index in np.ndindex(x.shape):
        up = [a.copy() for a in inputs]
        down = [a.copy() for a in inputs]
        up[which][index] += eps
        down[which][index] -= eps
        jac[(Ellipsis,) + index] = (value(up) - value(down)) / (2 * eps)
    return jac


def mlp_loss(m: Any) -> Callable[..., Any]:
    """A small two-layer network's squared error, written once for tapegrad and torch."""
    def loss(w1: Any, b1: Any, w2: Any, x: Any, y: Any) -> Any:
        hidden = (x @ w1 + b1).tanh()
        return ((hidden @ w2 - y) ** 2).sum()

    return loss


# --------------------------------------------------------------------------- grad

def test_grad_matches_closed_form_and_finite_differences() -> None:
    (a,) = arrays((5,))
    f = lambda x: (x.sin() * x).sum()  # noqa: E731
    got = func.grad(f)(t64(a))
    close(got, np.sin(a) + a * np.cos(a))
    close(got, numeric_jacobian(f, [a]), rtol=1e-6, atol=1e-8)
    assert not got.requires_grad and got.grad_fn is None


def test_grad_argnums_tuple_negative_and_kwargs() -> None:
    a, b = arrays((3,), (3,))
    def f(x: Any, y: Any, scale: float = 1.0) -> Any:
        return (x * y.exp()).sum() * scale

    gx, gy = func.grad(f, argnums=(0, 1))(t64(a), t64(b), scale=2.0)
    close(gx, 2 * np.exp(b))
    close(gy, 2 * a * np.exp(b))
    close(func.grad(f, argnums=-2)(t64(a), t64(b)), np.exp(b))
    close(func.grad(f, argnums=1)(t64(a), t64(b)), numeric_jacobian(f, [a, b], which=1), rtol=1e-6)


def test_grad_has_aux_and_grad_and_value() -> None:
    (a,) = arrays((4,))
    def f(x: Any) -> Any:
        y = x ** 2
        return y.sum(), {"squares": y, "pair": (x, x * 3)}

    g, aux = func.grad(f, has_aux=True)(t64(a))
    close(g, 2 * a)
    assert list(aux) == ["squares", "pair"] and isinstance(aux["pair"], tuple)
    close(aux["squares"], a ** 2)
    close(aux["pair"][1], 3 * a)
    assert not aux["squares"].requires_grad and not aux["pair"][0].requires_grad

    g, (value, aux) = func.grad_and_value(f, has_aux=True)(t64(a))
    close(g, 2 * a)
    close(value, (a ** 2).sum())
    assert value.dim() == 0 and not value.requires_grad
    g, value = func.grad_and_value(lambda x: (x ** 3).sum())(t64(a))
    close(g, 3 * a ** 2)
    close(value, (a ** 3).sum())


def test_grad_of_a_pytree_argument() -> None:
    w, b, x = arrays((3, 2), (2,), (4, 3))
    params = {"w": t64(w), "b": t64(b)}
    def loss(p: dict[str, Any], inputs: Any) -> Any:
        return (inputs @ p["w"] + p["b"]).sum()

    grads = func.grad(loss)(params, t64(x))
    assert list(grads) == ["w", "b"]
    close(grads["w"], np.tile(x.sum(0)[:, None], (1, 2)))
    close(grads["b"], np.full(2, 4.0))
    gp, gx = func.grad(loss, argnums=(0, 1))(params, t64(x))
    assert isinstance(gp, dict)
    close(gx, np.tile(w.sum(1), (4, 1)))


def test_nested_grad_gives_higher_derivatives() -> None:
    (a,) = arrays((), seed=3)
    x = t64(a)
    close(func.grad(func.grad(tapegrad.sin))(x), -np.sin(a))
    close(func.grad(func.grad(func.grad(lambda x: x ** 4)))(x), 24 * a)
    second = func.grad(func.grad(lambda x: x.exp() * x))(x)
    close(second, np.exp(a) * (a + 2))
    assert not second.requires_grad


def test_nested_grad_keeps_levels_apart() -> None:
    """No perturbation confusion: an inner derivative by its own variable, with the outer
    variable as a constant there."""
    x = t64(1.5)
    # d/dx [x * (d/dy x*y)] = d/dx x^2 = 2x
    close(func.grad(lambda x: x * func.grad(lambda y: x * y)(t64(0.7)))(x), 3.0)
    # d/dx [(d/dy x*y)(y=x)] = d/dx x = 1
    close(func.grad(lambda x: func.grad(lambda y: x * y)(x))(x), 1.0)
    # the same tensor passed twice gets two partials
    gx, gy = func.grad(lambda x, y: x * y ** 2, argnums=(0, 1))(x, x)
    close(gx, 2.25)
    close(gy, 4.5)


def test_caller_tensors_are_left_alone() -> None:
    a, v = arrays((3,), (3,))
    x = t64(a)
    f = lambda x: (x.sin() * x).sum()  # noqa: E731
    g = lambda x: x.sin() * x  # noqa: E731
    results = [func.grad(f)(x), func.grad_and_value(f)(x)[1], func.vjp(g, x)[1](t64(v))[0],
               func.jvp(g, (x,), (t64(v),))[1], func.jacrev(g)(x), func.jacfwd(g)(x), func.hessian(f)(x),
               func.vmap(func.grad(f))(x[None])]
    for result in results:
        assert not result.requires_grad and result.grad_fn is None
    assert x.grad is None and not x.requires_grad and x.grad_fn is None
    close(x, a)

    xr = t64(a, requires_grad=True)
    for make in (lambda: func.grad(f)(xr), lambda: func.jacrev(g)(xr), lambda: func.vjp(g, xr)[1](t64(v))[0]):
        make()
    assert xr.grad is None


def test_inputs_requiring_grad_stay_differentiable() -> None:
    """As in PyTorch, a result computed from inputs that require grad is differentiable with
    respect to them (and the transform itself writes no .grad)."""
    (a,) = arrays((3,))
    x = t64(a, requires_grad=True)
    g = func.grad(lambda x: (x ** 3).sum())(x)
    assert g.requires_grad and x.grad is None
    g.sum().backward()
    close(x.grad, 6 * a)


def test_closed_over_parameters_stay_differentiable() -> None:
    """A gradient penalty: the input-gradient of a function closing over parameters that
    require grad can be backpropagated to them; a gradient independent of them cannot."""
    a, b = arrays((3,), (3,))
    w = t64(b, requires_grad=True)
    g = func.grad(lambda x: (x * x * w).sum())(t64(a))
    assert g.requires_grad
    (g ** 2).sum().backward()  # sum (2 x w)^2 -> d/dw = 8 x^2 w
    close(w.grad, 8 * a ** 2 * b)
    independent = func.grad(lambda x: (x ** 2).sum() + (w * w).sum())(t64(a))
    assert not independent.requires_grad


def test_grad_under_no_grad_still_differentiates() -> None:
    (a,) = arrays((3,))
    with tapegrad.no_grad():
        g = func.grad(lambda x: (x ** 2).sum())(t64(a, requires_grad=True))
    close(g, 2 * a)
    assert not g.requires_grad


def test_grad_of_unused_argument_and_constant_output_is_zero() -> None:
    a, b = arrays((2,), (3,))
    close(func.grad(lambda x, y: (x ** 2).sum(), argnums=1)(t64(a), t64(b)), np.zeros(3))
    close(func.grad(lambda x: tapegrad.tensor(1.0, dtype=tapegrad.float64))(t64(a)), np.zeros(2))


def test_grad_errors() -> None:
    x = t64([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"grad_and_value\(f\)\(\*args\): Expected f\(\*args\) to return a scalar "
                                           r"Tensor, got tensor with 1 dims"):
        func.grad(lambda x: x * 2)(x)
    with pytest.raises(RuntimeError, match="got tensor with 1 dims. Maybe you wanted to use the vjp or jacrev"):
        func.grad(lambda x: x.sum(0, keepdim=True))(x)
    with pytest.raises(RuntimeError, match="Expected f\\(\\*args\\) to return a Tensor, got <class 'float'>"):
        func.grad(lambda x: 3.0)(x)
    with pytest.raises(RuntimeError, match=r"output of function f should be a tuple: \(output, aux\) if has_aux"):
        func.grad(lambda x: x.sum(), has_aux=True)(x)
    with pytest.raises(RuntimeError, match="Expected tensors, got unsupported type <class 'int'>"):
        func.grad(lambda x: (x.sum(), 3), has_aux=True)(x)
    with pytest.raises(ValueError, match="Thing passed to transform API must be Tensor, got <class 'float'>"):
        func.grad(lambda x: x)(3.0)
    with pytest.raises(RuntimeError, match="Got argnum=2, but only 1 positional inputs"):
        func.grad(lambda x: x.sum(), argnums=2)(x)
    with pytest.raises(RuntimeError, match=r"argnums elements must be unique, got \(0, 0\)"):
        func.grad(lambda x, y: x.sum(), argnums=(0, 0))(x, x)
    with pytest.raises(RuntimeError, match="argnums must be non-empty"):
        func.grad(lambda x, y: x.sum(), argnums=())(x, x)
    with pytest.raises(RuntimeError, match="argnums must be int or Tuple"):
        func.grad(lambda x, y: x.sum(), argnums=[0])(x, x)
    with pytest.raises(RuntimeError, match="floating point"):
        func.grad(lambda x: x.sum())(tapegrad.tensor([1, 2]))


# --------------------------------------------------------------------------- vjp, jvp

def test_vjp_values_structures_and_reuse() -> None:
    a, b, u, v = arrays((3,), (3,), (3,), (3,))
    out, vjp_fn = func.vjp(lambda x, y: (x * y, (x ** 2).sum()), t64(a), t64(b))
    close(out[0], a * b)
    close(out[1], (a ** 2).sum())
    assert not out[0].requires_grad
    for _ in range(2):  # the graph is retained between calls
        gx, gy = vjp_fn((t64(u), t64(2.0)))
        close(gx, u * b + 4 * a)
        close(gy, u * a)
    with pytest.raises(RuntimeError, match=r"Expected pytree structure of cotangents to be the same as pytree "
                                           r"structure of outputs to the function. cotangents: \[\*, \*\], primal "
                                           r"output: \(\*, \*\)"):
        vjp_fn([t64(u), t64(2.0)])

    out, vjp_fn, aux = func.vjp(lambda x: ({"s": x.sin()}, x.cos()), t64(a), has_aux=True)
    close(aux, np.cos(a))
    (g,) = vjp_fn({"s": t64(v)})
    close(g, v * np.cos(a))
    close(g, v @ numeric_jacobian(lambda x: x.sin(), [a]), rtol=1e-6)


def test_vjp_errors() -> None:
    x = t64([1.0, 2.0])
    with pytest.raises(RuntimeError, match="All outputs of f must be floating-point or complex Tensors"):
        func.vjp(lambda x: x.long(), x)
    with pytest.raises(RuntimeError, match="Expected f to be a function that has non-empty output"):
        func.vjp(lambda x: (), x)
    with pytest.raises(ValueError, match="Thing passed to transform API must be Tensor"):
        func.vjp(lambda x: x, 3.0)


def test_jvp_matches_finite_differences_and_closed_form() -> None:
    a, b, ta, tb = arrays((2, 3), (3,), (2, 3), (3,))
    f = lambda x, y: (x * y).tanh().sum(0)  # noqa: E731
    out, tangent = func.jvp(f, (t64(a), t64(b)), (t64(ta), t64(tb)))
    close(out, np.tanh(a * b).sum(0))
    jx = numeric_jacobian(f, [a, b], which=0)
    jy = numeric_jacobian(f, [a, b], which=1)
    want = np.tensordot(jx, ta, axes=2) + jy @ tb
    close(tangent, want, rtol=1e-6, atol=1e-8)
    assert not tangent.requires_grad

    out, tangent, aux = func.jvp(lambda x: (x ** 3, {"x2": x ** 2}), (t64(b),), (t64(tb),), has_aux=True)
    close(tangent, 3 * b ** 2 * tb)
    close(aux["x2"], b ** 2)
    out, tangent = func.jvp(lambda x: (x.sin(), x.sum()), (t64(b),), (t64(tb),))
    assert isinstance(tangent, tuple)
    close(tangent[0], np.cos(b) * tb)
    close(tangent[1], tb.sum())


def test_jvp_independent_outputs_and_errors() -> None:
    x = t64([1.0, 2.0])
    out, tangent = func.jvp(lambda x: tapegrad.ones(2, dtype=tapegrad.float64), (x,), (x,))
    close(tangent, np.zeros(2))
    with pytest.raises(RuntimeError, match="The output of f is independent of the inputs. This is not allowed with "
                                           "strict=True."):
        func.jvp(lambda x: tapegrad.ones(2), (x,), (x,), strict=True)
    with pytest.raises(RuntimeError, match="Expected primals to be a tuple"):
        func.jvp(tapegrad.sin, x, x)
    with pytest.raises(RuntimeError, match="Expected primals and tangents to have the same python structure"):
        func.jvp(tapegrad.sin, (x,), [x])
    with pytest.raises(RuntimeError, match="Expected primals to contain at least one Tensor"):
        func.jvp(tapegrad.sin, (), ())
    with pytest.raises(RuntimeError, match=r"Tensor is of size \[2\] while the given forward gradient is of size "
                                           r"\[3\]"):
        func.jvp(tapegrad.sin, (x,), (t64([1.0, 2.0, 3.0]),))


def test_jvp_composes_with_grad() -> None:
    """Forward-over-reverse: the Hessian-vector product of x -> sum(x^3) is 6 x v."""
    a, v = arrays((4,), (4,))
    _, hvp = func.jvp(func.grad(lambda x: (x ** 3).sum()), (t64(a),), (t64(v),))
    close(hvp, 6 * a * v)


# --------------------------------------------------------------------------- Jacobians

@pytest.mark.parametrize("jac", [func.jacrev, func.jacfwd], ids=["jacrev", "jacfwd"])
def test_jacobian_vector_to_vector(jac: Callable[..., Any]) -> None:
    (a,) = arrays((3,))
    f = lambda x: tapegrad.stack([x[0] * x[1], x.sin().sum(), x[2] ** 3, x[0]])  # noqa: E731
    got = jac(f)(t64(a))
    assert tuple(got.shape) == (4, 3)
    want = np.array([[a[1], a[0], 0.0], np.cos(a), [0.0, 0.0, 3 * a[2] ** 2], [1.0, 0.0, 0.0]])
    close(got, want)
    close(got, numeric_jacobian(f, [a]), rtol=1e-6, atol=1e-8)
    assert not got.requires_grad


@pytest.mark.parametrize("jac", [func.jacrev, func.jacfwd], ids=["jacrev", "jacfwd"])
def test_jacobian_shapes_multi_argument(jac: Callable[..., Any]) -> None:
    a, b = arrays((2, 3), (3, 4))
    f = lambda x, y: x @ y  # noqa: E731
    jx, jy = jac(f, argnums=(0, 1))(t64(a), t64(b))
    assert tuple(jx.shape) == (2, 4, 2, 3) and tuple(jy.shape) == (2, 4, 3, 4)
    close(jx, numeric_jacobian(f, [a, b], 0), rtol=1e-6, atol=1e-8)
    close(jy, numeric_jacobian(f, [a, b], 1), rtol=1e-6, atol=1e-8)
    only_y = jac(f, argnums=1)(t64(a), t64(b))
    close(only_y, jy)
    # scalar output, several outputs, has_aux
    close(jac(lambda x: (x ** 2).sum())(t64(a)), 2 * a)
    (j1, j2), aux = jac(lambda x: ((x * 2, x.sum()), x.exp()), has_aux=True)(t64(b[0]))
    assert tuple(j1.shape) == (4, 4) and tuple(j2.shape) == (4,)
    close(j1, 2 * np.eye(4))
    close(j2, np.ones(4))
    close(aux, np.exp(b[0]))


def test_jacobian_of_empty_output_and_output_without_history() -> None:
    x = t64([1.0, 2.0])
    assert tuple(func.jacrev(lambda x: x[:0])(x).shape) == (0, 2)
    close(func.jacrev(lambda x: tapegrad.ones(3, dtype=tapegrad.float64))(x), np.zeros((3, 2)))


def test_jacobian_errors_and_randomness() -> None:
    x = t64([1.0, 2.0])
    with pytest.raises(ValueError, match="jacrev: `chunk_size` should be greater than 0."):
        func.jacrev(lambda x: x, chunk_size=0)
    with pytest.raises(RuntimeError, match="All outputs of f must be floating-point"):
        func.jacrev(lambda x: x.long())(x)
    with pytest.raises(RuntimeError, match=r"vjp\(f, \*primals\): expected f\(\*primals\) to return only tensors"):
        func.jacrev(lambda x: 3.0)(x)
    with pytest.raises(RuntimeError, match=r"jvp\(f, primals, tangents\): output of function f should be a tuple"):
        func.jacfwd(lambda x: x, has_aux=True)(x)
    with pytest.raises(RuntimeError, match="called random operation while in randomness error mode"):
        func.jacfwd(lambda x: x * tapegrad.rand(2))(x)
    with pytest.raises(RuntimeError, match="Only allowed values for randomness are"):
        func.jacfwd(lambda x: x, randomness="sometimes")(x)
    assert tuple(func.jacfwd(lambda x: x * tapegrad.rand(2), randomness="different")(x).shape) == (2, 2)
    assert tuple(func.jacrev(lambda x: x * tapegrad.rand(2))(x).shape) == (2, 2)


def test_hessian_closed_form_and_shapes() -> None:
    a, b = arrays((3,), (2,))
    f = lambda x: (x ** 3).sum() + x[0] * x[1]  # noqa: E731
    h = func.hessian(f)(t64(a))
    want = np.diag(6 * a)
    want[0, 1] = want[1, 0] = 1.0
    close(h, want)
    close(func.jacrev(func.jacrev(f))(t64(a)), want)
    close(func.jacfwd(func.jacfwd(f))(t64(a)), want)
    (hxx, hxy), (hyx, hyy) = func.hessian(lambda x, y: (x[:2] * y).sum() * x.sum(), argnums=(0, 1))(t64(a), t64(b))
    assert [tuple(t.shape) for t in (hxx, hxy, hyx, hyy)] == [(3, 3), (3, 2), (2, 3), (2, 2)]
    close(hyy, np.zeros((2, 2)))
    close(hxy, hyx.T)
    matrix = func.hessian(lambda m: (m ** 2).prod())(t64(np.ones((2, 2)) * 1.5))
    assert tuple(matrix.shape) == (2, 2, 2, 2)


# --------------------------------------------------------------------------- vmap

def test_vmap_in_dims_int_none_negative_and_tuple() -> None:
    x, y, z = arrays((4, 3), (3,), (3, 4))
    dot = lambda a, b: (a * b).sum()  # noqa: E731
    close(func.vmap(dot, in_dims=(0, None))(t64(x), t64(y)), x @ y)
    close(func.vmap(dot, in_dims=(0, 1))(t64(x), t64(z)), (x * z.T).sum(1))
    close(func.vmap(dot, in_dims=(-2, -1))(t64(x), t64(z)), (x * z.T).sum(1))
    close(func.vmap(dot, in_dims=1)(t64(z), t64(z)), (z * z).sum(0))
    close(func.vmap(lambda a, s=1.0: a * s)(t64(x), s=t64(y)), x * y)  # kwargs are not mapped
    # pytree inputs with a nested in_dims
    out = func.vmap(lambda d: d["a"] @ d["b"][0], in_dims=({"a": 0, "b": [None]},))({"a": t64(x), "b": [t64(y)]})
    close(out, x @ y)
    out = func.vmap(lambda pair: pair[0] + pair[1], in_dims=((0, 1),))((t64(x), t64(z)))
    close(out, x + z.T)


def test_vmap_out_dims_and_pytree_outputs() -> None:
    x, y = arrays((4, 3), (3,))
    close(func.vmap(lambda a: a * 2, out_dims=1)(t64(x)), (2 * x).T)
    close(func.vmap(lambda a: a * 2, out_dims=-1)(t64(x)), (2 * x).T)
    first, second = func.vmap(lambda a: (a, a.sum()), out_dims=(1, 0))(t64(x))
    close(first, x.T)
    close(second, x.sum(1))
    out = func.vmap(lambda a: {"double": [a * 2], "sum": a.sum()})(t64(x))
    assert list(out) == ["double", "sum"] and isinstance(out["double"], list)
    close(out["double"][0], 2 * x)
    # out_dims None: an unbatched output (or a plain value) is returned once
    mapped, constant, number = func.vmap(lambda a: (a, t64(y) * 2, 3), out_dims=(0, None, None))(t64(x))
    close(constant, 2 * y)
    assert number == 3
    with pytest.raises(ValueError, match="can not return a BatchedTensor when out_dim is None"):
        func.vmap(lambda a: a, out_dims=None)(t64(x))
    with pytest.raises(IndexError, match="Dimension out of range"):
        func.vmap(lambda a: a, out_dims=5)(t64(x))


def test_nested_vmap() -> None:
    x, y = arrays((2, 3, 4), (5, 4))
    close(func.vmap(func.vmap(lambda a: a.sum()))(t64(x)), x.sum(2))
    # an outer product of rows: the inner map over y, the outer over x's rows
    outer = func.vmap(func.vmap(lambda a, b: (a * b).sum(), in_dims=(None, 0)), in_dims=(0, None))
    close(outer(t64(x[0]), t64(y)), x[0] @ y.T)
    close(func.vmap(func.vmap(lambda a: a * 2, in_dims=1), in_dims=2)(t64(x)), np.transpose(2 * x, (2, 1, 0)))


def test_vmap_grad_gives_per_sample_gradients() -> None:
    w1, b1, w2, xs, ys = arrays((3, 5), (5,), (5, 2), (6, 3), (6, 2))
    loss = mlp_loss(tapegrad)
    params = (t64(w1), t64(b1), t64(w2))
    per_sample = func.vmap(func.grad(loss, argnums=(0, 1, 2)), in_dims=(None, None, None, 0, 0))(
        *params, t64(xs), t64(ys))
    assert [tuple(g.shape) for g in per_sample] == [(6, 3, 5), (6, 5), (6, 5, 2)]
    for i in range(6):
        leaves = [t64(p, requires_grad=True) for p in (w1, b1, w2)]
        want = tapegrad.autograd.grad(loss(*leaves, t64(xs[i]), t64(ys[i])), leaves)
        for got, expected in zip(per_sample, want):
            close(got[i], expected)
    # summed over samples, the per-sample gradients are the batch gradient
    batch = func.grad(loss, argnums=(0, 1, 2))(*params, t64(xs), t64(ys))
    for got, expected in zip(per_sample, batch):
        close(got.sum(0), expected)
    for p in params:
        assert p.grad is None and not p.requires_grad


def test_grad_through_vmap_and_jacobian_of_vmap() -> None:
    (x,) = arrays((4, 3))
    g = func.grad(lambda a: func.vmap(lambda row: row.sin().sum())(a).sum())(t64(x))
    close(g, np.cos(x))
    jac = func.jacrev(func.vmap(lambda row: row ** 2))(t64(x))
    assert tuple(jac.shape) == (4, 3, 4, 3)
    close(jac, numeric_jacobian(func.vmap(lambda row: row ** 2), [x]), rtol=1e-6, atol=1e-8)
    per_row_jacobians = func.vmap(func.jacrev(lambda row: row.sin()))(t64(x))
    close(per_row_jacobians, np.stack([np.diag(np.cos(r)) for r in x]))


def test_vmap_empty_batch() -> None:
    out = func.vmap(lambda a: a.sum(0))(tapegrad.zeros(0, 3, 2))
    assert tuple(out.shape) == (0, 2)
    assert tuple(func.vmap(lambda a: a, out_dims=1)(tapegrad.zeros(0, 3)).shape) == (3, 0)


def test_vmap_errors() -> None:
    x = t64(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"vmap: Expected all tensors to have the same size in the mapped dimension, "
                                         r"got sizes \[2, 4\] for the mapped dimension"):
        func.vmap(tapegrad.add)(x, t64(np.ones((4, 3))))
    with pytest.raises(ValueError, match=r"Got in_dim=2 for some input, but that input is a Tensor of "
                                         r"dimensionality 2 so expected in_dim to satisfy -2 <= in_dim < 2."):
        func.vmap(tapegrad.sin, in_dims=2)(x)
    with pytest.raises(ValueError, match="expected in_dim to satisfy -0 <= in_dim < 0"):
        func.vmap(tapegrad.sin)(tapegrad.tensor(1.0))
    with pytest.raises(ValueError, match="vmap: Expected at least one Tensor to vmap over"):
        func.vmap(tapegrad.sin, in_dims=(None,))(x)
    with pytest.raises(ValueError, match=r"vmap\(sin, in_dims=None, \.\.\.\)\(<inputs>\): expected `in_dims` to be "
                                         r"int or a \(potentially nested\) tuple"):
        func.vmap(tapegrad.sin, in_dims=None)(x)
    with pytest.raises(ValueError, match=r"in_dims is not compatible with the structure of `inputs`. in_dims has "
                                         r"structure TreeSpec\(tuple, None, \[\*\]\) but inputs has structure "
                                         r"TreeSpec\(tuple, None, \[\*,\n  \*\]\)"):
        func.vmap(tapegrad.add, in_dims=(0,))(x, x)
    with pytest.raises(ValueError, match="We cannot vmap over non-Tensor arguments, please use None"):
        func.vmap(lambda a, b: a * b)(x, 3.0)
    with pytest.raises(ValueError, match="in_dim must be either an integer dimension or None"):
        func.vmap(tapegrad.sin, in_dims=(1.0,))(x)
    with pytest.raises(ValueError, match=r"must only return Tensors, got type <class 'float'>. Did you mean to set "
                                         r"out_dims= to None for output\?"):
        func.vmap(lambda a: 3.0)(x)
    with pytest.raises(ValueError, match="got no inputs"):
        func.vmap(lambda: tapegrad.ones(2))()
    with pytest.raises(ValueError, match="out_dims is not compatible with the structure of `outputs`"):
        func.vmap(lambda a: a, out_dims=(0, 1))(x)
    with pytest.raises(ValueError, match="`out_dims` must be an int, None or a python collection of ints"):
        func.vmap(lambda a: a, out_dims="a")(x)
    with pytest.raises(ValueError, match=r"vmap: chunk_size should be None or greater than 0. \(got 0\)"):
        func.vmap(tapegrad.sin, chunk_size=0)
    with pytest.raises(RuntimeError, match="Only allowed values for randomness are 'error', 'different', or 'same'"):
        func.vmap(tapegrad.sin, randomness="x")


def test_vmap_randomness() -> None:
    x = tapegrad.zeros(3, 2)
    state = tapegrad.get_rng_state()
    with pytest.raises(RuntimeError, match="vmap: called random operation while in randomness error mode"):
        func.vmap(lambda a: a + tapegrad.rand(2))(x)
    assert np.array_equal(tapegrad.get_rng_state(), state)  # the refused draw is undone
    same = func.vmap(lambda a: a + tapegrad.rand(2), randomness="same")(x)
    assert np.array_equal(to_numpy(same[0]), to_numpy(same[1])) and np.array_equal(to_numpy(same[0]), to_numpy(same[2]))
    different = func.vmap(lambda a: a + tapegrad.rand(2), randomness="different")(x)
    assert not np.array_equal(to_numpy(different[0]), to_numpy(different[1]))
    assert tuple(func.vmap(tapegrad.sin, chunk_size=2)(x).shape) == (3, 2)


def test_vmap_keeps_the_function_name() -> None:
    def my_function(a: Any) -> Any:
        return a

    assert func.vmap(my_function).__name__ == "my_function"
    assert func.grad(my_function).__name__ == "my_function"
    with pytest.raises(ValueError, match=r"vmap\(functools.partial\(my_function, \.\.\.\), \.\.\.\)"):
        func.vmap(functools.partial(my_function), out_dims=None)(tapegrad.arange(6.0).reshape(2, 3))


# --------------------------------------------------------------------------- modules

def test_functional_call_with_linear() -> None:
    tapegrad.manual_seed(0)
    layer = tapegrad.nn.Linear(3, 2).double()
    w, b, x = arrays((2, 3), (2,), (4, 3))
    own_weight = to_numpy(layer.weight)
    params = {"weight": t64(w), "bias": t64(b)}
    close(func.functional_call(layer, params, (t64(x),)), x @ w.T + b)
    close(func.functional_call(layer, params, t64(x)), x @ w.T + b)
    close(func.functional_call(layer, ({"weight": t64(w)}, {"bias": t64(b)}), t64(x)), x @ w.T + b)
    close(layer.weight, own_weight)  # the module's own parameters are back

    def loss(p: dict[str, Any], inputs: Any) -> Any:
        return (func.functional_call(layer, p, (inputs,)) ** 2).sum()

    grads = func.grad(loss)(params, t64(x))
    residual = x @ w.T + b
    close(grads["weight"], 2 * residual.T @ x)
    close(grads["bias"], 2 * residual.sum(0))
    assert layer.weight.grad is None and layer.bias.grad is None

    # per-sample gradients of the module's own (detached) parameters
    detached = {k: v.detach() for k, v in layer.named_parameters()}
    per_sample = func.vmap(func.grad(loss), in_dims=(None, 0))(detached, t64(x)[:, None])
    assert tuple(per_sample["weight"].shape) == (4, 2, 3)
    close(per_sample["bias"].sum(0), func.grad(loss)(detached, t64(x))["bias"])

    with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
        func.functional_call(layer, ({"weight": t64(w)}, {"weight": t64(w)}), t64(x))
    with pytest.raises(ValueError, match="Expected all elements of parameter_and_buffer_dicts to be dictionaries"):
        func.functional_call(layer, ({"weight": t64(w)}, 3), t64(x))
    with pytest.raises(ValueError, match="Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts"):
        func.functional_call(layer, 3, t64(x))
    with pytest.raises(RuntimeError, match="Missing key"):
        func.functional_call(layer, {"weight": t64(w)}, t64(x), strict=True)


def test_stack_module_state_ensemble() -> None:
    tapegrad.manual_seed(1)
    models = [tapegrad.nn.Linear(3, 2).double() for _ in range(4)]
    params, buffers = func.stack_module_state(models)
    assert buffers == {} and tuple(params["weight"].shape) == (4, 2, 3)
    assert params["weight"].requires_grad and params["weight"].is_leaf
    (x,) = arrays((5, 3))
    out = func.vmap(lambda p, b, data: func.functional_call(models[0], (p, b), (data,)), in_dims=(0, 0, None))(
        params, buffers, t64(x))
    assert tuple(out.shape) == (4, 5, 2)
    for i, model in enumerate(models):
        close(out[i], model(t64(x)))
    with pytest.raises(RuntimeError, match="Expected at least one model, got 0."):
        func.stack_module_state([])


def test_docstring_examples() -> None:
    result = doctest.testmod(func, extraglobs={"tapegrad": tapegrad, "func": func})
    assert result.attempted >= 10 and not result.failed


# --------------------------------------------------------------------------- against torch.func

class Pair(NamedTuple):
    first: Any
    second: Any


def vjp_fn_inside_grad(m: Any, F: Any) -> Any:
    """A vjp_fn made outside, called inside grad with cotangents depending on grad's input."""
    _, vjp_fn = F.vjp(lambda z: z.sin(), m.tensor([0.5, 1.0]))
    return F.grad(lambda v: vjp_fn(v * v)[0].sum())(m.tensor([1.0, 3.0]))


PROGRAMS: dict[str, Callable[[Any, Any], Any]] = {
    "vjp_fn inside grad": vjp_fn_inside_grad,
    "grad": lambda m, F: F.grad(lambda x: (x.sin() * x).sum())(m.tensor([0.3, -1.2, 2.0])),
    "grad argnums": lambda m, F: F.grad(lambda x, y: (x * y.exp()).sum(), argnums=(1, 0))(
        m.tensor([0.3, -1.2]), m.tensor([0.5, 0.1])),
    "grad of grad": lambda m, F: F.grad(F.grad(lambda x: x.tanh() * x ** 2))(m.tensor(0.7)),
    "grad has_aux": lambda m, F: F.grad(lambda x: ((x ** 2).sum(), {"x": x * 2}), has_aux=True)(m.tensor([1.0, 2.0])),
    "grad_and_value": lambda m, F: F.grad_and_value(lambda x: (x ** 3).sum())(m.tensor([1.0, -2.0])),
    "grad requires_grad": lambda m, F: F.grad(lambda x: (x ** 3).sum())(m.tensor([1.0, -2.0], requires_grad=True)),
    "grad confusion": lambda m, F: F.grad(lambda x: F.grad(lambda y: x * y)(x) * x)(m.tensor(1.5)),
    "vjp": lambda m, F: (lambda out, fn: (out, fn((m.tensor([1.0, 2.0]), m.tensor(3.0)))))(
        *F.vjp(lambda x, y: (x * y, (x ** 2).sum()), m.tensor([0.5, -1.0]), m.tensor([2.0, 0.25]))),
    "jvp": lambda m, F: F.jvp(lambda x, y: ((x * y).sin(), x.sum()), (m.tensor([0.5, -1.0]), m.tensor([2.0, 0.2])),
                              (m.tensor([1.0, 0.5]), m.tensor([-1.0, 2.0]))),
    "jacrev dict": lambda m, F: F.jacrev(lambda d: {"o": d["a"] * d["b"], "s": d["a"].sum()})(
        {"a": m.tensor([1.0, 2.0]), "b": m.tensor([[3.0], [4.0], [5.0]])}),
    "jacrev argnums": lambda m, F: F.jacrev(lambda x, y: x @ y, argnums=(0, 1))(
        m.tensor([[1.0, 2.0]]), m.tensor([[0.5, 1.0, -1.0], [2.0, 0.0, 1.0]])),
    "jacfwd aux": lambda m, F: F.jacfwd(lambda x: (x.exp(), x.sum()), has_aux=True)(m.tensor([0.1, 0.2, 0.3])),
    "jacfwd of jacrev": lambda m, F: F.jacfwd(F.jacrev(lambda x: (x ** 3).prod()))(m.tensor([1.0, 2.0, 0.5])),
    "hessian argnums": lambda m, F: F.hessian(lambda x, y: (x.sin() * y).sum(), argnums=(0, 1))(
        m.tensor([0.5, 1.5]), m.tensor([2.0, -1.0])),
    "vmap in_dims": lambda m, F: F.vmap(lambda a, b: a @ b, in_dims=(1, None))(
        m.arange(6.0).reshape(2, 3), m.tensor([1.0, -1.0])),
    "vmap namedtuple": lambda m, F: F.vmap(lambda p: Pair(p.first * 2, p.second.sum()), out_dims=Pair(1, 0))(
        Pair(m.arange(6.0).reshape(3, 2), m.ones(3, 4))),
    "vmap nested": lambda m, F: F.vmap(F.vmap(lambda a, b: a * b, in_dims=(0, None)), in_dims=(None, 0))(
        m.tensor([1.0, 2.0, 3.0]), m.tensor([10.0, 20.0])),
    "vmap grad": lambda m, F: F.vmap(F.grad(lambda w, x: ((x @ w).tanh() ** 2).sum()), in_dims=(None, 0))(
        m.tensor([[0.5, -1.0], [0.25, 2.0]]), m.tensor([[[1.0, 2.0]], [[0.0, -1.0]], [[3.0, 0.5]]])),
    "vmap out_dims None": lambda m, F: F.vmap(lambda a: (a * 2, m.ones(2) * 3), out_dims=(0, None))(m.ones(3, 2)),
}


# Importing torch.func warns about torch.jit.script in some torch versions.
TORCH_WARNINGS = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@TORCH_WARNINGS
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_against_torch_func(name: str) -> None:
    torch = pytest.importorskip("torch")
    torch_func = pytest.importorskip("torch.func")

    torch.set_default_dtype(torch.float64)
    tapegrad.set_default_dtype(tapegrad.float64)
    try:
        want = PROGRAMS[name](torch, torch_func)
        got = PROGRAMS[name](tapegrad, func)
    finally:
        torch.set_default_dtype(torch.float32)
        tapegrad.set_default_dtype(tapegrad.float32)
    same_structure(got, want, rtol=1e-10, atol=1e-12)


@TORCH_WARNINGS
def test_functional_call_against_torch() -> None:
    torch = pytest.importorskip("torch")
    torch_func = pytest.importorskip("torch.func")

    w, b, x = arrays((2, 3), (2,), (4, 3))
    results = []
    for m, F in ((torch, torch_func), (tapegrad, func)):
        layer = m.nn.Linear(3, 2).double()
        params = {"weight": m.tensor(w), "bias": m.tensor(b)}
        loss = lambda p, data: (F.functional_call(layer, p, (data,)) ** 2).sum()  # noqa: E731, B023
        results.append((F.functional_call(layer, params, m.tensor(x)), F.grad(loss)(params, m.tensor(x))))
    same_structure(results[1], results[0], rtol=1e-12, atol=1e-12)

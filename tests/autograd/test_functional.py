"""``tapegrad.autograd.functional``: vjp, jvp, jacobian, hessian, vhp and hvp against PyTorch's
(values, result structure, create_graph, strict mode and errors) and against finite
differences of the functions themselves."""
from __future__ import annotations

import doctest
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad.autograd import functional as AF


def arrays(*shapes: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


# Functions written once for either library (``m`` is tapegrad or torch).
FUNCTIONS: dict[str, Callable[..., Callable[..., Any]]] = {
    "square": lambda m: lambda x: x * x,
    "tanh matmul": lambda m: lambda x: (x @ x.mT).tanh(),
    "two inputs": lambda m: lambda a, b: a.exp() * b + a.sin(),
    "two outputs": lambda m: lambda a, b: (a * b, (a * a).sum()),
    "reduce": lambda m: lambda x: (x ** 3).sum() + x.prod(),
    "softplus pair": lambda m: lambda a, b: m.nn.functional.softplus(a @ b).sum(),
    "constant part": lambda m: lambda a, b: (a * 2.0).sum(),  # independent of b
}
SHAPES = {"square": [(3,)], "tanh matmul": [(2, 3)], "two inputs": [(2, 2), (2, 2)], "two outputs": [(3,), (3,)],
          "reduce": [(2, 2)], "softplus pair": [(2, 3), (3, 2)], "constant part": [(3,), (2,)]}
SCALAR = ["reduce", "softplus pair", "constant part"]


def inputs_for(m: Any, name: str, requires_grad: bool = False) -> Any:
    xs = tuple(m.tensor(a, requires_grad=requires_grad) for a in arrays(*SHAPES[name]))
    return xs if len(xs) > 1 else xs[0]


def to_numpy(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(to_numpy(v) for v in value)
    return value.detach().numpy()


def assert_same(got: Any, want: Any) -> None:
    assert isinstance(got, tuple) == isinstance(want, tuple)
    if isinstance(want, tuple):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert_same(g, w)
    else:
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def vector_like(m: Any, value: Any, seed: int) -> Any:
    if isinstance(value, tuple):
        return tuple(vector_like(m, v, seed + k) for k, v in enumerate(value))
    return m.tensor(arrays(tuple(value.shape), seed=seed)[0])


def run(m: Any, fn_name: str, name: str, **kwargs: Any) -> Any:
    func = FUNCTIONS[name](m)
    inputs = inputs_for(m, name)
    fn = getattr(m.autograd.functional, fn_name)
    if fn_name in ("vjp",):
        with m.no_grad():
            out = func(*(inputs if isinstance(inputs, tuple) else (inputs,)))
        return to_numpy(fn(func, inputs, vector_like(m, out, 5), **kwargs))
    if fn_name in ("jvp", "vhp", "hvp"):
        return to_numpy(fn(func, inputs, vector_like(m, inputs, 7), **kwargs))
    return to_numpy(fn(func, inputs, **kwargs))


CASES = ([("vjp", n) for n in FUNCTIONS] + [("jvp", n) for n in FUNCTIONS] + [("jacobian", n) for n in FUNCTIONS]
         + [(f, n) for f in ("hessian", "vhp", "hvp") for n in SCALAR])


@pytest.mark.torch
@pytest.mark.parametrize("fn_name, name", CASES, ids=[f"{f}-{n}" for f, n in CASES])
def test_matches_pytorch(fn_name: str, name: str) -> None:
    torch = pytest.importorskip("torch")
    torch.set_default_dtype(torch.float64)
    try:
        assert_same(run(tapegrad, fn_name, name), run(torch, fn_name, name))
    finally:
        torch.set_default_dtype(torch.float32)


def numeric_jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    columns = []
    for k in range(x.size):
        step = np.zeros(x.size)
        step[k] = eps
        columns.append((f(x + step.reshape(x.shape)) - f(x - step.reshape(x.shape))) / (2 * eps))
    return np.stack(columns, -1).reshape(np.shape(f(x)) + x.shape)


def test_jacobian_and_hessian_match_finite_differences() -> None:
    (x,) = arrays((2, 3))

    def f(a: np.ndarray) -> np.ndarray:
        return (tapegrad.tensor(a) @ tapegrad.tensor(a).mT).tanh().numpy()

    got = AF.jacobian(FUNCTIONS["tanh matmul"](tapegrad), tapegrad.tensor(x)).numpy()
    np.testing.assert_allclose(got, numeric_jacobian(f, x), rtol=1e-6, atol=1e-8)

    def grad_of_reduce(a: np.ndarray) -> np.ndarray:
        t = tapegrad.tensor(a, requires_grad=True)
        FUNCTIONS["reduce"](tapegrad)(t).backward()
        return t.grad.numpy()

    (y,) = arrays((2, 2), seed=3)
    hessian = AF.hessian(FUNCTIONS["reduce"](tapegrad), tapegrad.tensor(y)).numpy()
    np.testing.assert_allclose(hessian, numeric_jacobian(grad_of_reduce, y), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(hessian.reshape(4, 4), hessian.reshape(4, 4).T, atol=1e-12)


def test_products_agree_with_the_full_matrices() -> None:
    a, b = (tapegrad.tensor(v) for v in arrays((2, 3), (3, 2)))
    f = FUNCTIONS["softplus pair"](tapegrad)
    u, w = (tapegrad.tensor(v) for v in arrays((2, 3), (3, 2), seed=4))
    (haa, hab), (hba, hbb) = AF.hessian(f, (a, b))
    expected_a = (haa.reshape(6, 6) @ u.reshape(6) + hab.reshape(6, 6) @ w.reshape(6)).reshape(2, 3)
    _, (hv_a, hv_b) = AF.hvp(f, (a, b), (u, w))
    _, (vh_a, vh_b) = AF.vhp(f, (a, b), (u, w))
    np.testing.assert_allclose(hv_a.numpy(), expected_a.numpy(), rtol=1e-10)
    np.testing.assert_allclose(vh_a.numpy(), expected_a.numpy(), rtol=1e-10)
    g = FUNCTIONS["two inputs"](tapegrad)
    ja, jb = AF.jacobian(g, (a[:, :2], b[:2]))
    _, jv = AF.jvp(g, (a[:, :2], b[:2]), (u[:, :2], w[:2]))
    expected = ja.reshape(4, 4) @ u[:, :2].reshape(4) + jb.reshape(4, 4) @ w[:2].reshape(4)
    np.testing.assert_allclose(jv.reshape(4).numpy(), expected.numpy(), rtol=1e-10)


def test_results_are_detached_and_inputs_untouched() -> None:
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    out, product = AF.vjp(lambda a: a * a, x, tapegrad.ones(2))
    assert not out.requires_grad and not product.requires_grad and x.grad is None
    assert not AF.jacobian(lambda a: a * a, x).requires_grad


def test_create_graph_results_can_be_differentiated_again() -> None:
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    _, product = AF.vjp(lambda a: a ** 3, x, tapegrad.ones(2), create_graph=True)
    assert product.requires_grad
    product.sum().backward()  # d/dx sum(3 x^2) = 6 x
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 12.0])
    y = tapegrad.tensor([0.5, -1.0], requires_grad=True)
    hessian = AF.hessian(lambda a: (a ** 4).sum(), y, create_graph=True)
    hessian.trace().backward()  # d/dy sum(12 y^2) = 24 y
    np.testing.assert_allclose(y.grad.numpy(), [12.0, -24.0])


def test_independent_inputs_give_zeros_unless_strict() -> None:
    a, b = tapegrad.ones(3), tapegrad.ones(2)
    f = FUNCTIONS["constant part"](tapegrad)
    _, (ga, gb) = AF.vjp(f, (a, b))
    assert ga.tolist() == [2.0, 2.0, 2.0] and gb.tolist() == [0.0, 0.0]
    with pytest.raises(RuntimeError, match="independent of input 1. This is not allowed in strict mode"):
        AF.vjp(f, (a, b), strict=True)
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function is independent of input 1"):
        AF.jacobian(f, (a, b), strict=True)
    with pytest.raises(RuntimeError, match="found that the jacobian of the user-provided function with respect to "
                                           "input 0 is independent of the input"):
        AF.hessian(f, (a, b), strict=True)
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function does not require gradients"):
        AF.jvp(lambda x: tapegrad.ones(3), a, a, strict=True)


@pytest.mark.parametrize("call, error, message", [
    (lambda: AF.vjp(lambda x: 3, tapegrad.ones(2)), TypeError,
     "The outputs of the user-provided function given to vjp must be either a Tensor or a tuple of Tensors but the "
     "given outputs of the user-provided function has type <class 'int'>."),
    (lambda: AF.jvp(lambda x: x, [tapegrad.ones(2)]), TypeError,
     "The inputs given to jvp must be either a Tensor or a tuple of Tensors but the given inputs has type "
     "<class 'list'>."),
    (lambda: AF.jacobian(lambda x: x, (tapegrad.ones(2), 3)), TypeError, "the value at index 1 has type <class 'int'>"),
    (lambda: AF.vjp(lambda x: x * 2, tapegrad.ones(3)), RuntimeError,
     "The vector v can only be None if the user-provided function returns a single Tensor with a single element."),
    (lambda: AF.jvp(lambda x: x * 2, tapegrad.ones(3)), RuntimeError,
     "The vector v can only be None if the input to the user-provided function is a single Tensor"),
    (lambda: AF.vjp(lambda x: x * 2, tapegrad.ones(3), tapegrad.ones(2)), RuntimeError,
     "v has invalid size: should be tapegrad.Size([3]) but got tapegrad.Size([2])."),
    (lambda: AF.vjp(lambda x: x * 2, tapegrad.ones(3), (tapegrad.ones(3), tapegrad.ones(3))), RuntimeError,
     "The given v should contain a single Tensor."),
    (lambda: AF.jvp(lambda a, b: a * b, (tapegrad.ones(3), tapegrad.ones(3)), (tapegrad.ones(3),)), RuntimeError,
     "v is a tuple of invalid length: should be 2 but got 1."),
    (lambda: AF.hessian(lambda x: x * 2, tapegrad.ones(3)), RuntimeError,
     "The Tensor returned by the function given to hessian should contain a single element"),
    (lambda: AF.hvp(lambda x: (x.sum(), x.sum()), tapegrad.ones(3), tapegrad.ones(3)), RuntimeError,
     "The function given to hvp should return a single Tensor"),
    (lambda: AF.jacobian(lambda x: x, tapegrad.ones(2), strategy="sideways"), AssertionError,
     'Expected strategy to be either "forward-mode" or "reverse-mode"'),
    (lambda: AF.jacobian(lambda x: x, tapegrad.ones(2), strategy="forward-mode"), NotImplementedError,
     "only implemented for `vectorize=True`"),
])
def test_bad_calls_raise_as_in_pytorch(call: Callable[[], Any], error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_forward_mode_with_vectorize_gives_the_reverse_mode_numbers() -> None:
    x = tapegrad.tensor(arrays((2, 3))[0])
    f = FUNCTIONS["tanh matmul"](tapegrad)
    np.testing.assert_array_equal(AF.jacobian(f, x, vectorize=True, strategy="forward-mode").numpy(),
                                  AF.jacobian(f, x).numpy())


def test_docstring_examples() -> None:
    result = doctest.testmod(AF, extraglobs={"tapegrad": tapegrad})
    assert result.attempted >= 6 and not result.failed

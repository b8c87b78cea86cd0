"""Tensor.backward / autograd.backward: accumulation, seeds, freed graphs and ``inputs=``."""
from __future__ import annotations

import re

import numpy as np
import pytest

import tapegrad
from autograd_helpers import assert_close

SECOND_TIME = "Trying to backward through the graph a second time"


def test_gradients_accumulate_over_two_backward_calls():
    x = tapegrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    assert_close(x.grad, [2.0, 4.0, 6.0])
    (x * 3).sum().backward()
    assert_close(x.grad, [5.0, 7.0, 9.0])


def test_accumulation_keeps_the_same_grad_tensor_object():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    first = x.grad
    (x * 2).sum().backward()
    assert x.grad is first
    assert_close(first, [4.0, 4.0])


def test_leaf_used_twice_accumulates_within_one_backward():
    x = tapegrad.tensor(3.0, requires_grad=True)
    y = x * x + x * 2 + x
    y.backward()
    assert_close(x.grad, 2 * 3.0 + 3)


def test_backward_with_gradient_for_non_scalar_root():
    data = [[1.0, -2.0], [0.5, 4.0]]
    seed = [[1.0, 0.5], [-1.0, 2.0]]
    x = tapegrad.tensor(data, requires_grad=True)
    (x * x * 3).backward(tapegrad.tensor(seed))
    expected = 6 * np.array(data) * np.array(seed)
    assert_close(x.grad, expected)

    torch = pytest.importorskip("torch")
    tx = torch.tensor(data, requires_grad=True)
    (tx * tx * 3).backward(torch.tensor(seed))
    assert_close(x.grad, tx.grad)


def test_backward_gradient_without_torch():
    x = tapegrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.exp()
    y.backward(tapegrad.tensor([1.0, 0.0, 2.0]))
    assert_close(x.grad, np.array([1.0, 0.0, 2.0]) * np.exp([1.0, 2.0, 3.0]), rtol=1e-5)


def test_gradient_shape_mismatch_raises():
    x = tapegrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        y.backward(tapegrad.tensor([1.0, 2.0]))


def test_implicit_grad_only_for_scalar_outputs():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()
    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (tx * 2).backward()


def test_one_element_non_scalar_root_backward_is_allowed():
    x = tapegrad.tensor([3.0], requires_grad=True)
    (x * x).backward()
    assert_close(x.grad, [6.0])


def test_second_backward_through_freed_saved_values_raises():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=re.escape(SECOND_TIME)):
        y.backward()

    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = (tx * tx).sum()
    ty.backward()
    with pytest.raises(RuntimeError, match=re.escape(SECOND_TIME)):
        ty.backward()


@pytest.mark.parametrize("make", [
    lambda x: (x * x).sum(),
    lambda x: x.exp().sum(),
    lambda x: x.sin().sum(),
    lambda x: (x ** 3).sum(),
    lambda x: x.tanh().sum(),
    lambda x: (x / (x + 1)).sum(),
], ids=["mul", "exp", "sin", "pow", "tanh", "div"])
def test_second_backward_raises_for_ops_that_save(make):
    x = tapegrad.tensor([0.5, 1.5], requires_grad=True)
    y = make(x)
    y.backward()
    with pytest.raises(RuntimeError, match=re.escape(SECOND_TIME)):
        y.backward()


def test_second_backward_through_ops_without_saved_values_is_allowed():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = (x + 2).sum()
    y.backward()
    y.backward()
    assert_close(x.grad, [2.0, 2.0])

    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = (tx + 2).sum()
    ty.backward()
    ty.backward()
    assert_close(x.grad, tx.grad)


def test_retain_graph_allows_a_second_backward():
    x = tapegrad.tensor([3.0], requires_grad=True)
    y = x * 2 + x ** 2 + 3
    y.backward(retain_graph=True)
    assert_close(x.grad, [8.0])
    y.backward()
    assert_close(x.grad, [16.0])
    with pytest.raises(RuntimeError, match=re.escape(SECOND_TIME)):
        y.backward()


def test_backward_inputs_restricts_accumulation():
    a = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    b = tapegrad.tensor([3.0, 4.0], requires_grad=True)
    (a * b).sum().backward(inputs=[a])
    assert_close(a.grad, [3.0, 4.0])
    assert b.grad is None

    torch = pytest.importorskip("torch")
    ta = torch.tensor([1.0, 2.0], requires_grad=True)
    tb = torch.tensor([3.0, 4.0], requires_grad=True)
    (ta * tb).sum().backward(inputs=[ta])
    assert_close(a.grad, ta.grad)
    assert tb.grad is None


def test_backward_inputs_other_input():
    a = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    b = tapegrad.tensor([3.0, 4.0], requires_grad=True)
    (a * b).sum().backward(inputs=[b])
    assert a.grad is None
    assert_close(b.grad, [1.0, 2.0])


def test_autograd_backward_function_with_several_roots():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y1 = (x * 2).sum()
    y2 = (x * x).sum()
    tapegrad.autograd.backward([y1, y2])
    assert_close(x.grad, [4.0, 6.0])


def test_backward_on_tensor_that_does_not_require_grad_raises():
    x = tapegrad.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        x.sum().backward()


def test_backward_on_int_output_requires_real_scalar():
    x = tapegrad.tensor(2.0, requires_grad=True)
    y = x * 2
    y.backward(tapegrad.tensor(1.0))
    assert_close(x.grad, 2.0)


def test_grad_dtype_follows_leaf_dtype():
    x = tapegrad.tensor([1.0, 2.0], dtype=tapegrad.float64, requires_grad=True)
    (x * 2).sum().backward()
    assert x.grad.dtype is tapegrad.float64
    y = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    (y * y).sum().backward()
    assert y.grad.dtype is tapegrad.float32


def test_broadcast_gradient_reduced_to_leaf_shape():
    a = tapegrad.tensor([[1.0], [2.0]], requires_grad=True)
    b = tapegrad.tensor([10.0, 20.0, 30.0], requires_grad=True)
    (a * b).sum().backward()
    assert_close(a.grad, [[60.0], [60.0]])
    assert_close(b.grad, [3.0, 3.0, 3.0])

    torch = pytest.importorskip("torch")
    ta = torch.tensor([[1.0], [2.0]], requires_grad=True)
    tb = torch.tensor([10.0, 20.0, 30.0], requires_grad=True)
    (ta * tb).sum().backward()
    assert_close(a.grad, ta.grad)
    assert_close(b.grad, tb.grad)


def test_grad_is_not_a_view_of_the_seed():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    seed = tapegrad.tensor([1.0, 1.0])
    (x + 0).backward(seed)
    x.grad.add_(5)  # must not change the seed
    assert_close(seed, [1.0, 1.0])


def test_matmul_mean_gradient():
    tapegrad.manual_seed(0)
    x = tapegrad.randn(4, 3, requires_grad=True)
    w = tapegrad.randn(3, 2, requires_grad=True)
    out = tapegrad.mean(x @ w)
    out.backward()
    expected_x = np.tile(w.detach().numpy().sum(axis=1), (4, 1)) / 8
    assert_close(x.grad, expected_x, rtol=1e-5)

    torch = pytest.importorskip("torch")
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    tw = torch.tensor(w.detach().numpy(), requires_grad=True)
    torch.mean(tx @ tw).backward()
    assert_close(x.grad, tx.grad, rtol=1e-5)
    assert_close(w.grad, tw.grad, rtol=1e-5)


@pytest.mark.parametrize("p", [0.5, 1.5, 3.0])
def test_norm_gradient_is_zero_at_zero_components_and_zero_norms(p):
    # |x| ** (p - 2) is infinite at 0: the gradient there is PyTorch's subgradient 0, not nan.
    x = tapegrad.tensor([[0.0, 0.0], [0.0, 2.0], [1.0, -2.0]], dtype=tapegrad.float64, requires_grad=True)
    x.norm(p, 1).sum().backward()
    grad = x.grad.numpy()
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(grad[:2], [[0.0, 0.0], [0.0, 1.0]], rtol=1e-15, atol=0)
    norm = (1 + 2 ** p) ** (1 / p)
    np.testing.assert_allclose(grad[2], np.sign([1.0, -2.0]) * np.abs([1.0, -2.0]) ** (p - 1) / norm ** (p - 1))


@pytest.mark.parametrize("anomaly", [False, True])
def test_record_pair_makes_the_step_the_constructor_makes(anomaly):
    """``record_pair`` builds its Step without calling ``Step.__init__`` (a hot path): every field
    the constructor sets must be set, to the same values."""
    from tapegrad.autograd.tape import Step
    from tapegrad.ops import elementwise
    from tapegrad.ops.registry import record_pair, _saved_items

    a = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    b = tapegrad.tensor([3.0, 4.0], requires_grad=True)
    with tapegrad.autograd.set_detect_anomaly(anomaly):
        made = record_pair(elementwise.MUL, a, b, tapegrad.tensor([3.0, 8.0]), [a, b]).grad_fn
        expected = Step(elementwise.MUL, (a._grad_acc, b._grad_acc), None, made.input_meta)
    expected.saved = _saved_items(None, [a, b])
    for field in Step.__slots__:
        if field in ("__dict__", "__weakref__"):
            continue
        if field == "seq":
            assert made.seq == expected.seq - 1
        elif field == "saved":
            assert [(s.tensor, s.version) for s in made.saved] == [(s.tensor, s.version) for s in expected.saved]
        else:
            assert getattr(made, field) == getattr(expected, field), field
    assert made.__dict__.keys() == expected.__dict__.keys()
    assert ("forward_stack" in made.__dict__) == anomaly


def _inputs_results(lib):
    """``backward(inputs=...)`` in its forms, written once for tapegrad and PyTorch."""
    seen = []
    x, w = lib.ones(2, requires_grad=True), lib.ones(2, requires_grad=True)
    (x * w * 3).sum().backward(inputs=w)  # one tensor, not a list
    seen.append((x.grad, w.grad.tolist()))
    lib.autograd.backward((x * w).sum(), inputs=x)
    seen.append((x.grad.tolist(), w.grad.tolist()))
    x = lib.ones(2, requires_grad=True)
    y = x * 2
    z = (y * y).sum()
    z.backward(inputs=[y, x], retain_graph=True)  # a non-leaf input gets its .grad
    z.backward(inputs=[y])
    seen.append((x.grad.tolist(), y.grad.tolist()))
    for bad in ([], [lib.ones(2)]):
        try:
            (x * 2).sum().backward(inputs=bad)
        except RuntimeError as error:
            seen.append(str(error))
    return seen


def test_backward_inputs_a_tensor_a_non_leaf_or_nothing():
    try:
        import torch
    except ImportError:
        torch = None
    ours = _inputs_results(tapegrad)
    assert ours == [(None, [3.0, 3.0]), ([1.0, 1.0], [3.0, 3.0]), ([8.0, 8.0], [8.0, 8.0]),
                    "`inputs` argument to `backward()` cannot be empty.",
                    "can't retain_grad on Tensor that has requires_grad=False"]
    if torch is not None:
        assert _inputs_results(torch) == ours

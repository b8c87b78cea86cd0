"""``backward()`` stores a leaf's gradient without a copy when nothing else can see its buffer
(PyTorch steals such gradients too), and copies it otherwise: a stored ``.grad`` never shares
memory with another leaf's gradient, a tensor a hook or the user kept, the seed, or an
intermediate's retained gradient."""
from __future__ import annotations

import numpy as np

import tapegrad


def _shares(a: tapegrad.Tensor, b: tapegrad.Tensor) -> bool:
    return np.shares_memory(a._data, b._data)


def test_a_linear_layers_weight_gradient_is_the_products_buffer() -> None:
    """The weight's gradient (a transposed product, brought back by the transpose's backward) is
    kept as computed: a view of the whole product, with the right values."""
    tapegrad.manual_seed(0)
    layer = tapegrad.nn.Linear(6, 4)
    x = tapegrad.randn(5, 6)
    upstream = tapegrad.randn(5, 4)
    layer(x).backward(upstream)
    assert layer.weight.grad._data.base is not None and layer.weight.grad.is_contiguous()
    np.testing.assert_allclose(layer.weight.grad.numpy(), upstream.numpy().T @ x.numpy(), rtol=1e-5)
    layer.weight.grad.add_(1)  # writable, and its own
    np.testing.assert_allclose(layer.weight.grad.numpy(), upstream.numpy().T @ x.numpy() + 1, rtol=1e-5)


def test_two_leaves_given_one_gradient_tensor_get_separate_buffers() -> None:
    a = tapegrad.ones(3, requires_grad=True)
    b = tapegrad.ones(3, requires_grad=True)
    # add's backward hands the same tensor to both (the product keeps the tape off the fused kernels)
    (a + b).matmul(tapegrad.ones(3)).backward()
    assert not _shares(a.grad, b.grad)
    a.grad.add_(1)
    assert b.grad.tolist() == [1.0, 1.0, 1.0]


def test_a_gradient_a_hook_kept_is_not_the_stored_one() -> None:
    kept = []
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: kept.append(g))
    (x * 3).sum().backward()
    assert not _shares(kept[0], x.grad)
    x.grad.zero_()
    assert kept[0].tolist() == [3.0, 3.0]


def test_a_hooks_replacement_is_stored() -> None:
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    (x * 3).sum().backward()
    assert x.grad.tolist() == [30.0, 30.0]


def test_the_seed_is_never_a_leafs_gradient() -> None:
    seed = tapegrad.tensor([1.0, -1.0])
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    x.backward(seed)  # a leaf root: the seed itself arrives at its sink
    assert not _shares(seed, x.grad)
    y = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y.clone().backward(seed)  # clone's backward passes the seed through
    assert not _shares(seed, y.grad)
    x.grad.zero_()
    y.grad.zero_()
    assert seed.tolist() == [1.0, -1.0]


def test_a_retained_gradient_and_the_leafs_are_separate() -> None:
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = x + 0  # add's backward passes y's gradient on to x unchanged
    y.retain_grad()
    (y * 2).sum().backward()
    assert not _shares(x.grad, y.grad)
    y.grad.zero_()
    assert x.grad.tolist() == [2.0, 2.0]


def test_slices_of_one_gradient_are_copied() -> None:
    a = tapegrad.ones(2, 3, requires_grad=True)
    b = tapegrad.ones(4, 3, requires_grad=True)
    tapegrad.cat([a, b]).mul(tapegrad.arange(18.0).reshape(6, 3)).sum().backward()
    assert not _shares(a.grad, b.grad)
    assert a.grad._data.base is None and b.grad._data.base is None
    np.testing.assert_array_equal(b.grad.numpy(), np.arange(6.0, 18.0).reshape(4, 3))


def test_a_second_backward_accumulates_into_the_kept_buffer() -> None:
    tapegrad.manual_seed(1)
    layer = tapegrad.nn.Linear(3, 2)
    x = tapegrad.randn(4, 3)
    layer(x).sum().backward()
    first = layer.weight.grad
    first_values = first.numpy().copy()
    layer(x).sum().backward()
    assert layer.weight.grad is first
    np.testing.assert_allclose(first.numpy(), 2 * first_values, rtol=1e-6)


def test_broadcast_gradients_are_copied_into_their_own_memory() -> None:
    x = tapegrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x.sum().backward()  # sum's backward is a stride-0 expansion of one number
    assert x.grad.is_contiguous() and x.grad._data.strides == (4,)
    x.grad.add_(tapegrad.tensor([0.0, 1.0, 2.0]))
    assert x.grad.tolist() == [1.0, 2.0, 3.0]


def _kernel_allocated(t: tapegrad.Tensor) -> bool:
    """Whether ``t``'s buffer is memory a generated kernel allocated (kept without a copy)."""
    return type(t._data.base).__name__ == "_MemInfo"


def test_a_fused_kernels_gradients_are_kept_and_never_shared() -> None:
    """Once the tape runs as one kernel, its gradient buffers become ``.grad`` without a copy,
    except where two leaves would get one buffer (add's backward hands both the same one)."""
    from tapegrad.autograd import fused_backward

    a = tapegrad.tensor([0.5, -1.0, 2.0], requires_grad=True)
    b = tapegrad.tensor([1.0, 0.25, -0.5], requires_grad=True)
    c = tapegrad.tensor([2.0, 1.0, 3.0], requires_grad=True)
    for _ in range(fused_backward.FUSE_AFTER + 1):
        a.grad = b.grad = c.grad = None
        ((a + b) * c).tanh().sum().backward()
    assert any(_kernel_allocated(t.grad) for t in (a, b, c))
    assert not _shares(a.grad, b.grad) and not _shares(a.grad, c.grad) and not _shares(b.grad, c.grad)
    expected = b.grad.numpy().copy()
    a.grad.add_(1)
    np.testing.assert_array_equal(b.grad.numpy(), expected)


def test_a_kernels_gradient_another_array_shares_is_copied() -> None:
    """The runtime counts every array over a kernel's memory: a gradient whose memory another
    array also views is not kept as it is."""
    import numba

    from tapegrad.autograd.backward import _sole_reference
    from tapegrad.tensor import _wrap

    @numba.njit
    def two_views(n: int) -> tuple:
        buffer = np.ones(n)
        return buffer, buffer[1:]

    whole, part = two_views(4)
    grad = _wrap(whole)
    del whole
    assert not _sole_reference(grad)
    del part
    assert _sole_reference(grad)

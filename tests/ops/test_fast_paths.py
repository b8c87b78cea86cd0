"""The eager fast paths give what the general paths give, and what PyTorch gives.

Small float tensors with a Python number (``x * 0.5``), unary ops, a 0-d tensor operand (a
loss's upstream gradient), sums over leading axes (a bias gradient), ReLU's one-kernel backward,
a linear layer's forward (product and bias in one kernel), the MSE loss's value and backward,
and the class-index NLL without class weights each have a lean path of their own. These tests pin their edge cases:
signed zeros and numbers beyond float32 or int64, NaN/inf gradients, in-place forms, empty and
non-contiguous tensors, and double backward.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad.autograd import fused_backward
from tapegrad.ops import pointwise
from ophelpers import torch

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
LIBRARIES = [tapegrad] + ([torch] if torch is not None else [])
DATA = np.array([-1.5, -0.0, 0.0, 0.25, 3.0, np.inf, -np.inf, np.nan], np.float32)


def _numpy(t: Any) -> np.ndarray:
    return np.asarray(t.detach().numpy())


def _same(a: np.ndarray, b: np.ndarray) -> None:
    """Equal bit for bit, NaNs included (and the signs of zeros)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a.reshape(-1).view(np.uint8), b.reshape(-1).view(np.uint8))


# ------------------------------------------------------------------ a tensor and a Python number

@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("expression", [
    lambda x: x * 0.0, lambda x: x * -0.0, lambda x: x + -0.0, lambda x: x + 0.1, lambda x: x * 0.1,
    lambda x: x / 3, lambda x: x - 2 ** 62, lambda x: x * 1e300, lambda x: x + 2 ** 63 - 1,
    lambda x: 0.1 + x, lambda x: 3 * x, lambda x: x * True,
], ids=["times-zero", "times-negative-zero", "plus-negative-zero", "plus-tenth", "times-tenth", "over-three",
        "minus-big-int", "times-huge", "plus-int64-max", "reflected-plus", "reflected-times", "times-bool"])
def test_tensor_and_number_match_torch(dtype: str, expression: Any) -> None:
    results = [_numpy(expression(lib.tensor(DATA.astype(dtype)))) for lib in (tapegrad, torch)]
    _same(*results)


def test_scalars_alternating_signed_zeros_stay_apart() -> None:
    """A cache of converted numbers must not hand 0.0's conversion to -0.0 (they compare equal)."""
    x = tapegrad.tensor([1.0, -2.0])
    for _ in range(3):
        assert np.signbit(_numpy(x * 0.0)).tolist() == [False, True]
        assert np.signbit(_numpy(x * -0.0)).tolist() == [True, False]


def test_scalar_cache_is_bounded() -> None:
    x = tapegrad.tensor([1.0, 2.0])
    for k in range(3 * pointwise._SCALAR_CACHE_SIZE):
        x + float("nan")  # a new NaN object each time: never found again
        x + (k + 0.5)
    assert all(len(cache) <= pointwise._SCALAR_CACHE_SIZE for cache in pointwise._SCALAR_CACHE.values())


@needs_torch
def test_ints_at_the_64_bit_limits_match_torch() -> None:
    for lib in LIBRARIES:
        with pytest.raises(OverflowError, match="int too big to convert"):
            lib.tensor([1.0]) + 2 ** 64
    _same(*[_numpy(lib.tensor([1.0]) + (2 ** 64 - 1)) for lib in LIBRARIES])
    _same(*[_numpy(lib.tensor([1.0]) * -2 ** 63) for lib in LIBRARIES])


@pytest.mark.parametrize("requires_grad", [False, True])
def test_strided_operand_takes_the_same_values(requires_grad: bool) -> None:
    base = tapegrad.arange(12.0).reshape(3, 4)
    x = base.t().detach().requires_grad_(requires_grad)  # a transposed view: not C-contiguous
    np.testing.assert_array_equal(_numpy(x * 2.5), _numpy(x.contiguous() * 2.5))
    np.testing.assert_array_equal(_numpy(x.tanh()), np.tanh(_numpy(x.contiguous())).astype(np.float32))
    if requires_grad:
        (x * 2.5).tanh().sum().backward()
        expected = 2.5 * (1 - np.tanh(2.5 * _numpy(x)) ** 2)
        np.testing.assert_allclose(_numpy(x.grad), expected, rtol=1e-6)


def test_fast_paths_record_what_the_general_path_records() -> None:
    x = tapegrad.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = (x * 3.0).tanh() + 1
    assert y.grad_fn.name() == "AddBackward0"
    assert y.grad_fn.next_functions[0][0].name() == "TanhBackward0"
    assert y.grad_fn.next_functions[1][0] is None
    assert tapegrad.autograd.gradcheck(lambda t: (t * 3.0).tanh() + 1,
                                       (tapegrad.tensor([0.5, -1.0, 2.0], dtype=tapegrad.float64,
                                                        requires_grad=True),))


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("expression", [
    lambda x, y: x - y, lambda x, y: x - 1.5, lambda x, y: x - 2 ** 62, lambda x, y: 2.5 - x,
    lambda x, y: x ** 2, lambda x, y: x ** 0.5, lambda x, y: x ** -3, lambda x, y: x ** (1 / 3),
    lambda x, y: x ** 2 ** 62, lambda x, y: x ** 1e300,
], ids=["minus-tensor", "minus-float", "minus-big-int", "reflected-minus", "squared", "square-root",
        "minus-third-power", "cube-root", "big-int-power", "huge-power"])
def test_minus_and_power_take_the_general_paths_values_and_gradients(dtype: str, expression: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``a - b``, ``x - 1.5`` and ``x ** 2`` have fast paths: bit for bit the values and gradients
    of the general path, and PyTorch's to within its CPU-dependent last bit."""
    from tapegrad.ops import elementwise

    def run(lib: Any) -> list[np.ndarray]:
        x = lib.tensor(DATA[1:5].astype(dtype) + 0.75, requires_grad=True)
        y = lib.tensor(DATA[:4].astype(dtype) * 2, requires_grad=True)
        out = expression(x, y)
        out.sum().backward()
        return [_numpy(out), _numpy(x.grad)] + ([_numpy(y.grad)] if y.grad is not None else [])

    fast, theirs = run(tapegrad), run(torch)
    with monkeypatch.context() as patch:
        for module in (pointwise, elementwise):
            patch.setattr(module, "_same_shape_pair", lambda *args: None)
            patch.setattr(module, "_tensor_scalar", lambda *args: None)
        general = run(tapegrad)
    for ours, slow, reference in zip(fast, general, theirs):
        _same(ours, slow)
        assert ours.dtype == reference.dtype
        np.testing.assert_allclose(ours, reference, rtol=2e-7 if dtype == "float32" else 1e-15)


@pytest.mark.parametrize("operands", [(True, False), (True, 1), (1.5, True)])
def test_minus_of_bool_tensors_still_refused(operands: tuple[Any, Any]) -> None:
    a, b = (tapegrad.tensor([x]) if isinstance(x, bool) else x for x in operands)
    with pytest.raises(RuntimeError, match="Subtraction, the `-` operator, with"):
        a - b


def test_saved_output_modified_in_place_still_raises() -> None:
    x = tapegrad.tensor([0.5, -1.0], requires_grad=True)
    y = x.tanh()
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# ------------------------------------------------------------------ a 0-d tensor operand

@pytest.mark.parametrize("expression, gradient", [
    (lambda x, s: x * s, lambda x, s: (np.full_like(x, s), x.sum())),
    (lambda x, s: s - x, lambda x, s: (-np.ones_like(x), np.float64(x.size))),
    (lambda x, s: x / s, lambda x, s: (np.full_like(x, 1 / s), -(x / s ** 2).sum())),
])
def test_zero_dimensional_operand(expression: Any, gradient: Any) -> None:
    values = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    x = tapegrad.tensor(values, requires_grad=True)
    s = tapegrad.tensor(1.5, dtype=tapegrad.float64, requires_grad=True)
    out = expression(x, s)
    assert out.shape == (2, 3) and out.dtype == tapegrad.float64
    np.testing.assert_allclose(_numpy(out), expression(values, 1.5))
    out.sum().backward()
    expected_x, expected_s = gradient(values, 1.5)
    np.testing.assert_allclose(_numpy(x.grad), expected_x)
    assert s.grad.shape == ()
    np.testing.assert_allclose(_numpy(s.grad), expected_s)
    assert tapegrad.autograd.gradcheck(expression, (x.detach().requires_grad_(), s.detach().requires_grad_()))


def test_zero_dimensional_operand_in_place() -> None:
    x = tapegrad.tensor([1.0, 2.0, 3.0])
    x.mul_(tapegrad.tensor(2.0))
    np.testing.assert_array_equal(_numpy(x), [2.0, 4.0, 6.0])
    s = tapegrad.tensor(1.0)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        s.add_(x)
    assert s.item() == 1.0


@needs_torch
def test_zero_dimensional_operand_of_another_dtype_matches_torch() -> None:
    """A 0-d float64 tensor does not promote a float32 tensor (the general path decides)."""
    results = []
    for lib in LIBRARIES:
        out = lib.tensor([1.0, 2.0]) * lib.tensor(0.1, dtype=lib.float64)
        results.append(_numpy(out))
    _same(*results)


# ------------------------------------------------------------------ sums over leading axes

@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool"])
@pytest.mark.parametrize("shape, dim", [((32, 16), 0), ((4, 5, 6), (0, 1)), ((4, 5, 6), 0), ((0, 3), 0),
                                        ((3, 0), 0), ((2, 3, 0), (0, 1)), ((1, 7), 0)])
def test_sum_over_leading_axes(dtype: str, shape: tuple[int, ...], dim: Any) -> None:
    values = np.random.default_rng(0).standard_normal(shape) * 10
    values = (values > 0) if dtype == "bool" else values.astype(dtype)
    total = tapegrad.tensor(values).sum(dim)
    expected = values.sum(axis=dim, dtype=np.float64 if dtype.startswith("float") else np.int64)
    assert tuple(total.shape) == expected.shape
    np.testing.assert_allclose(_numpy(total), expected.astype(total.numpy().dtype), rtol=1e-6)


def test_sum_over_leading_axes_of_a_strided_tensor() -> None:
    values = np.arange(24.0).reshape(4, 6)
    strided = tapegrad.tensor(values)[:, ::2]  # not C-contiguous: the general reduction
    np.testing.assert_array_equal(_numpy(strided.sum(0)), values[:, ::2].sum(0))
    np.testing.assert_array_equal(_numpy(tapegrad.tensor(values).t().sum(0)), values.T.sum(0))


def test_bias_gradient_and_its_double_backward() -> None:
    x = tapegrad.randn(5, 3, dtype=tapegrad.float64)
    w = tapegrad.randn(4, 3, dtype=tapegrad.float64, requires_grad=True)
    b = tapegrad.randn(4, dtype=tapegrad.float64, requires_grad=True)
    tapegrad.nn.functional.linear(x, w, b).pow(2).sum().backward()
    out = _numpy(x) @ _numpy(w).T + _numpy(b)
    np.testing.assert_allclose(_numpy(b.grad), (2 * out).sum(0))
    assert tapegrad.autograd.gradgradcheck(lambda w, b: tapegrad.nn.functional.linear(x, w, b).pow(2),
                                           (w.detach().requires_grad_(), b.detach().requires_grad_()))


# ------------------------------------------------------------------ ReLU's and MSE's backward

@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_relu_backward_matches_torch_on_nan_and_inf(dtype: str) -> None:
    """PyTorch zeroes the gradient where the output is not positive, even a NaN or infinite one,
    and passes it where the output is NaN."""
    upstream = np.array([np.nan, np.inf, 1.0, -2.0, 5.0, np.nan, np.inf, -0.0], dtype)
    results = []
    for lib in LIBRARIES:
        x = lib.tensor(DATA.astype(dtype), requires_grad=True)
        (g,) = lib.autograd.grad(x.relu(), x, lib.tensor(upstream), create_graph=True)
        assert g.grad_fn.name() == "ThresholdBackwardBackward0"
        results.append(_numpy(g))
    _same(*results)


@needs_torch
@pytest.mark.parametrize("activation", [lambda lib, x: x.relu(),
                                        lambda lib, x: lib.nn.functional.threshold(x, 0.5, -1.0)],
                         ids=["relu", "threshold"])
def test_relu_double_backward_matches_torch(activation: Any) -> None:
    """The derivative with respect to the saved output is PyTorch's zeros, not ``upstream * 0``
    (which keeps NaNs and gives -0.0)."""
    results = []
    for lib in LIBRARIES:
        x = lib.tensor(DATA.astype(np.float64), requires_grad=True)
        upstream = lib.tensor(np.linspace(-1, 1, DATA.size), requires_grad=True)
        (g,) = lib.autograd.grad(activation(lib, x), x, upstream, create_graph=True)
        (g * g).sum().backward()
        results.append((_numpy(x.grad), _numpy(upstream.grad)))
    for ours, theirs in zip(*results):
        _same(ours, theirs)


def test_relu_gradgradcheck() -> None:
    x = tapegrad.tensor([-1.0, 0.5, 2.0, -0.25], dtype=tapegrad.float64, requires_grad=True)
    assert tapegrad.autograd.gradgradcheck(lambda t: t.relu() * t, (x,))


@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mse_backward_matches_torch_bit_for_bit(reduction: str, dtype: str) -> None:
    rng = np.random.default_rng(3)
    prediction, target = rng.standard_normal((2, 32, 3)).astype(dtype)
    results = []
    for lib in LIBRARIES:
        x = lib.tensor(prediction, requires_grad=True)
        y = lib.tensor(target, requires_grad=True)
        loss = lib.nn.functional.mse_loss(x, y, reduction=reduction)
        (loss.sum() if reduction == "none" else loss).mul(3.7).backward()
        results.append((_numpy(loss), _numpy(x.grad), _numpy(y.grad)))
    for ours, theirs in zip(*results):
        _same(ours, theirs)


def test_mse_of_empty_tensors() -> None:
    x = tapegrad.zeros(0, requires_grad=True)
    loss = tapegrad.nn.functional.mse_loss(x, tapegrad.zeros(0))
    assert np.isnan(loss.item())
    loss.backward()
    assert x.grad.shape == (0,)
    assert tapegrad.autograd.gradgradcheck(
        lambda p, t: tapegrad.nn.functional.mse_loss(p, t),
        (tapegrad.randn(4, dtype=tapegrad.float64, requires_grad=True),
         tapegrad.randn(4, dtype=tapegrad.float64, requires_grad=True)))


# ------------------------------------------------------------------ a linear layer's forward

def _linear_operands(dtype: str, layout: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, 5)).astype(dtype)
    weight = rng.standard_normal((3, 5)).astype(dtype)
    bias = rng.standard_normal(3).astype(dtype)
    x[1, 2], x[4, 0], bias[2] = np.inf, np.nan, -np.inf
    if layout == "transposed input":
        x = np.ascontiguousarray(x.T).T
    elif layout == "strided input":
        x = np.repeat(x, 2, axis=1)[:, ::2]
    return x, weight, bias


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["contiguous", "transposed input", "strided input"])
def test_linear_takes_the_general_addmm_paths_values_and_gradients(dtype: str, layout: str) -> None:
    x, weight, bias = _linear_operands(dtype, layout)
    results = []
    # A (1, out) bias takes the general path (product, then a broadcast add); a 1-D one the
    # one-kernel path a linear layer takes.
    for bias_shape in ((3,), (1, 3)):
        w = tapegrad.tensor(weight, requires_grad=True)
        b = tapegrad.tensor(bias.reshape(bias_shape), requires_grad=True)
        inputs = tapegrad.from_numpy(x).requires_grad_()
        out = tapegrad.addmm(b, inputs, w.t())
        assert out.grad_fn.name() == "AddmmBackward0"
        out.backward(tapegrad.ones_like(out))
        results.append((_numpy(out), _numpy(inputs.grad), _numpy(w.grad), _numpy(b.grad).reshape(-1)))
    for fast, general in zip(*results):
        _same(fast, general)


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linear_forward_matches_torch(dtype: str) -> None:
    x, weight, bias = _linear_operands(dtype, "contiguous")
    ours, theirs = (_numpy(lib.nn.functional.linear(lib.tensor(x), lib.tensor(weight), lib.tensor(bias)))
                    for lib in LIBRARIES)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda x, w, b: tapegrad.addmm(b, x, w), r"mat1 and mat2 shapes cannot be multiplied \(7x5 and 3x5\)"),
    (lambda x, w, b: tapegrad.addmm(b[:2], x, w.t()), "The expanded size of the tensor"),
    (lambda x, w, b: tapegrad.addmm(b, x, w.t().double()), "expected m1 and m2 to have the same dtype"),
])
def test_linear_forward_refusals_are_the_general_paths(call: Any, message: str) -> None:
    x, weight, bias = (tapegrad.tensor(a) for a in _linear_operands("float32", "contiguous"))
    with pytest.raises(RuntimeError, match=message):
        call(x, weight, bias)


# ------------------------------------------------------------------ the MSE loss's value

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", [(), (1,), (32, 1), (5, 4, 3), "strided"])
def test_mse_value_is_the_composition_of_its_ops(dtype: str, reduction: str, shape: Any) -> None:
    rng = np.random.default_rng(11)
    if shape == "strided":
        prediction, target = (rng.standard_normal((6, 8)).astype(dtype)[:, ::2] for _ in range(2))
    else:
        prediction, target = (np.asarray(rng.standard_normal(shape) * 1e3).astype(dtype) for _ in range(2))
    x, y = tapegrad.from_numpy(prediction), tapegrad.from_numpy(target)
    composed = (x - y) ** 2
    _same(_numpy(tapegrad.nn.functional.mse_loss(x, y, reduction=reduction)),
          _numpy(composed.mean() if reduction == "mean" else composed.sum()))


def test_mse_value_with_nan_inf_and_overflow() -> None:
    x = tapegrad.tensor(DATA)
    for target in (tapegrad.zeros(len(DATA)), tapegrad.full((len(DATA),), 3.0e38)):
        for reduction in ("mean", "sum"):
            composed = (x - target) ** 2
            _same(_numpy(tapegrad.nn.functional.mse_loss(x, target, reduction=reduction)),
                  _numpy(composed.mean() if reduction == "mean" else composed.sum()))


def test_more_dimensions_than_the_small_kernels_take_the_general_path() -> None:
    # The small-tensor kernels exist up to 8 dims; a 9-d pair used to fail with an IndexError.
    rng = np.random.default_rng(2)
    x, y = (rng.standard_normal((2,) * 9).astype(np.float32) for _ in range(2))
    a, b = tapegrad.from_numpy(x), tapegrad.from_numpy(y)
    _same(_numpy(a - b), x - y)
    _same(_numpy(a * b), x * y)
    np.testing.assert_allclose(tapegrad.nn.functional.mse_loss(a, b).item(), np.mean((x - y) ** 2), rtol=1e-6)


# ------------------------------------------------------------------ class-index NLL without weights

def _scores(dtype: str, layout: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(17)
    scores = rng.standard_normal((9, 5)).astype(dtype) * 4
    scores[2, 1], scores[5, 3] = -np.inf, 1e30
    labels = rng.integers(0, 5, 9)
    labels[5] = 3  # the huge score above is a picked one
    if layout == "strided":
        scores = np.repeat(scores, 2, axis=1)[:, ::2]
        labels = np.repeat(labels, 2)[::2]
    return scores, labels


def _nll_results(loss: str, scores: np.ndarray, labels: np.ndarray, weight: Any, reduction: str,
                 fused: bool) -> tuple[np.ndarray, np.ndarray]:
    x = tapegrad.from_numpy(scores).requires_grad_()
    out = getattr(tapegrad.nn.functional, loss)(x, tapegrad.from_numpy(labels), weight=weight, reduction=reduction)
    assert out.grad_fn.name() == "NllLossBackward0"
    assert out.grad_fn.next_functions[0][0].name() == ("LogSoftmaxBackward0" if loss == "cross_entropy"
                                                      else "AccumulateGrad")
    upstream = tapegrad.tensor(3.0, dtype=out.dtype)
    if fused:
        out.backward(upstream)  # one kernel for the tape once its structure has been seen enough
        grad = x.grad
    else:
        (grad,) = tapegrad.autograd.grad(out, x, upstream)  # the op-by-op sweep
    return _numpy(out), _numpy(grad)


@pytest.mark.parametrize("loss", ["nll_loss", "cross_entropy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_unweighted_nll_takes_the_weighted_paths_values_and_gradients(loss: str, dtype: str, reduction: str,
                                                                      layout: str) -> None:
    # Class weights of one take the general path and must give the same bits, through the
    # op-by-op backward sweep and through the fused one (which may round its last bit
    # otherwise than the sweep, so each is compared with its like, once both are fused).
    scores, labels = _scores(dtype, layout)
    ones = tapegrad.ones(5, dtype=getattr(tapegrad, dtype))
    for fused in (False, True):
        for _ in range(fused_backward.FUSE_AFTER + 1 if fused else 1):
            fast, general = (_nll_results(loss, scores, labels, weight, reduction, fused) for weight in (None, ones))
        for a, b in zip(fast, general):
            _same(a, b)


@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_unweighted_cross_entropy_matches_torch(reduction: str) -> None:
    scores, labels = _scores("float64", "contiguous")
    scores[5, 3] = 7.0  # a finite row: PyTorch's gradient of a 1e30 score is NaN-free only by luck
    results = []
    for lib in LIBRARIES:
        x = lib.tensor(scores, requires_grad=True)
        out = lib.nn.functional.cross_entropy(x, lib.tensor(labels), reduction=reduction)
        out.backward()
        results.append((out.item(), _numpy(x.grad)))
    (ours, our_grad), (theirs, their_grad) = results
    assert ours == pytest.approx(theirs, rel=1e-14)
    np.testing.assert_allclose(our_grad, their_grad, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("label", [5, -1, 1 << 40])
@pytest.mark.parametrize("loss", ["nll_loss", "cross_entropy"])
def test_unweighted_nll_target_out_of_range(label: int, loss: str) -> None:
    labels = tapegrad.tensor([0, label, 2])
    with pytest.raises(IndexError, match=f"Target {label} is out of bounds."):
        getattr(tapegrad.nn.functional, loss)(tapegrad.zeros(3, 5, requires_grad=True), labels)


@pytest.mark.parametrize("loss", ["nll_loss", "cross_entropy"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_unweighted_nll_with_ignored_targets_masks_them(loss: str, reduction: str) -> None:
    # An ignored target sends the call to the general path (cross_entropy's after the one-kernel
    # log-softmax), which leaves its row out: the same bits as with class weights of one.
    scores, labels = _scores("float64", "contiguous")
    labels[[1, 4]] = -100
    results = [_nll_results(loss, scores, labels, weight, reduction, fused=False)
               for weight in (None, tapegrad.ones(5, dtype=tapegrad.float64))]
    for fast, general in zip(*results):
        _same(fast, general)
    value, grad = results[0]
    assert not grad[[1, 4]].any() and grad[0].any()
    if loss == "nll_loss":
        kept = labels != -100
        expected = -scores[np.arange(9)[kept], labels[kept]].sum() / (kept.sum() if reduction == "mean" else 1)
        assert value == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("loss", ["nll_loss", "cross_entropy"])
def test_unweighted_nll_refuses_an_unknown_reduction(loss: str) -> None:
    with pytest.raises(ValueError, match="mean_of_sums is not a valid value for reduction"):
        getattr(tapegrad.nn.functional, loss)(tapegrad.zeros(3, 5, requires_grad=True), tapegrad.tensor([0, 1, 2]),
                                              reduction="mean_of_sums")


@pytest.mark.parametrize("loss", ["nll_loss", "cross_entropy"])
def test_unweighted_nll_without_gradients(loss: str) -> None:
    scores, labels = _scores("float32", "contiguous")
    fn = getattr(tapegrad.nn.functional, loss)
    fast = fn(tapegrad.from_numpy(scores), tapegrad.from_numpy(labels))
    assert fast.grad_fn is None and not fast.requires_grad
    _same(_numpy(fast), _numpy(fn(tapegrad.from_numpy(scores), tapegrad.from_numpy(labels),
                                  weight=tapegrad.ones(5))))


def test_unweighted_nll_of_an_empty_batch() -> None:
    x = tapegrad.zeros(0, 4, requires_grad=True)
    out = tapegrad.nn.functional.cross_entropy(x, tapegrad.zeros(0, dtype=tapegrad.int64))
    assert np.isnan(out.item())
    out.backward()
    assert x.grad.shape == (0, 4)


@pytest.mark.parametrize("weighted", [False, True], ids=["one-kernel", "general"])
def test_targets_changed_in_place_after_the_loss_make_backward_raise(weighted: bool) -> None:
    labels = tapegrad.tensor([0, 1, 2])
    x = tapegrad.zeros(3, 4, requires_grad=True)
    weight = tapegrad.ones(4) if weighted else None
    loss = tapegrad.nn.functional.nll_loss(x, labels, weight=weight, reduction="sum")
    labels[0] = 3
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    # Unchanged targets: the gradient picks each row's target.
    labels = tapegrad.tensor([0, 1, 2])
    tapegrad.nn.functional.nll_loss(x, labels, weight=weight, reduction="sum").backward()
    np.testing.assert_array_equal(_numpy(x.grad), -np.eye(3, 4))


def test_unweighted_cross_entropy_double_backward() -> None:
    scores, labels = _scores("float64", "contiguous")
    scores[5, 3] = 7.0
    x = tapegrad.from_numpy(scores).requires_grad_()
    target = tapegrad.from_numpy(labels)
    assert tapegrad.autograd.gradgradcheck(lambda s: tapegrad.nn.functional.cross_entropy(s, target), (x,))

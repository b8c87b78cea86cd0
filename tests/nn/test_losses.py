"""Loss modules and functions against PyTorch: every reduction, class weights, ``ignore_index``,
label smoothing, probability targets, ``pos_weight``, broadcasting, degenerate inputs (all
targets ignored, saturated probabilities, empty batches), the legacy ``size_average``/``reduce``
arguments and the errors PyTorch raises.
"""
from __future__ import annotations

import warnings
import zlib

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F

REDUCTIONS = ("none", "mean", "sum")
FORWARD_TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}
GRAD_TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-9, atol=1e-11)}


def _torch():
    return pytest.importorskip("torch")


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _compare(call, arrays, differentiable, dtype="float64"):
    """Run ``call(lib, *tensors)`` in both libraries; compare values, dtype, grad_fn and the
    gradients of the ``differentiable`` inputs for one random upstream gradient."""
    torch = _torch()
    ours, theirs = [], []
    for k, a in enumerate(arrays):
        a = a.astype(dtype) if a.dtype.kind == "f" else a
        grad = k in differentiable and a.dtype.kind == "f"
        ours.append(tapegrad.tensor(a, requires_grad=grad))
        theirs.append(torch.tensor(a, requires_grad=grad))
    out, ref = call(tapegrad, *ours), call(torch, *theirs)
    assert str(out.dtype).rsplit(".", 1)[-1] == str(ref.dtype).rsplit(".", 1)[-1]
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), equal_nan=True, **FORWARD_TOL[dtype])
    assert out.requires_grad == ref.requires_grad
    if not ref.requires_grad:
        return
    assert out.grad_fn.name() == ref.grad_fn.name()
    upstream = np.random.default_rng(7).standard_normal(tuple(ref.shape)).astype(dtype)
    out.backward(tapegrad.tensor(upstream))
    ref.backward(torch.tensor(upstream))
    for a, b in zip(ours, theirs):
        if b.requires_grad:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), equal_nan=True, **GRAD_TOL[dtype])


# ==================================================================== regression and binary losses

SHAPES = [(), (5,), (3, 4), (2, 3, 2)]


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_regression_losses_match_torch(shape, reduction, dtype):
    rng = _rng("regression", shape)
    x, y = rng.standard_normal(shape) * 2, rng.standard_normal(shape) * 2
    _compare(lambda L, a, b: L.nn.MSELoss(reduction=reduction)(a, b), [x, y], (0, 1), dtype)
    _compare(lambda L, a, b: L.nn.L1Loss(reduction=reduction)(a, b), [x, y], (0, 1), dtype)
    for beta in (1.0, 0.5, 2.0, 0.0):
        _compare(lambda L, a, b: L.nn.SmoothL1Loss(reduction=reduction, beta=beta)(a, b), [x, y], (0, 1), dtype)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_binary_losses_match_torch(shape, reduction, dtype):
    rng = _rng("binary", shape)
    p, t = rng.uniform(0.05, 0.95, shape), rng.uniform(0, 1, shape)
    x, w = rng.standard_normal(shape) * 3, rng.uniform(0.5, 2, shape)
    pos_weight = rng.uniform(0.5, 3, shape[-1:])
    _compare(lambda L, a, b: L.nn.BCELoss(reduction=reduction)(a, b), [p, t], (0, 1), dtype)
    _compare(lambda L, a, b, c: L.nn.BCELoss(weight=c, reduction=reduction)(a, b), [p, t, w], (0, 1), dtype)
    _compare(lambda L, a, b: L.nn.BCEWithLogitsLoss(reduction=reduction)(a, b), [x, t], (0, 1), dtype)
    _compare(lambda L, a, b, c, d: L.nn.BCEWithLogitsLoss(weight=c, reduction=reduction, pos_weight=d)(a, b),
             [x, t, w, pos_weight], (0, 1), dtype)


@pytest.mark.torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_saturated_and_extreme_binary_inputs_match_torch(reduction):
    # p = 0 or 1 meets PyTorch's clamps (-100 on the logs, 1e-12 on p (1 - p)); the target's
    # gradient there is infinite, as in PyTorch.
    p, t = np.array([0.0, 1.0, 0.5, 1e-20]), np.array([1.0, 0.0, 0.5, 1.0])
    _compare(lambda L, a, b: L.nn.functional.binary_cross_entropy(a, b, reduction=reduction), [p, t], (0, 1))
    _compare(lambda L, a, b: L.nn.functional.binary_cross_entropy(a, b, reduction=reduction), [p, t], (0, 1),
             "float32")
    x = np.array([-200.0, 200.0, 0.0, 50.0])
    _compare(lambda L, a, b, c: L.nn.functional.binary_cross_entropy_with_logits(a, b, pos_weight=c,
                                                                                 reduction=reduction),
             [x, t, np.array([2.0, 0.5, 1.0, 3.0])], (0, 1))


@pytest.mark.torch
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss"])
def test_regression_losses_broadcast_with_torchs_warning(name):
    x, y = _rng("bcast").standard_normal((3, 4)), _rng("bcast2").standard_normal((4,))
    with pytest.warns(UserWarning, match=r"Using a target size \(.*\[4\]\)\) that is different to the input size"):
        _compare(lambda L, a, b: getattr(L.nn.functional, name)(a, b), [x, y], (0, 1))


# ==================================================================== classification losses

CLASS_SHAPES = [(5, 3), (3,), (2, 3, 4), (2, 3, 2, 2), (2, 3, 2, 1, 2)]


def _targets(rng, shape):
    classes = shape[1] if len(shape) > 1 else shape[0]
    target_shape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    target = rng.integers(0, classes, target_shape)
    if target.ndim:
        target.reshape(-1)[0] = 1  # at least one target hits the ignored class below
    return target, classes


@pytest.mark.torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", CLASS_SHAPES, ids=str)
def test_cross_entropy_and_nll_with_indices_match_torch(shape, reduction):
    rng = _rng("ce", shape)
    x = rng.standard_normal(shape)
    target, classes = _targets(rng, shape)
    weight = rng.uniform(0.5, 2, classes)
    for ignore_index in (-100, 1):
        for smoothing in (0.0, 0.2):
            _compare(lambda L, a, b: L.nn.CrossEntropyLoss(reduction=reduction, ignore_index=ignore_index,
                                                           label_smoothing=smoothing)(a, b), [x, target], (0,))
            _compare(lambda L, a, b, c: L.nn.CrossEntropyLoss(weight=c, reduction=reduction,
                                                              ignore_index=ignore_index,
                                                              label_smoothing=smoothing)(a, b),
                     [x, target, weight], (0,))
        _compare(lambda L, a, b: L.nn.NLLLoss(reduction=reduction, ignore_index=ignore_index)(a, b), [x, target],
                 (0,))
        _compare(lambda L, a, b, c: L.nn.NLLLoss(weight=c, reduction=reduction, ignore_index=ignore_index)(a, b),
                 [x, target, weight], (0,))
    _compare(lambda L, a, b: L.nn.CrossEntropyLoss(reduction=reduction)(a, b), [x, target], (0,), "float32")


@pytest.mark.torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", CLASS_SHAPES[:4], ids=str)
def test_cross_entropy_with_probabilities_matches_torch(shape, reduction):
    rng = _rng("probs", shape)
    x = rng.standard_normal(shape)
    axis = 1 if len(shape) > 1 else 0
    probs = rng.uniform(0.1, 1, shape)
    probs = probs / probs.sum(axis=axis, keepdims=True)
    weight = rng.uniform(0.5, 2, shape[axis])
    for smoothing in (0.0, 0.3):
        _compare(lambda L, a, b: L.nn.functional.cross_entropy(a, b, reduction=reduction,
                                                               label_smoothing=smoothing), [x, probs], (0, 1))
        _compare(lambda L, a, b, c: L.nn.functional.cross_entropy(a, b, weight=c, reduction=reduction,
                                                                  label_smoothing=smoothing),
                 [x, probs, weight], (0, 1))


@pytest.mark.torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_every_target_ignored_gives_torchs_nan_mean_and_zero_gradient(reduction):
    x, target = _rng("ignored").standard_normal((3, 4)), np.array([1, 1, 1])
    for smoothing in (0.0, 0.1):
        _compare(lambda L, a, b: L.nn.functional.cross_entropy(a, b, reduction=reduction, ignore_index=1,
                                                               label_smoothing=smoothing), [x, target], (0,))
    _compare(lambda L, a, b: L.nn.functional.nll_loss(a, b, reduction=reduction, ignore_index=1), [x, target], (0,))
    _compare(lambda L, a, b: L.nn.functional.nll_loss(a, b, reduction=reduction, ignore_index=2),
             [x[:1], np.array(2)[None]], (0,))


@pytest.mark.torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_empty_batches_match_torch(reduction):
    empty = np.zeros((0, 3))
    _compare(lambda L, a, b: L.nn.functional.cross_entropy(a, b, reduction=reduction), [empty, np.zeros(0, np.int64)],
             (0,))
    for name in ("mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"):
        _compare(lambda L, a, b: getattr(L.nn.functional, name)(a, b, reduction=reduction), [empty, empty], (0, 1))


# ==================================================================== module state, legacy arguments, errors

def test_loss_modules_keep_torchs_attributes_and_buffers():
    weight = tapegrad.tensor([1.0, 2.0])
    ce = nn.CrossEntropyLoss(weight=weight, ignore_index=3, label_smoothing=0.1)
    assert (ce.reduction, ce.ignore_index, ce.label_smoothing) == ("mean", 3, 0.1)
    assert ce.weight is weight and dict(ce.named_buffers()) == {"weight": weight}
    bce = nn.BCEWithLogitsLoss(pos_weight=weight)
    assert bce.weight is None and bce.pos_weight is weight
    assert nn.SmoothL1Loss(beta=0.5).beta == 0.5
    assert repr(ce) == "CrossEntropyLoss()" and repr(nn.MSELoss(reduction="sum")) == "MSELoss()"


@pytest.mark.parametrize("size_average, reduce, expected", [
    (None, False, "none"), (False, None, "sum"), (True, True, "mean"), (False, False, "none")])
def test_legacy_size_average_and_reduce_choose_the_reduction_with_a_warning(size_average, reduce, expected):
    x, y = tapegrad.tensor([1.0, 3.0]), tapegrad.tensor([0.0, 0.0])
    with pytest.warns(UserWarning, match=f"please use reduction='{expected}' instead"):
        loss = nn.MSELoss(size_average=size_average, reduce=reduce)
    assert loss.reduction == expected
    with pytest.warns(UserWarning, match=f"reduction='{expected}'"):
        functional = F.mse_loss(x, y, size_average=size_average, reduce=reduce)
    np.testing.assert_allclose(functional.numpy(), loss(x, y).numpy())


def test_reduction_is_checked_when_the_loss_runs():
    loss = nn.L1Loss(reduction="avg")  # accepted here, as PyTorch accepts it
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        loss(tapegrad.ones(2), tapegrad.ones(2))


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.binary_cross_entropy(tapegrad.full((3, 1), 0.5), tapegrad.ones(3)), ValueError,
     r"Using a target size \(tapegrad.Size\(\[3\]\)\) that is different to the input size .* is deprecated"),
    (lambda: F.binary_cross_entropy_with_logits(tapegrad.ones(3, 4), tapegrad.ones(4)), ValueError,
     r"Target size \(tapegrad.Size\(\[4\]\)\) must be the same as input size \(tapegrad.Size\(\[3, 4\]\)\)"),
    (lambda: F.binary_cross_entropy(tapegrad.tensor([1.5]), tapegrad.tensor([1.0])), RuntimeError,
     "all elements of input should be between 0 and 1"),
    (lambda: F.nll_loss(tapegrad.ones(3, 4), tapegrad.tensor([0.0, 1.0, 1.0])), RuntimeError,
     "expected target dtype to be Long or Byte, but got Float"),
    (lambda: F.cross_entropy(tapegrad.ones(3, 4), tapegrad.tensor([0, 1, 1], dtype=tapegrad.int32)), RuntimeError,
     "expected target dtype to be Long or Byte, but got Int"),
    (lambda: F.cross_entropy(tapegrad.ones(3), tapegrad.tensor([0, 1, 0])), RuntimeError,
     "Expected floating point type for target with class probabilities, got Long"),
    (lambda: F.cross_entropy(tapegrad.ones(2, 4, 5), tapegrad.zeros(2, 4, dtype=tapegrad.int64)), RuntimeError,
     r"Expected target size \[2, 5\], got \[2, 4\]"),
    (lambda: F.cross_entropy(tapegrad.ones(3, 4), tapegrad.tensor([0, 1, 1]), label_smoothing=1.5), RuntimeError,
     "label_smoothing must be between 0.0 and 1.0. Got: 1.5"),
    (lambda: F.cross_entropy(tapegrad.ones(3, 4), tapegrad.tensor([0, 1, 1]), weight=tapegrad.ones(3)),
     RuntimeError, "weight tensor should be defined either for all 4 classes or no classes"),
    (lambda: F.nll_loss(tapegrad.ones(3, 4), [0, 1, 2]), TypeError, "must be Tensor, not list"),
    (lambda: F.smooth_l1_loss(tapegrad.ones(2), tapegrad.ones(2), beta=-1.0), RuntimeError,
     "smooth_l1_loss does not support negative values for beta."),
])
def test_loss_errors_match_torch(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.torch
def test_loss_error_types_and_messages_agree_with_torch_apart_from_the_library_name():
    torch = _torch()
    cases = [
        lambda L: L.nn.functional.cross_entropy(L.ones(3, 4), L.tensor([0, 4, 1])),
        lambda L: L.nn.functional.cross_entropy(L.ones(3, 4), L.tensor([0, 1])),
        lambda L: L.nn.functional.nll_loss(L.ones(3, 4), L.tensor([0.0, 1.0, 1.0])),
        lambda L: L.nn.functional.cross_entropy(L.ones(3), L.tensor([0, 1, 0])),
        lambda L: L.nn.functional.binary_cross_entropy_with_logits(L.ones(3, 4), L.ones(4)),
        lambda L: L.nn.functional.smooth_l1_loss(L.ones(2), L.ones(2), beta=-1.0),
        lambda L: L.nn.functional.cross_entropy(L.ones(3, 4), L.tensor([0, 1, 1]), label_smoothing=1.5),
        lambda L: L.nn.functional.mse_loss(L.ones(2), L.ones(2), reduction="avg"),
        lambda L: L.nn.functional.nll_loss(L.ones(3, 4), L.tensor(1)),
        lambda L: L.nn.functional.cross_entropy(L.ones(3, 4), L.tensor(1)),
        lambda L: L.nn.functional.nll_loss(L.ones(3, 4), L.tensor([0, 1, 1]), ignore_index=1.0),
        lambda L: L.nn.functional.nll_loss(L.ones(3, 4), L.tensor([0, 1, 1]), ignore_index=True),
        lambda L: L.nn.functional.cross_entropy(L.ones(3, 4), L.tensor([0, 1, 1]), ignore_index=None),
        lambda L: L.nn.functional.nll_loss(L.ones(3, 4), L.tensor([0, 1, 1]), ignore_index=L.tensor(1.0)),
        lambda L: L.nn.functional.nll_loss(L.ones(3, 4), L.tensor([0, 1, 1]), ignore_index=1 << 70),
        lambda L: L.nn.functional.cross_entropy(L.ones(3, 4), L.tensor([0, 1, 1]), label_smoothing=None),
        lambda L: L.nn.functional.cross_entropy(L.ones(3, 4), L.tensor([0, 1, 1]), label_smoothing="0"),
        lambda L: L.nn.functional.nll_loss(L.ones(3, 4, dtype=L.int64), L.tensor([0, 1, 1])),
        lambda L: L.nn.functional.nll_loss(L.ones(3, 4, 2, dtype=L.int64), L.zeros(3, 2, dtype=L.int64)),
        lambda L: L.nn.functional.cross_entropy(L.ones(3, 4, dtype=L.int64), L.tensor([0, 1, 1])),
        lambda L: L.softmax(L.tensor([1, 2]), 0),
        lambda L: L.log_softmax(L.tensor([[1, 2]]), 0),
        lambda L: L.nn.functional.softmax(L.tensor([[True, False]]), 1),
    ]
    for case in cases:
        outcomes = []
        for lib in (tapegrad, torch):
            with pytest.raises(Exception) as info:
                case(lib)
            outcomes.append((type(info.value).__name__, str(info.value).replace("tapegrad.", "torch.")))
        assert outcomes[0] == outcomes[1]


@pytest.mark.torch
@pytest.mark.parametrize("ignore_index", [np.int64(1), "tensor", "one-element tensor"])
def test_ignore_index_as_numpy_integer_or_integer_tensor(ignore_index):
    x, target = _rng("ignore_index").standard_normal((4, 3)), np.array([0, 1, 1, 2])
    if ignore_index == "tensor":
        _compare(lambda L, a, b: L.nn.functional.nll_loss(a, b, ignore_index=L.tensor(1)), [x, target], (0,))
    elif ignore_index == "one-element tensor":
        _compare(lambda L, a, b: L.nn.functional.cross_entropy(a, b, ignore_index=L.tensor([1])), [x, target], (0,))
    else:
        _compare(lambda L, a, b: L.nn.functional.cross_entropy(a, b, ignore_index=ignore_index), [x, target], (0,))


@pytest.mark.torch
@pytest.mark.parametrize("label_smoothing", [float("nan"), False, 0, "tensor"])
def test_label_smoothing_of_nan_bool_int_or_tensor_as_in_torch(label_smoothing):
    x, target = _rng("smoothing", str(label_smoothing)).standard_normal((4, 3)), np.array([0, 2, 1, 1])
    if label_smoothing == "tensor":
        _compare(lambda L, a, b: L.nn.functional.cross_entropy(a, b, label_smoothing=L.tensor(0.25)), [x, target], (0,))
    else:
        _compare(lambda L, a, b: L.nn.functional.cross_entropy(a, b, label_smoothing=label_smoothing), [x, target],
                 (0,))


def test_float32_mean_divides_by_the_count_rounded_to_float32():
    # 2**24 + 1 rows: the count is not a float32, and PyTorch divides by its float32 rounding.
    rows = np.zeros(((1 << 24) + 1, 2), np.float32)
    rows[0, 0] = -3.0
    labels = np.zeros(rows.shape[0], np.int64)
    expected = np.float32(3.0 / float(np.float32(rows.shape[0])))
    for weight in (None, tapegrad.ones(2)):
        loss = F.nll_loss(tapegrad.from_numpy(rows), tapegrad.from_numpy(labels), weight=weight)
        assert loss.item() == expected


@pytest.mark.torch
def test_negative_label_smoothing_means_none_as_in_torch():
    x, target = _rng("negative").standard_normal((4, 3)), np.array([0, 2, 1, 1])
    _compare(lambda L, a, b: L.nn.functional.cross_entropy(a, b, label_smoothing=-0.2), [x, target], (0,))


def test_losses_train_a_classifier():
    tapegrad.manual_seed(0)
    x = tapegrad.randn(32, 4)
    target = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    losses = []
    for _ in range(30):
        loss = loss_fn(model(x), target)
        losses.append(loss.item())
        model.zero_grad()
        loss.backward()
        with tapegrad.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
    assert losses[-1] < 0.5 * losses[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.NLLLoss()(F.log_softmax(model(x), dim=1), target)


# ---------------------------------------------------------------- NLL's graph, deprecated names, version errors

@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_steps_link_to_the_input_alone(weighted: bool) -> None:
    x = tapegrad.tensor([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]], requires_grad=True)
    target = tapegrad.tensor([2, 0])
    weight = tapegrad.tensor([1.0, 2.0, 3.0]) if weighted else None
    through_log_softmax = F.nll_loss(x.log_softmax(1), target, weight=weight)
    ((node, _),) = through_log_softmax.grad_fn.next_functions
    assert node.name() == "LogSoftmaxBackward0"
    ((leaf, _),) = F.nll_loss(x, target, weight=weight).grad_fn.next_functions
    assert leaf.variable is x
    ((node, _),) = F.cross_entropy(x, target, weight=weight).grad_fn.next_functions
    assert node.name() == "LogSoftmaxBackward0"


@pytest.mark.parametrize("loss", ["nll_loss", "cross_entropy", "mse_loss", "l1_loss", "binary_cross_entropy"])
def test_elementwise_mean_is_the_mean_with_a_deprecation_warning(loss: str) -> None:
    x = tapegrad.tensor([[0.2, 0.3], [0.6, 0.9]])
    target = tapegrad.tensor([1, 0]) if loss in ("nll_loss", "cross_entropy") else tapegrad.tensor([[0.0, 1.0],
                                                                                                   [1.0, 0.5]])
    with pytest.warns(UserWarning, match="reduction='elementwise_mean' is deprecated"):
        old = getattr(F, loss)(x, target, reduction="elementwise_mean")
    assert old.item() == getattr(F, loss)(x, target, reduction="mean").item()
    with pytest.raises(ValueError, match="elementwise_sum is not a valid value for reduction"):
        getattr(F, loss)(x, target, reduction="elementwise_sum")


def test_version_errors_name_the_op_that_made_the_changed_tensor_as_pytorch_does() -> None:
    x = tapegrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    z = y * y
    y.add_(1)  # y is now the output of an add
    with pytest.raises(RuntimeError, match=r"FloatTensor \[3\]\], which is output 0 of Add, is at version 1"):
        z.sum().backward()
    w = tapegrad.tensor([1.0, 2.0, 3.0])
    z = x * w
    w.add_(1)  # a tensor no op made: no "output of" clause
    with pytest.raises(RuntimeError, match=r"\[tapegrad.FloatTensor \[3\]\] is at version 1; expected version 0"):
        z.sum().backward()
    e = x.exp()
    e.add_(1)  # exp saved its output
    with pytest.raises(RuntimeError, match=r"which is output 0 of Exp, is at version 1"):
        e.sum().backward()

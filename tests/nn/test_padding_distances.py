"""``F.pad`` and the padding modules, the distances (``normalize``, ``cosine_similarity``,
``pairwise_distance``), ``one_hot``, and the Huber and KL-divergence losses: what the op
table (tests/ops/optable.py, which checks values, gradients and second derivatives) does not
cover: circular padding, error types and messages, warnings, modules and degenerate inputs,
each against PyTorch where it is installed.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.autograd import gradcheck, gradgradcheck


def _torch():
    return pytest.importorskip("torch")


def _data(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _compare(call, arrays, check_grad_fn=True):
    """``call(functional module, *tensors)`` in both libraries (float64): values, grad_fn and
    the gradients for one random upstream gradient."""
    torch = _torch()
    ours = [tapegrad.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    theirs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out, ref = call(F, *ours), call(torch.nn.functional, *theirs)
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    if check_grad_fn:
        assert out.grad_fn.name() == ref.grad_fn.name()
    upstream = _data(tuple(ref.shape), seed=7)
    out.backward(tapegrad.tensor(upstream))
    ref.backward(torch.tensor(upstream))
    for a, b in zip(ours, theirs):
        if b.requires_grad:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


# ==================================================================== padding

# PyTorch's circular padding is a composition (its grad_fn is CopySlices); tapegrad's is one op.
CIRCULAR = [((2, 5), (1, 3)), ((2, 3, 4), (4, 0)), ((2, 3, 4), (1, 2, 3, 0)), ((1, 2, 3, 4), (-1, 2, 1, -2))]


@pytest.mark.torch
@pytest.mark.parametrize("shape, pad", CIRCULAR, ids=str)
def test_circular_padding_matches_torch(shape, pad):
    _compare(lambda L, x: L.pad(x, pad, mode="circular"), [_data(shape)], check_grad_fn=False)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_padding_passes_gradcheck_to_second_order(mode):
    x = tapegrad.tensor(_data((2, 3, 4), seed=1), requires_grad=True)
    pad = (2, -1, 1, 2) if mode != "reflect" else (2, 1, 1, 2)
    assert gradcheck(lambda t: F.pad(t, pad, mode=mode), (x,))
    assert gradgradcheck(lambda t: F.pad(t, pad, mode=mode), (x,))


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "constant"])
def test_negative_padding_crops_as_in_torch(mode):
    _compare(lambda L, x: L.pad(x, (-1, 2, 2, -1), mode=mode), [_data((1, 2, 4, 5))], check_grad_fn=mode != "circular")


def test_constant_padding_keeps_integer_and_bool_dtypes_and_always_copies():
    x = tapegrad.tensor([[1, 2], [3, 4]])
    out = F.pad(x, (1, 0), value=7)
    assert out.dtype is tapegrad.int64 and out.tolist() == [[7, 1, 2], [7, 3, 4]]
    flags = F.pad(tapegrad.tensor([True]), (1, 1))
    assert flags.dtype is tapegrad.bool and flags.tolist() == [False, True, False]
    same = F.pad(x, (0, 0))
    assert same is not x and same.tolist() == x.tolist()
    same[0, 0] = 9
    assert x[0, 0].item() == 1


PAD_ERRORS = [
    (lambda L: L.nn.functional.pad(L.ones(2, 3), (1,)), RuntimeError, "Padding length must be divisible by 2"),
    (lambda L: L.nn.functional.pad(L.ones(2, 3), (1, 1, 1, 1, 1, 1)), RuntimeError,
     "Padding length should be less than or equal to two times the input dimension but got padding length 6 and "
     "input of dimension 2"),
    (lambda L: L.nn.functional.pad(L.ones(2, 3), (0, -4)), RuntimeError, "narrow(): length must be non-negative."),
    (lambda L: L.nn.functional.pad(L.ones(1, 2, 3), (3, 1), mode="reflect"), RuntimeError,
     "Argument #4: Padding size should be less than the corresponding input dimension, but got: padding (3, 1) at "
     "dimension 2 of input [1, 2, 3]"),
    (lambda L: L.nn.functional.pad(L.ones(1, 2, 3), (4, 0), mode="circular"), RuntimeError,
     "Padding value causes wrapping around more than once."),
    (lambda L: L.nn.functional.pad(L.ones(1, 2, 3), (1, 1), mode="wrap"), NotImplementedError, "Unrecognised padding mode wrap"),
    (lambda L: L.nn.functional.pad(L.ones(1, 2, 3), (1, 1), mode="replicate", value=2.0), RuntimeError,
     "Padding mode \"replicate\" doesn't take in value argument"),
    (lambda L: L.nn.functional.pad(L.ones(3), (1, 1), mode="reflect"), NotImplementedError,
     "Padding size 2 is not supported for 1D input tensor."),
    (lambda L: L.nn.functional.pad(L.ones(1, 2, 3, 4, 5), (1, 1), mode="replicate"), NotImplementedError,
     "Padding size 2 is not supported for 5D input tensor."),
]


@pytest.mark.parametrize("call, error, message", PAD_ERRORS, ids=range(len(PAD_ERRORS)))
def test_padding_errors_match_torchs(call, error, message):
    with pytest.raises(error) as info:
        call(tapegrad)
    assert str(info.value).startswith(message)
    try:
        import torch
    except ImportError:
        return
    with pytest.raises(error) as theirs:
        call(torch)
    assert str(theirs.value).startswith(message)


@pytest.mark.parametrize("mode", ["circular", "reflect", "replicate"])
def test_cropping_away_what_a_mode_copies_from_is_refused(mode):
    x = tapegrad.arange(1.0, 7.0).reshape(2, 3)
    with pytest.raises(RuntimeError, match=f"{mode} padding \\(-3, 2\\) of dimension 1 of input \\[2, 3\\] crops away"):
        F.pad(x, (-3, 2), mode=mode)
    assert F.pad(x, (-3, 0), mode=mode).shape == (2, 0)  # nothing to copy, nothing copied


THREE_DIMS = [("reflect", (1, 2, 0, 1, 2, 1)), ("replicate", (-1, 1, 0, -1, 1, 2)), ("circular", (1, 2, 3, 1, -1, 2))]


@pytest.mark.torch
@pytest.mark.parametrize("batched", [True, False], ids=["5d", "4d"])
@pytest.mark.parametrize("mode, pad", THREE_DIMS, ids=[m for m, _ in THREE_DIMS])
def test_three_dim_padding_by_mode_matches_torch(mode, pad, batched):
    shape = (2, 2, 3, 4, 5) if batched else (2, 3, 4, 5)
    _compare(lambda L, x: L.pad(x, pad, mode=mode), [_data(shape)], check_grad_fn=mode != "circular")


def test_three_dim_padding_gradcheck():
    x = tapegrad.tensor(_data((1, 2, 3, 3, 4)), requires_grad=True)
    for mode in ("reflect", "replicate", "circular"):
        assert gradcheck(lambda x: F.pad(x, (1, 2, 2, 0, 1, 1), mode=mode), (x,))


PAD_MODULES = [("ZeroPad1d", ((1, 2),), (2, 3)), ("ZeroPad2d", (1,), (1, 2, 3)), ("ZeroPad3d", (1,), (1, 2, 2, 2)),
               ("ConstantPad1d", (2, 3.5), (2, 3)), ("ConstantPad2d", ((1, 2, 0, 1), -1.0), (1, 2, 3)),
               ("ConstantPad3d", (1, 0.5), (1, 1, 2, 2)), ("ReflectionPad1d", (2,), (2, 3)),
               ("ReflectionPad2d", ((1, 1, 2, 0),), (1, 3, 3)), ("ReplicationPad1d", ((0, 3),), (1, 2, 3)),
               ("ReplicationPad2d", (1,), (2, 1, 2, 3)), ("CircularPad1d", (1,), (2, 3)),
               ("CircularPad2d", ((1, 0, 0, 2),), (1, 2, 3)), ("ReflectionPad3d", (1,), (1, 2, 3, 2)),
               ("ReplicationPad3d", ((1, 0, 2, 1, 0, 2),), (2, 1, 2, 3)), ("CircularPad3d", (1,), (1, 1, 2, 2, 3))]


@pytest.mark.torch
@pytest.mark.parametrize("name, args, shape", PAD_MODULES, ids=[m[0] for m in PAD_MODULES])
def test_padding_modules_match_torch(name, args, shape):
    torch = _torch()
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs) and ours.padding == theirs.padding
    data = _data(shape, seed=3)
    np.testing.assert_array_equal(ours(tapegrad.tensor(data)).numpy(), theirs(torch.tensor(data)).numpy())


def test_padding_module_rejects_a_padding_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"ZeroPad2d expects a padding of 4 ints or one int, got \[1, 2\]"):
        nn.ZeroPad2d((1, 2))


# ==================================================================== distances

@pytest.mark.torch
@pytest.mark.parametrize("kw", [{}, {"p": 1.0, "keepdim": True}, {"eps": 0.0, "p": 3.0}], ids=str)
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 3), (4, 3))], ids=str)
def test_pairwise_distance_matches_torch(shapes, kw):
    # PyTorch names its step NormBackward1 (at::norm); tapegrad's norm is LinalgVectorNormBackward0.
    _compare(lambda L, a, b: L.pairwise_distance(a, b, **kw), [_data(shapes[0], 1), _data(shapes[1], 2)],
             check_grad_fn=False)


def test_pairwise_distance_passes_gradcheck():
    a = tapegrad.tensor(_data((3, 4), 1), requires_grad=True)
    b = tapegrad.tensor(_data((3, 4), 2), requires_grad=True)
    assert gradcheck(lambda x, y: F.pairwise_distance(x, y), (a, b))
    assert gradgradcheck(lambda x, y: F.pairwise_distance(x, y, p=3.0), (a, b))


@pytest.mark.torch
def test_cosine_similarity_of_zero_and_tiny_vectors_matches_torch():
    # The norms are clamped to eps without grad: the gradient flows as if unclamped.
    x = np.array([[0.0, 0.0, 0.0], [1e-9, -2e-9, 0.0], [1.0, 2.0, 3.0]])
    y = _data((3, 3), 4)
    _compare(lambda L, a, b: L.cosine_similarity(a, b), [x, y])
    _compare(lambda L, a, b: L.cosine_similarity(a, b, eps=1e-3), [x, y])


def test_cosine_similarity_promotes_and_rejects_integer_inputs():
    out = F.cosine_similarity(tapegrad.tensor([[1, 0]]), tapegrad.tensor([[1.0, 1.0]]))
    assert out.dtype is tapegrad.float32
    np.testing.assert_allclose(out.numpy(), [2 ** -0.5], rtol=1e-6)
    with pytest.raises(RuntimeError, match="expected common dtype to be floating point, yet common dtype is Long"):
        F.cosine_similarity(tapegrad.tensor([[1, 0]]), tapegrad.tensor([[1, 1]]))


@pytest.mark.torch
def test_distance_modules_match_torch():
    torch = _torch()
    a, b = _data((3, 4), 5), _data((3, 4), 6)
    for ours, theirs in ((nn.CosineSimilarity(), torch.nn.CosineSimilarity()),
                         (nn.CosineSimilarity(dim=0, eps=0.1), torch.nn.CosineSimilarity(dim=0, eps=0.1)),
                         (nn.PairwiseDistance(p=1.0, keepdim=True), torch.nn.PairwiseDistance(p=1.0, keepdim=True))):
        assert repr(ours) == repr(theirs)
        np.testing.assert_allclose(ours(tapegrad.tensor(a), tapegrad.tensor(b)).numpy(),
                                   theirs(torch.tensor(a), torch.tensor(b)).numpy(), rtol=1e-12)
    assert nn.PairwiseDistance(p=3.0).norm == 3.0


# ==================================================================== one_hot

@pytest.mark.torch
@pytest.mark.parametrize("values, num_classes", [([0, 2, 1], -1), ([[1, 1], [0, 3]], 5), ([], 3), ([[2]], 3)],
                         ids=str)
def test_one_hot_matches_torch(values, num_classes):
    torch = _torch()
    ours = F.one_hot(tapegrad.tensor(values, dtype=tapegrad.int64), num_classes)
    theirs = torch.nn.functional.one_hot(torch.tensor(values, dtype=torch.int64), num_classes)
    assert ours.dtype is tapegrad.int64 and tuple(ours.shape) == tuple(theirs.shape)
    assert ours.tolist() == theirs.tolist()


@pytest.mark.parametrize("values, num_classes, message", [
    ([1, 2], -1, None), ([-1, 2], -1, "Class values must be non-negative."),
    ([1, 2], 2, "Class values must be smaller than num_classes."),
    ([1, 2], -2, "Class values must be smaller than num_classes."),
    ([], -1, "Can not infer total number of classes from empty tensor."),
])
def test_one_hot_errors(values, num_classes, message):
    index = tapegrad.tensor(values, dtype=tapegrad.int64)
    if message is None:
        with pytest.raises(RuntimeError, match="one_hot is only applicable to index tensor of type LongTensor."):
            F.one_hot(index.int(), num_classes)
        return
    with pytest.raises(RuntimeError, match=message):
        F.one_hot(index, num_classes)


# ==================================================================== Huber and KL divergence

def test_huber_loss_is_delta_times_smooth_l1_and_checks_its_arguments():
    x = tapegrad.tensor(_data((4, 3), 8) * 3)
    y = tapegrad.tensor(_data((4, 3), 9))
    for delta in (0.5, 1.0, 2.0):
        np.testing.assert_allclose(F.huber_loss(x, y, delta=delta).item(),
                                   delta * F.smooth_l1_loss(x, y, beta=delta).item(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="huber_loss does not support non-positive values for delta."):
        F.huber_loss(x, y, delta=0.0)
    with pytest.raises(ValueError, match="mean is not a valid value|banana is not a valid value"):
        F.huber_loss(x, y, reduction="banana")
    with pytest.raises(ValueError, match="Weights and input must have the same size."):
        F.huber_loss(x, y, weight=tapegrad.ones(3))
    with pytest.warns(UserWarning, match="Using a target size"):
        F.huber_loss(x, y[0])


def test_kl_div_warns_for_mean_and_follows_legacy_arguments():
    log_q = tapegrad.tensor(np.log([[0.2, 0.8], [0.5, 0.5]]))
    p = tapegrad.tensor([[0.1, 0.9], [0.4, 0.6]])
    with pytest.warns(UserWarning, match="reduction: 'mean' divides the total loss by both the batch size and the "
                                         "support size.'batchmean' divides only by the batch size"):
        mean = F.kl_div(log_q, p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        total = F.kl_div(log_q, p, reduction="sum")
        batchmean = F.kl_div(log_q, p, reduction="batchmean")
    np.testing.assert_allclose([mean.item(), batchmean.item()], [total.item() / 4, total.item() / 2])
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        legacy = F.kl_div(log_q, p, size_average=False)
    assert legacy.item() == total.item()
    with pytest.raises(ValueError, match="max is not a valid value for reduction"):
        F.kl_div(log_q, p, reduction="max")
    # A zero target contributes nothing (0 log 0 = 0), as in PyTorch.
    assert F.kl_div(log_q, tapegrad.tensor([[0.0, 1.0], [1.0, 0.0]]), reduction="none").tolist()[0][0] == 0.0


@pytest.mark.torch
def test_loss_modules_match_torch():
    torch = _torch()
    x, y = _data((3, 4), 10) * 2, _data((3, 4), 11)
    probabilities = np.random.default_rng(12).dirichlet(np.ones(4), 3)
    pairs = [(nn.HuberLoss(), torch.nn.HuberLoss(), x, y),
             (nn.HuberLoss(reduction="sum", delta=0.3), torch.nn.HuberLoss(reduction="sum", delta=0.3), x, y),
             (nn.KLDivLoss(reduction="batchmean"), torch.nn.KLDivLoss(reduction="batchmean"),
              np.log(probabilities[::-1].copy()), probabilities),
             (nn.KLDivLoss(reduction="sum", log_target=True), torch.nn.KLDivLoss(reduction="sum", log_target=True),
              np.log(probabilities[::-1].copy()), np.log(probabilities))]
    for ours, theirs, a, b in pairs:
        assert repr(ours) == repr(theirs)
        np.testing.assert_allclose(ours(tapegrad.tensor(a), tapegrad.tensor(b)).item(),
                                   theirs(torch.tensor(a), torch.tensor(b)).item(), rtol=1e-12)
    assert nn.HuberLoss(delta=0.3).delta == 0.3 and nn.KLDivLoss(log_target=True).log_target is True


def test_docstring_examples_run():
    import doctest

    from tapegrad.nn import attention, composed_losses, functional, modules, multihead, padding
    from tapegrad.ops import einsum, padding as pad_ops, rearrange, sort

    for module in (functional, modules, padding, pad_ops, rearrange, composed_losses, sort, einsum, attention,
                   multihead):
        result = doctest.testmod(module, extraglobs={"tapegrad": tapegrad, "nn": nn, "F": F})
        assert result.attempted and not result.failed, module.__name__

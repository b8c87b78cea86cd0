"""The margin, embedding, soft margin and Poisson/Gaussian NLL losses beyond the op table
(which checks values, gradients, second derivatives and grad_fn names against NumPy, finite
differences and PyTorch): their modules, PyTorch's errors and argument handling."""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as F


def _data(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.torch
def test_modules_match_torch():
    torch = pytest.importorskip("torch")
    x, y, z = _data((4, 3), 1), _data((4, 3), 2), _data((4, 3), 3)
    signs = np.array([1.0, -1.0, -1.0, 1.0])
    labels = (y > 0).astype(float)
    pairs = [
        (lambda L: L.MarginRankingLoss(0.5), (x[:, 0], y[:, 0], signs)),
        (lambda L: L.HingeEmbeddingLoss(margin=0.7, reduction="sum"), (x, np.sign(z))),
        (lambda L: L.CosineEmbeddingLoss(0.1), (x, y, signs)),
        (lambda L: L.TripletMarginLoss(margin=0.5, p=1.0, swap=True), (x, y, z)),
        (lambda L: L.SoftMarginLoss(reduction="none"), (x, np.sign(y))),
        (lambda L: L.MultiLabelSoftMarginLoss(weight=L.tensor(np.abs(z[0]))), (x, labels)),
        (lambda L: L.PoissonNLLLoss(log_input=False, full=True), (np.abs(x) + 0.5, np.abs(y) * 4)),
        (lambda L: L.GaussianNLLLoss(full=True, eps=1e-3), (x, y, np.abs(z))),
    ]
    for make, arrays in pairs:
        ours, theirs = make(_Lib(tapegrad)), make(_Lib(torch))
        assert repr(ours) == repr(theirs)
        assert {k: v for k, v in vars(ours).items() if not k.startswith("_") and k != "training"} == \
            {k: v for k, v in vars(theirs).items() if not k.startswith("_") and k != "training"}
        got = ours(*[tapegrad.tensor(a) for a in arrays])
        want = theirs(*[torch.tensor(a) for a in arrays])
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


class _Lib:
    """``L.Module(...)`` builds ``lib.nn.Module`` and ``L.tensor`` is ``lib.tensor``."""

    def __init__(self, lib):
        self.lib = lib

    def __getattr__(self, name):
        return self.lib.tensor if name == "tensor" else getattr(self.lib.nn, name)


ERRORS = [
    (lambda L, t: L.margin_ranking_loss(t((3,)), t((3, 1)), t((3,))), RuntimeError,
     "margin_ranking_loss : All input tensors should have same dimension but got sizes: input1: "),
    (lambda L, t: L.cosine_embedding_loss(t((2, 3)), t((2, 3)), t((2, 1))), RuntimeError,
     "0D or 1D target tensor expected, multi-target not supported"),
    (lambda L, t: L.cosine_embedding_loss(t((3,)), t((3,)), t((3,))), RuntimeError,
     "1D target tensor expects 2D input tensors, but found inputs with sizes [3] and [3]."),
    (lambda L, t: L.triplet_margin_loss(t((2, 3)), t((2, 3)), t((3,))), RuntimeError,
     "The anchor, positive, and negative tensors are expected to have the same number of dimensions, but got: "
     "anchor 2D, positive 2D, and negative 1D inputs"),
    (lambda L, t: L.soft_margin_loss(t((3,)), t((3,), grad=True)), RuntimeError,
     "The function 'soft_margin_loss' is not differentiable with respect to argument 'target'."),
    (lambda L, t: L.gaussian_nll_loss(t((2, 3)), t((2, 3)), -t((2, 3)).abs()), ValueError,
     "var has negative entry/entries"),
    (lambda L, t: L.gaussian_nll_loss(t((2, 3)), t((2, 3)), t((3, 2)).abs()), ValueError, "var is of incorrect size"),
    (lambda L, t: L.gaussian_nll_loss(t((2, 3)), t((2, 3)), 1.0, reduction="max"), ValueError, "max is not valid"),
    (lambda L, t: L.poisson_nll_loss(t((2, 3)), t((2, 3)), reduction="max"), ValueError,
     "max is not a valid value for reduction"),
]


@pytest.mark.parametrize("call, error, message", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torchs(call, error, message):
    def tensors(lib):
        return lambda shape, grad=False: lib.tensor(_data(shape, len(shape)) + 0.5, requires_grad=grad)

    with pytest.raises(error) as ours:
        call(F, tensors(tapegrad))
    assert str(ours.value).startswith(message)
    try:
        import torch
    except ImportError:
        return
    with pytest.raises(error) as theirs:
        call(torch.nn.functional, tensors(torch))
    assert str(theirs.value).startswith(message)


def test_legacy_arguments_warn_at_the_caller_and_choose_the_reduction():
    x, y = tapegrad.tensor(_data((3,), 1)), tapegrad.tensor(_data((3,), 2))
    signs = tapegrad.tensor([1.0, -1.0, 1.0])
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated") as record:
        total = F.margin_ranking_loss(x, y, signs, size_average=False)
    assert record[0].filename == __file__
    assert total.item() == F.margin_ranking_loss(x, y, signs, reduction="sum").item()


def test_gaussian_nll_reads_its_variance_so_compile_refuses_it_by_name():
    @tapegrad.compile
    def step(x, v):
        return F.gaussian_nll_loss(x, x * 2, v)

    x, v = tapegrad.tensor(_data((2, 3), 1)), tapegrad.tensor(np.ones((2, 3)))
    step(x, v)
    with pytest.raises(tapegrad.compiler.TraceError, match=r"bool\(tensor\)"):
        step(x, v)

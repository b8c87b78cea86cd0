"""``tapegrad.compile`` records the newer activations (logsigmoid, hardswish, mish, the
shrinks, glu, prelu, threshold), rms_norm, pdist, the class margin losses, kron, tensordot,
cdist, cross, diff, nansum, unfold, padding, interpolation, adaptive max pooling, unfold and fold, cumulative sums
and products, the distances, the Huber and KL losses and attention without refusing any: each
is a registry op or a composition of recorded ops. Tensors a step makes from Python numbers
(``arange``, ``linspace``, ``eye``) are recorded constants. Every replay gives eager mode's
numbers and gradients for inputs that change every call. Call 1 runs eagerly, call 2 is
traced, calls 3+ replay.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as F

W = np.linspace(-1.5, 1.5, 24).reshape(4, 6)

CASES: dict[str, Callable[[Any, Any], Any]] = {
    "activations": lambda w, x: (F.logsigmoid(w * x) + F.hardswish(w * x * 4) + F.mish(w * x)
                                 + F.hardsigmoid(w * 3) * F.softsign(x) + F.tanhshrink(w)).sum(),
    "shrinks_in_place": lambda w, x: (F.softshrink(w * x, 0.3) + F.hardshrink(w - x, 0.2)
                                      + F.hardswish(w * 2 + x, inplace=True)).square().sum(),
    "glu": lambda w, x: F.glu(w * x, 1).square().sum() + F.glu(w, 0).sum(),
    "pad": lambda w, x: (F.pad(w * x, (1, -2, 2, 0), value=0.5).square().sum()
                         + F.pad((w * x)[None], (2, 1), mode="reflect").sum()
                         + F.pad((w + x)[None], (1, 0, 0, 2), mode="replicate").square().sum()),
    "distances": lambda w, x: (F.normalize(w * x, dim=0).sum() + F.cosine_similarity(w, x).sum()
                               + F.pairwise_distance(w, x).sum()),
    "constants": lambda w, x: ((w * x * tapegrad.arange(6.0, dtype=tapegrad.float64)).sum()
                               + (tapegrad.eye(4, dtype=tapegrad.float64) @ w).square().sum()
                               + (w[0] * tapegrad.linspace(-1, 1, 6, dtype=tapegrad.float64)).sum()
                               + w[:, tapegrad.arange(1, 6, 2)].sum()),
    "rearrange": lambda w, x: ((w * x).flip(0, 1)[0].sum() * 2 + (w * x).roll((1, -2), (1, 0)).square()[0].sum()
                               + (w * x).repeat(2, 1, 3)[1].square().sum() + (w * x).tril(1).square().sum()
                               + tapegrad.triu(w, -1).sum()),
    "einsum": lambda w, x: (tapegrad.einsum("ij,kj->ik", w * x, w).square().sum()
                            + tapegrad.einsum("ij,ij,j->", w, x, w[0]) + tapegrad.einsum("...j->...", w * x).sum()),
    "margin_losses": lambda w, x: (F.margin_ranking_loss(w[0], x[0], x[1].sign(), margin=0.2)
                                   + F.hinge_embedding_loss(w * x, x.sign())
                                   + F.cosine_embedding_loss(w, x, x[:, 0].sign())
                                   + F.triplet_margin_loss(w, x, w * x, swap=True) + F.soft_margin_loss(w, x.sign())
                                   + F.multilabel_soft_margin_loss(w * x, (x > 0).float())
                                   + F.poisson_nll_loss(w, x.abs(), full=True, log_input=False)),
    "attention_and_group_norm": lambda w, x: (F.scaled_dot_product_attention(w[None], x[None], (w * x)[None],
                                                                              is_causal=True).square().sum()
                                              + F.group_norm((w * x)[None], 2, w[0, :4], x[0, :4]).square().sum()
                                              + tapegrad.einsum("ii->i", w[:, :4] * x[:, :4]).sum()
                                              + (w[:, 1:5] * x[:, :4]).trace() + tapegrad.diag(w[0]).sum()),
    "cumsum": lambda w, x: ((w * x).cumsum(1).square().sum() + tapegrad.cumsum(w, 0)[-1].sum()
                            + (x > 0).cumsum(1).mul(w).sum() + (w * x).sum().cumsum(0)),
    "adaptive_max_pool": lambda w, x: (F.adaptive_max_pool2d((w * x)[None], (3, 4)).square().sum()
                                       + F.adaptive_max_pool1d(w + x, 4).sum()
                                       + F.adaptive_max_pool2d((w - x)[None], 2, True)[1].mul(w[:2, :2]).sum()),
    "fold": lambda w, x: (F.fold(F.unfold((w * x)[None, None], 2, padding=1) * 0.5, (4, 6), 2, padding=1).square().sum()
                          + F.unfold((w - x)[None, None], (2, 3), stride=(2, 1)).sum()),
    "interpolate": lambda w, x: F.interpolate((w * x)[None, None], size=(3, 7), mode="bicubic",
                                              antialias=True).square().sum(),
    "cumprod": lambda w, x: ((w * x.round()).cumprod(1).square().sum() + (w * x).cumprod(0)[-1].sum()
                             + (x > 0).cumprod(1).mul(w).sum()),
    "prelu_norms_margins": lambda w, x: (
        F.prelu((w * x)[None], w[:, 0]).square().sum() + F.threshold(w - x, 0.2, -1.0).sum()
        + F.rms_norm(w * x, (6,), w[0]).square().sum() + F.pdist(w * x, 1.5).sum()
        # Targets computed from the input: they change every call.
        + F.multi_margin_loss(w * x, (x[:, 0] > 0).long() * 5, p=2)
        + F.multilabel_margin_loss(w, (x.abs() * 1.4).long().masked_fill(x < -1.5, -1))),
    "products_and_arrangement": lambda w, x: (
        tapegrad.kron(w[:2, :2], x[:2, :3]).square().sum() + tapegrad.tensordot(w, x, ([1], [1])).sum()
        + tapegrad.cdist(w, x).sum() + tapegrad.cross(w[:, :3], x[:, 3:], dim=1).square().sum()
        + tapegrad.diff(w * x, 2, 1).square().sum() + tapegrad.nansum((w * x).log()) + w.unfold(1, 3, 2).square().sum()),
    "losses": lambda w, x: (F.huber_loss(w * 3, x, delta=0.5) + F.kl_div(F.log_softmax(w, 1), x.softmax(1),
                                                                           reduction="batchmean")
                            + F.kl_div(w.log_softmax(0), x.log_softmax(0), reduction="sum", log_target=True)),
}


def _step(case: str, device: str = "cpu") -> tuple[Callable[[Any], Any], Any]:
    w = tapegrad.tensor(W, device=device, requires_grad=True)
    fn = CASES[case]

    def step(x: Any) -> Any:
        w.grad = None
        loss = fn(w, x)
        loss.backward()
        return loss

    return step, w


def _inputs(device: str = "cpu") -> list[Any]:
    rng = np.random.default_rng(3)
    return [tapegrad.tensor(rng.uniform(-2, 2, (4, 6)), device=device) for _ in range(5)]


def replay_as_eager(case: str, device: str = "cpu") -> Any:
    """Compile ``case``'s step on ``device`` and compare every call with eager mode's."""
    eager, eager_w = _step(case, device)
    step, w = _step(case, device)
    compiled = tapegrad.compile(step)
    for i, x in enumerate(_inputs(device)):
        want, got = eager(x), compiled(x)
        np.testing.assert_allclose(got.item(), want.item(), rtol=1e-12, err_msg=f"loss, call {i}")
        np.testing.assert_allclose(w.grad.cpu().numpy(), eager_w.grad.cpu().numpy(), rtol=1e-11, atol=1e-13,
                                   err_msg=f"gradient, call {i}")
    assert compiled.traces == 1 and compiled.tape is not None
    return compiled


@pytest.mark.parametrize("case", list(CASES))
def test_functional_ops_replay_as_eager(case):
    replay_as_eager(case)


def test_constants_follow_the_numbers_they_were_made_from():
    # The count is a call argument: a new count is a new signature (run eagerly, then traced),
    # and each version replays its own constant.
    w = tapegrad.tensor(W[0], requires_grad=True)

    def step(x, n):
        w.grad = None
        loss = (w[:n] * x[:n] * tapegrad.arange(n, dtype=tapegrad.float64)).sum()
        loss.backward()
        return loss

    compiled = tapegrad.compile(step)
    for n in (3, 3, 3, 5, 5, 5, 3):
        x = tapegrad.tensor(np.full(6, float(n)))
        got = compiled(x, n).item()
        assert got == step(x, n).item() == float((W[0, :n] * n * np.arange(n)).sum())
    assert compiled.traces == 2


def test_an_in_place_write_to_a_constant_is_refused():
    @tapegrad.compile
    def step(x):
        ramp = tapegrad.arange(6.0, dtype=tapegrad.float64)
        ramp.mul_(2)
        return (x * ramp).sum()

    x = tapegrad.tensor(W[0])
    step(x)
    with pytest.raises(tapegrad.compiler.TraceError, match="in-place write"):
        step(x)


def test_a_transformer_encoder_trains_compiled_as_eager():
    # Attention with a causal mask and key padding (the safe softmax's where), layer norms, GELU.
    def trainer():
        tapegrad.manual_seed(0)
        layer = tapegrad.nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation="gelu", batch_first=True,
                                                    dtype=tapegrad.float64)
        model = tapegrad.nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        optimizer = tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        mask = tapegrad.nn.Transformer.generate_square_subsequent_mask(3, dtype=tapegrad.float64)
        padding = tapegrad.tensor(np.array([[0.0, 0.0, -np.inf], [0.0, 0.0, 0.0]]))

        def step(x):
            optimizer.zero_grad()
            loss = model(x, mask=mask, src_key_padding_mask=padding).square().mean()
            loss.backward()
            optimizer.step()
            return loss

        return model, step

    (eager_model, eager), (model, step) = trainer(), trainer()
    compiled = tapegrad.compile(step)
    rng = np.random.default_rng(4)
    for i in range(4):
        x = tapegrad.tensor(rng.standard_normal((2, 3, 4)))
        np.testing.assert_allclose(compiled(x).item(), eager(x).item(), rtol=1e-12, err_msg=f"loss, call {i}")
        for (name, p), q in zip(model.named_parameters(), eager_model.parameters()):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-11, atol=1e-13,
                                       err_msg=f"{name}, call {i}")
    assert compiled.traces == 1 and compiled.tape is not None

"""The Transformer layers: the same parameters from the same seed as PyTorch, the same outputs
and gradients (float64) for every option and mask, finite-difference gradients, PyTorch's
inference-path zeros at padded positions, its warnings and errors."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn


def _data(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _causal(lib: Any, size: int) -> Any:
    return lib.tensor(np.triu(np.ones((size, size), bool), 1))


def _padding(lib: Any) -> Any:
    return lib.tensor(np.array([[False] * 5, [False] * 3 + [True] * 2, [False] * 4 + [True]]))


def _encoder_layer(lib: Any, **options: Any) -> Any:
    return lib.nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, dtype=lib.float64, **options)


def _decoder_layer(lib: Any, **options: Any) -> Any:
    return lib.nn.TransformerDecoderLayer(8, 2, 12, dropout=0.0, dtype=lib.float64, **options)


# Each case: (build(lib) -> module, call(lib, module, src, tgt) -> output); src and tgt are
# (sequence, batch, 8) or, for batch_first modules, (batch, sequence, 8).
CASES: dict[str, tuple[Any, Any]] = {
    "encoder_layer": (lambda lib: _encoder_layer(lib), lambda lib, m, s, t: m(s)),
    "encoder_layer_norm_first_gelu": (lambda lib: _encoder_layer(lib, norm_first=True, activation="gelu"),
                                      lambda lib, m, s, t: m(s, src_mask=_causal(lib, 5))),
    "encoder_layer_batch_first_padding": (lambda lib: _encoder_layer(lib, batch_first=True),
                                          lambda lib, m, s, t: m(s, src_key_padding_mask=_padding(lib))),
    "encoder_layer_no_bias_callable": (lambda lib: _encoder_layer(lib, bias=False, activation=lib.tanh,
                                                                  layer_norm_eps=1e-3),
                                       lambda lib, m, s, t: m(s, src_mask=_causal(lib, 5), is_causal=True)),
    "encoder_layer_float_mask": (lambda lib: _encoder_layer(lib, activation=lib.nn.GELU()),
                                 lambda lib, m, s, t: m(s, src_mask=lib.tensor(_data((5, 5), 7)),
                                                        src_key_padding_mask=_padding(lib))),
    "encoder": (lambda lib: lib.nn.TransformerEncoder(_encoder_layer(lib), 2, lib.nn.LayerNorm(8, dtype=lib.float64),
                                                      enable_nested_tensor=False),
                lambda lib, m, s, t: m(s, mask=lib.nn.Transformer.generate_square_subsequent_mask(5, dtype=lib.float64),
                                       src_key_padding_mask=_padding(lib))),
    "decoder_layer": (lambda lib: _decoder_layer(lib),
                      lambda lib, m, s, t: m(t, s, tgt_mask=_causal(lib, 4), memory_key_padding_mask=_padding(lib))),
    "decoder_layer_norm_first_batch_first": (lambda lib: _decoder_layer(lib, norm_first=True, batch_first=True),
                                             lambda lib, m, s, t: m(t, s, memory_mask=_causal(lib, 5)[1:],
                                                                    tgt_key_padding_mask=_padding(lib)[:, 1:])),
    "decoder": (lambda lib: lib.nn.TransformerDecoder(_decoder_layer(lib, activation="gelu"), 2),
                lambda lib, m, s, t: m(t, s, tgt_mask=lib.nn.Transformer.generate_square_subsequent_mask(
                    4, dtype=lib.float64))),
    "transformer": (lambda lib: lib.nn.Transformer(8, 2, 2, 1, 12, dropout=0.0, dtype=lib.float64),
                    lambda lib, m, s, t: m(s, t, src_key_padding_mask=_padding(lib),
                                           tgt_mask=m.generate_square_subsequent_mask(4, dtype=lib.float64),
                                           memory_key_padding_mask=_padding(lib))),
    "transformer_batch_first_norm_first": (
        lambda lib: lib.nn.Transformer(8, 2, 1, 2, 12, dropout=0.0, batch_first=True, norm_first=True,
                                       activation="gelu", dtype=lib.float64),
        lambda lib, m, s, t: m(s, t, tgt_mask=m.generate_square_subsequent_mask(4, dtype=lib.float64),
                               tgt_is_causal=True)),
}


def _inputs(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(src, tgt) data: 5 source and 4 target positions, a batch of 3."""
    src, tgt = _data((5, 3, 8), 1), _data((4, 3, 8), 2)
    if "batch_first" in name:
        return src.transpose(1, 0, 2).copy(), tgt.transpose(1, 0, 2).copy()
    return src, tgt


@pytest.mark.torch
@pytest.mark.parametrize("name", list(CASES))
def test_transformer_layers_match_torch_from_the_same_seed(name: str) -> None:
    torch = pytest.importorskip("torch")
    build, call = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's nested-tensor notice; checked in its own test
        tapegrad.manual_seed(0)
        ours = build(tapegrad)
        torch.manual_seed(0)
        theirs = build(torch)
    assert repr(ours) == repr(theirs)
    names = [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_parameters()] == names
    for n, p, q in zip(names, ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-14, err_msg=n)  # same draws
    src, tgt = _inputs(name)
    a, b = (tapegrad.tensor(src, requires_grad=True), tapegrad.tensor(tgt, requires_grad=True))
    c, d = (torch.tensor(src, requires_grad=True), torch.tensor(tgt, requires_grad=True))
    out, ref = call(tapegrad, ours, a, b), call(torch, theirs, c, d)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = tapegrad.tensor(_data(tuple(out.shape), 3))
    (out * weights).sum().backward()
    (ref * torch.tensor(weights.numpy())).sum().backward()
    for x, y in ((a, c), (b, d)):
        assert (x.grad is None) == (y.grad is None)
        if x.grad is not None:
            np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-9, atol=1e-11)
    for n, p, q in zip(names, ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=n)


def test_encoder_and_decoder_layers_gradients_match_finite_differences() -> None:
    tapegrad.manual_seed(0)
    encoder = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation="gelu", dtype=tapegrad.float64)
    decoder = nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, norm_first=True, dtype=tapegrad.float64)
    padding = tapegrad.tensor(np.array([[False, False, True], [False, False, False]]))
    causal = nn.Transformer.generate_square_subsequent_mask(2, dtype=tapegrad.float64)
    params = list(encoder.parameters()) + list(decoder.parameters())

    def model(src: Any, tgt: Any, *_: Any) -> Any:
        memory = encoder(src, src_key_padding_mask=padding)
        return decoder(tgt, memory, tgt_mask=causal, memory_key_padding_mask=padding)

    src = tapegrad.tensor(_data((3, 2, 4), 1), requires_grad=True)
    tgt = tapegrad.tensor(_data((2, 2, 4), 2), requires_grad=True)
    assert tapegrad.autograd.gradcheck(model, (src, tgt, *params))


def test_clones_in_a_stack_start_equal_and_train_apart() -> None:
    tapegrad.manual_seed(0)
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0)
    stack = nn.TransformerEncoder(layer, 3, enable_nested_tensor=False)
    first, second = stack.layers[0], stack.layers[2]
    for p, q, r in zip(layer.parameters(), first.parameters(), second.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
        np.testing.assert_array_equal(p.detach().numpy(), r.detach().numpy())
        assert p is not q and q is not r
    template = layer.linear1.weight.detach().numpy().copy()
    (stack(tapegrad.randn(3, 2, 4)) * tapegrad.randn(3, 2, 4)).sum().backward()  # a plain sum's gradient is 0
    tapegrad.optim.SGD(stack.parameters(), lr=0.1).step()
    assert not np.array_equal(first.linear1.weight.detach().numpy(), second.linear1.weight.detach().numpy())
    np.testing.assert_array_equal(layer.linear1.weight.detach().numpy(), template)  # the template is not trained
    assert layer.linear1.weight.grad is None


def test_dropout_draws_from_the_generator_in_training_only() -> None:
    tapegrad.manual_seed(0)
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.5)
    x = tapegrad.randn(3, 2, 4)
    tapegrad.manual_seed(1)
    first = layer(x)
    tapegrad.manual_seed(1)
    np.testing.assert_array_equal(first.detach().numpy(), layer(x).detach().numpy())
    assert not np.allclose(first.detach().numpy(), layer(x).detach().numpy())  # new draws
    layer.eval()
    np.testing.assert_array_equal(layer(x).detach().numpy(), layer(x).detach().numpy())


@pytest.mark.torch
@pytest.mark.parametrize("padding", ["left_aligned", "not_left_aligned"])
def test_encoder_inference_with_padding_matches_torch(padding: str) -> None:
    torch = pytest.importorskip("torch")
    rows = ([[False] * 5, [False] * 3 + [True] * 2, [False] * 4 + [True]] if padding == "left_aligned"
            else [[False] * 5, [True] + [False] * 4, [False] * 4 + [True]])
    outputs = []
    for lib in (tapegrad, torch):
        lib.manual_seed(0)
        layer = lib.nn.TransformerEncoderLayer(8, 2, 12, batch_first=True, dtype=lib.float64)
        stack = lib.nn.TransformerEncoder(layer, 2, lib.nn.LayerNorm(8, dtype=lib.float64)).eval()
        with lib.no_grad():
            outputs.append(stack(lib.tensor(_data((3, 5, 8), 1)), src_key_padding_mask=lib.tensor(np.array(rows)))
                           .numpy())
    ours, theirs = outputs
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    if padding == "left_aligned":  # PyTorch's nested batch: zeros at padded positions, then the final norm
        np.testing.assert_allclose(ours[1, 3], np.zeros(8), atol=1e-12)


@pytest.mark.torch
def test_encoder_warns_as_torch_when_nested_tensors_cannot_be_used() -> None:
    torch = pytest.importorskip("torch")
    for options in ({}, {"batch_first": True, "norm_first": True}, {"batch_first": True, "nhead": 1},
                    {"batch_first": True, "activation": torch.tanh}):
        nhead = options.pop("nhead", 2)
        theirs_options = dict(options)
        ours_options = {k: (tapegrad.tanh if v is torch.tanh else v) for k, v in options.items()}
        with warnings.catch_warnings(record=True) as theirs:
            warnings.simplefilter("always")
            torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(4, nhead, 6, **theirs_options), 1)
        with warnings.catch_warnings(record=True) as ours:
            warnings.simplefilter("always")
            nn.TransformerEncoder(nn.TransformerEncoderLayer(4, nhead, 6, **ours_options), 1)
        assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 6, batch_first=True), 1)


def test_square_subsequent_mask() -> None:
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    assert mask.dtype == tapegrad.float32
    np.testing.assert_array_equal(mask.numpy(), [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=tapegrad.float64).dtype == tapegrad.float64


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.TransformerEncoderLayer(4, 2, activation="tanh"), RuntimeError,
     "activation should be relu/gelu, not tanh"),
    (lambda: nn.TransformerDecoderLayer(4, 2, activation="elu"), RuntimeError,
     "activation should be relu/gelu, not elu"),
    (lambda: nn.Transformer(4, 2, 1, 1, 6)(tapegrad.ones(3, 2, 4), tapegrad.ones(3, 1, 4)), RuntimeError,
     "the batch number of src and tgt must be equal"),
    (lambda: nn.Transformer(4, 2, 1, 1, 6, batch_first=True)(tapegrad.ones(2, 3, 4), tapegrad.ones(1, 3, 4)),
     RuntimeError, "the batch number of src and tgt must be equal"),
    (lambda: nn.Transformer(4, 2, 1, 1, 6)(tapegrad.ones(3, 2, 4), tapegrad.ones(3, 2, 5)), RuntimeError,
     "the feature number of src and tgt must be equal to d_model"),
    (lambda: nn.TransformerEncoderLayer(4, 2)(tapegrad.ones(3, 2, 4),
                                              src_mask=tapegrad.ones(3, 3, dtype=tapegrad.int64)), AssertionError,
     "only bool and floating types of src_mask are supported"),
    (lambda: nn.TransformerEncoderLayer(4, 3), AssertionError, "embed_dim must be divisible by num_heads"),
])
def test_errors_match_torch(call: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_unbatched_inputs() -> None:
    tapegrad.manual_seed(0)
    model = nn.Transformer(4, 2, 1, 1, 6, dropout=0.0)
    src, tgt = tapegrad.randn(5, 4), tapegrad.randn(3, 4)
    out = model(src, tgt, tgt_mask=model.generate_square_subsequent_mask(3))
    batched = model(src[:, None], tgt[:, None], tgt_mask=model.generate_square_subsequent_mask(3))
    np.testing.assert_allclose(out.detach().numpy(), batched[:, 0].detach().numpy(), rtol=1e-6, atol=1e-7)


def test_docstring_examples_run() -> None:
    import doctest

    from tapegrad.nn import functional as F
    from tapegrad.nn import transformer

    result = doctest.testmod(transformer, extraglobs={"tapegrad": tapegrad, "nn": nn, "F": F})
    assert result.attempted and not result.failed

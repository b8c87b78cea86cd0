"""RNN, LSTM, GRU and their cells: PyTorch's parameters (names, order, draws after the same
seed) and reprs; outputs, final states and every gradient against PyTorch (float64, where its
CPU kernels are the plain ones); dropout between layers drawing PyTorch's masks; gradients by
finite differences; PyTorch's errors."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad import nn
from tapegrad.autograd import gradcheck

CONFIGS: list[tuple[str, tuple, dict, tuple[int, ...], list[tuple[int, ...]] | None]] = [
    # (class, positional arguments, keyword arguments, input shape, initial state shapes)
    ("RNN", (3, 4), {}, (5, 2, 3), None),
    ("RNN", (3, 4), dict(nonlinearity="relu", num_layers=2, bidirectional=True), (5, 2, 3), [(4, 2, 4)]),
    ("LSTM", (3, 4), {}, (5, 2, 3), None),
    ("LSTM", (3, 4), dict(num_layers=2, batch_first=True, bidirectional=True), (2, 5, 3), [(4, 2, 4), (4, 2, 4)]),
    ("LSTM", (3, 4), dict(proj_size=2, num_layers=2), (5, 3), [(2, 2), (2, 4)]),
    ("GRU", (3, 4), dict(num_layers=3, bias=False), (5, 2, 3), [(3, 2, 4)]),
    ("GRU", (3, 4), dict(bidirectional=True, batch_first=True), (2, 4, 3), None),
    ("LSTMCell", (3, 4), {}, (2, 3), [(2, 4), (2, 4)]),
    ("GRUCell", (3, 4), {}, (3,), None),
    ("RNNCell", (3, 4), dict(nonlinearity="relu", bias=False), (2, 3), [(2, 4)]),
]
IDS = [f"{c[0]}-{k}" for k, c in enumerate(CONFIGS)]


def _make(lib: Any, name: str, args: tuple, kw: dict, seed: int = 3) -> Any:
    lib.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's notice that projections skip oneDNN
        return getattr(lib.nn, name)(*args, **kw)


def _run(lib: Any, module: Any, data: np.ndarray, states: list[np.ndarray] | None) -> tuple[Any, list[Any]]:
    """Forward, a loss over every output, backward: the loss and the gradient-carrying leaves."""
    x = lib.tensor(data, requires_grad=True)
    leaves = [x]
    hx = None
    if states is not None:
        hs = [lib.tensor(s, requires_grad=True) for s in states]
        leaves += hs
        hx = tuple(hs) if len(hs) == 2 else hs[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = module(x) if hx is None else module(x, hx)
    parts = list(result) if isinstance(result, tuple) else [result]
    flat = []
    for part in parts:
        flat += list(part) if isinstance(part, tuple) else [part]
    loss = sum((p * p).sum() * (k + 1) for k, p in enumerate(flat))
    loss.backward()
    return flat, leaves


@pytest.mark.parametrize("name, args, kw, shape, states", CONFIGS, ids=IDS)
def test_parameters_reprs_and_draws_match_torch(name: str, args: tuple, kw: dict, shape: tuple,
                                                states: Any) -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = _make(tapegrad, name, args, kw), _make(torch, name, args, kw)
    assert repr(ours) == repr(theirs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for mine, reference in zip(ours.parameters(), theirs.parameters(), strict=True):
        np.testing.assert_array_equal(mine.detach().numpy(), reference.detach().numpy())


@pytest.mark.parametrize("name, args, kw, shape, states", CONFIGS, ids=IDS)
def test_outputs_states_and_gradients_match_torch(name: str, args: tuple, kw: dict, shape: tuple,
                                                  states: Any) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    data = rng.standard_normal(shape)
    initial = None if states is None else [rng.standard_normal(s) for s in states]
    ours = _make(tapegrad, name, args, kw).double()
    theirs = _make(torch, name, args, kw).double()
    got, got_leaves = _run(tapegrad, ours, data, initial)
    want, want_leaves = _run(torch, theirs, data, initial)
    for mine, reference in zip(got, want, strict=True):
        np.testing.assert_allclose(mine.detach().numpy(), reference.detach().numpy(), rtol=1e-10, atol=1e-12)
        if kw.get("batch_first"):  # PyTorch transposes its output in place (TransposeBackward1)
            assert mine.grad_fn.name().startswith("TransposeBackward") or mine.grad_fn.name() == "StackBackward0"
        else:
            assert mine.grad_fn.name() == reference.grad_fn.name()
    for mine, reference in zip([*got_leaves, *ours.parameters()], [*want_leaves, *theirs.parameters()], strict=True):
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_dropout_between_layers_draws_torchs_masks() -> None:
    torch = pytest.importorskip("torch")
    data = np.random.default_rng(2).standard_normal((4, 2, 3)).astype(np.float32)
    outputs = []
    for lib in (tapegrad, torch):
        module = _make(lib, "GRU", (3, 5), dict(num_layers=3, dropout=0.4))
        lib.manual_seed(11)
        outputs.append(module(lib.tensor(data))[0].detach().numpy())
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)
    module = _make(tapegrad, "GRU", (3, 5), dict(num_layers=3, dropout=0.4)).eval()
    first, second = (module(tapegrad.tensor(data))[0].detach().numpy() for _ in range(2))
    np.testing.assert_array_equal(first, second)  # no dropout in eval mode


@pytest.mark.parametrize("name, kw", [("LSTM", dict(bidirectional=True)), ("GRU", dict(num_layers=2)),
                                      ("RNN", {})])
def test_gradients_match_finite_differences(name: str, kw: dict) -> None:
    # Through the input and the initial state (the parameters' gradients match PyTorch's above).
    tapegrad.manual_seed(0)
    module = getattr(nn, name)(2, 3, dtype=tapegrad.float64, **kw)
    rng = np.random.default_rng(3)
    layers = 2 if kw.get("bidirectional") or kw.get("num_layers") == 2 else 1
    x = tapegrad.tensor(rng.standard_normal((2, 3, 2)), requires_grad=True)  # (L, N, input_size)
    h = tapegrad.tensor(rng.standard_normal((layers, 3, 3)), requires_grad=True)
    if name == "LSTM":
        c = tapegrad.tensor(rng.standard_normal((layers, 3, 3)), requires_grad=True)
        assert gradcheck(lambda x, h, c: module(x, (h, c))[1][1], (x, h, c))
        assert gradcheck(lambda x, h, c: module(x, (h, c))[0], (x, h, c))
    else:
        assert gradcheck(lambda x, h: module(x, h)[0], (x, h))


def test_errors() -> None:
    lstm, gru = nn.LSTM(3, 4), nn.GRU(3, 4)
    with pytest.raises(ValueError, match="LSTM: Expected input to be 2D or 3D, got 4D instead"):
        lstm(tapegrad.randn(2, 3, 3, 3))
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 3, got 5"):
        lstm(tapegrad.randn(2, 3, 5))
    with pytest.raises(RuntimeError, match="Expected hidden\\[1\\] size \\(1, 3, 4\\), got \\[2, 3, 4\\]"):
        lstm(tapegrad.randn(2, 3, 3), (tapegrad.zeros(1, 3, 4), tapegrad.zeros(2, 3, 4)))
    with pytest.raises(RuntimeError, match="Expected hidden size \\(1, 3, 4\\), got \\[1, 2, 4\\]"):
        gru(tapegrad.randn(2, 3, 3), tapegrad.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="does not match weight dtype"):
        gru(tapegrad.randn(2, 3, 3, dtype=tapegrad.float64))
    with pytest.raises(RuntimeError, match="For unbatched 2-D input, hx should also be 2-D but got 3-D tensor"):
        gru(tapegrad.randn(2, 3), tapegrad.zeros(1, 1, 4))
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.GRU(3, 0)
    with pytest.raises(ValueError, match="num_layers must be greater than zero"):
        nn.GRU(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="dropout should be a number in range \\[0, 1\\]"):
        nn.GRU(3, 4, dropout=2)
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM, not RNN or GRU"):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(TypeError, match="hidden_size should be of type int, got: float"):
        nn.GRU(3, 4.0)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'foo'. Select from 'tanh' or 'relu'."):
        nn.RNN(3, 4, nonlinearity="foo")
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.GRU(3, 4, dropout=0.5)
    with pytest.raises(RuntimeError, match="For batched 3-D input, hx and cx should also be 3-D but got "
                                           "\\(2-D, 2-D\\) tensors"):
        lstm(tapegrad.randn(2, 3, 3), (tapegrad.zeros(1, 4), tapegrad.zeros(1, 4)))
    with pytest.raises(RuntimeError, match="For batched 3-D input, hx should also be 3-D but got 2-D tensor"):
        gru(tapegrad.randn(2, 3, 3), tapegrad.zeros(1, 4))
    with pytest.raises(RuntimeError, match="Expected sequence length to be larger than 0 in RNN"):
        gru(tapegrad.randn(0, 3, 3))
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM, not RNN or GRU"):
        nn.RNN(3, 4, proj_size=0)
    with pytest.raises(ValueError, match="LSTMCell: Expected hx\\[0\\] to be 1D or 2D, got 3D instead"):
        nn.LSTMCell(3, 4)(tapegrad.randn(2, 3), (tapegrad.zeros(1, 2, 4), tapegrad.zeros(2, 4)))
    with pytest.raises(RuntimeError, match="Input batch size 2 doesn't match hidden1 batch size 3"):
        nn.LSTMCell(3, 4)(tapegrad.randn(2, 3), (tapegrad.zeros(2, 4), tapegrad.zeros(3, 4)))
    with pytest.raises(ValueError, match="RNNCell: Expected hidden to be 1D or 2D, got 3D instead"):
        nn.RNNCell(3, 4)(tapegrad.randn(2, 3), tapegrad.zeros(1, 2, 4))
    cell = nn.GRUCell(3, 4)
    with pytest.raises(ValueError, match="GRUCell: Expected input to be 1D or 2D, got 3D instead"):
        cell(tapegrad.randn(2, 3, 3))
    with pytest.raises(RuntimeError, match="input has inconsistent input_size: got 5 expected 3"):
        cell(tapegrad.randn(2, 5))
    with pytest.raises(RuntimeError, match="Input batch size 2 doesn't match hidden0 batch size 3"):
        cell(tapegrad.randn(2, 3), tapegrad.zeros(3, 4))


def test_states_as_lists_and_the_weight_views() -> None:
    # PyTorch accepts [h, c] for (h, c); all_weights lists each layer's parameters.
    lstm, cell = nn.LSTM(3, 4, num_layers=2), nn.LSTMCell(3, 4)
    x, h, c = tapegrad.randn(2, 1, 3), tapegrad.randn(2, 1, 4), tapegrad.randn(2, 1, 4)
    np.testing.assert_array_equal(lstm(x, [h, c])[0].detach().numpy(), lstm(x, (h, c))[0].detach().numpy())
    np.testing.assert_array_equal(cell(x[0], [h[0], c[0]])[1].detach().numpy(),
                                  cell(x[0], (h[0], c[0]))[1].detach().numpy())
    lstm.flatten_parameters()
    assert [[p.shape for p in layer] for layer in lstm.all_weights] == [
        [(16, 3), (16, 4), (16,), (16,)], [(16, 4), (16, 4), (16,), (16,)]]

"""``nn.RNNBase`` and ``nn.RNNCellBase``, public as in PyTorch: every recurrent layer and cell is
an instance of its base, the bases take PyTorch's constructor arguments and draw the same
parameters after the same seed, and their errors match PyTorch's."""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest
from torch_errors import raises_as_torch

import tapegrad
from tapegrad import nn

LAYERS = [("RNN", "RNNBase"), ("LSTM", "RNNBase"), ("GRU", "RNNBase"), ("RNNCell", "RNNCellBase"),
          ("LSTMCell", "RNNCellBase"), ("GRUCell", "RNNCellBase")]


@pytest.mark.torch
@pytest.mark.parametrize("layer, base", LAYERS)
def test_each_layer_is_an_instance_of_its_base_as_in_torch(layer: str, base: str) -> None:
    torch = pytest.importorskip("torch")
    for lib in (tapegrad, torch):
        module = getattr(lib.nn, layer)(3, 4)
        assert isinstance(module, getattr(lib.nn, base)) and isinstance(module, lib.nn.Module)
        other = "RNNCellBase" if base == "RNNBase" else "RNNBase"
        assert not isinstance(module, getattr(lib.nn, other))
    assert "RNNBase" in tapegrad.nn.rnn.__all__ and "RNNCellBase" in tapegrad.nn.rnn.__all__


@pytest.mark.torch
@pytest.mark.parametrize("base", ["RNNBase", "RNNCellBase"])
def test_constructor_arguments_are_torch_s(base: str) -> None:
    torch = pytest.importorskip("torch")
    ours = inspect.signature(getattr(nn, base).__init__).parameters
    theirs = inspect.signature(getattr(torch.nn, base).__init__).parameters
    assert list(ours) == list(theirs)
    assert [p.default for p in ours.values()] == [p.default for p in theirs.values()]


def _parameters(module: Any) -> dict[str, np.ndarray]:
    return {name: p.detach().numpy() for name, p in module.named_parameters()}


@pytest.mark.torch
@pytest.mark.parametrize("arguments", [{"input_size": 3, "hidden_size": 4, "bias": True, "num_chunks": 2},
                                       {"input_size": 5, "hidden_size": 2, "bias": False, "num_chunks": 3}], ids=str)
def test_a_cell_base_draws_torch_s_parameters(arguments: dict) -> None:
    torch = pytest.importorskip("torch")
    modules = []
    for lib in (tapegrad, torch):
        lib.manual_seed(2)
        modules.append(lib.nn.RNNCellBase(**arguments))
    ours, theirs = (_parameters(m) for m in modules)
    assert list(ours) == list(theirs)
    for name in theirs:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    assert ours["weight_ih"].shape == (arguments["num_chunks"] * arguments["hidden_size"], arguments["input_size"])
    assert repr(modules[0]) == repr(modules[1])
    assert modules[0].bias_ih is None if not arguments["bias"] else modules[0].bias_ih is not None


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
def test_a_layer_base_draws_torch_s_parameters(mode: str) -> None:
    torch = pytest.importorskip("torch")
    modules = []
    for lib in (tapegrad, torch):
        lib.manual_seed(3)
        modules.append(lib.nn.RNNBase(mode, 3, 4, num_layers=2, bidirectional=True))
    ours, theirs = (_parameters(m) for m in modules)
    assert list(ours) == list(theirs)
    for name in theirs:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    assert repr(modules[0]) == repr(modules[1]) and modules[0].mode == mode


@pytest.mark.torch
def test_a_subclass_of_the_cell_base_works_as_in_torch() -> None:
    """A user's cell built on ``RNNCellBase`` (as PyTorch's own cells are) gets its weights."""
    torch = pytest.importorskip("torch")
    outputs = []
    for lib in (tapegrad, torch):
        class MinimalCell(lib.nn.RNNCellBase):
            def __init__(self, input_size: int, hidden_size: int) -> None:
                super().__init__(input_size, hidden_size, bias=True, num_chunks=1)

            def forward(self, x: Any, h: Any) -> Any:
                return (x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh).tanh()

        lib.manual_seed(4)
        cell = MinimalCell(3, 2)
        x = lib.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3) / 6)
        outputs.append(cell(x, lib.zeros(2, 2)).detach().numpy())
    np.testing.assert_allclose(*outputs, rtol=1e-6)


@pytest.mark.torch
def test_an_unknown_mode_is_refused_as_in_torch() -> None:
    raises_as_torch(lambda L: L.nn.RNNBase("ELMAN", 3, 4))

"""Recurrent layers: ``RNN``, ``LSTM`` (with ``proj_size``), ``GRU``, their cells, and the bases
they share, ``RNNBase`` and ``RNNCellBase``, public as in PyTorch.

Each step is the cell's formula in recorded ops, written as PyTorch's CPU cells write it
(``aten/native/RNN.cpp``): the input and hidden projections added, then the gates, so values
and gradients agree with PyTorch's to rounding, on either device, and compiled steps record
them like any other ops. A layer loops over time in Python and stacks the step outputs
(``StackBackward0``); a bidirectional layer joins its two directions with ``cat``, and the
final hidden states are stacked per layer and direction, as PyTorch's plain CPU kernels do
(its oneDNN LSTM names its output ``MkldnnRnnLayerBackward0``, and ``batch_first`` outputs
read ``TransposeBackward0`` here where its in-place transpose reads ``TransposeBackward1``). Parameters are
named, ordered and drawn (uniform in ±1/sqrt(hidden_size)) as PyTorch's, so the same seed
gives the same weights.

A layer also takes a ``PackedSequence`` (``nn.utils.rnn``): each step then runs on the rows of
the sequences still running at that step, a finished sequence keeps its last state as its
``h_n``, and the output is packed like the input. Compiled steps refuse packed input, whose
step sizes Python reads from ``batch_sizes``.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import numpy as np

from .. import creation
from ..autograd.grad_mode import no_grad
from ..compiler import trace
from ..ops.movement import cat, stack
from ..tensor import Tensor
from . import functional as F
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence
from ..user_warnings import warn_user

__all__: list[str] = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _rnn_cell(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None,
              relu: bool) -> Tensor:
    pre = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    return pre.relu() if relu else pre.tanh()


def _lstm_cell(x: Tensor, state: tuple[Tensor, Tensor], w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
               b_hh: Tensor | None, w_hr: Tensor | None = None) -> tuple[Tensor, Tensor]:
    h, c = state
    gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, 1)
    c_next = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h_next = o.sigmoid() * c_next.tanh()
    return (h_next if w_hr is None else F.linear(h_next, w_hr)), c_next


def _gru_cell(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None) -> Tensor:
    x_r, x_z, x_n = F.linear(x, w_ih, b_ih).chunk(3, 1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, 1)
    reset = (h_r + x_r).sigmoid()
    update = (h_z + x_z).sigmoid()
    new = (x_n + h_n * reset).tanh()
    return (h - new) * update + new


def _check_int(name: str, value: Any) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")


def _no_projection(proj_size: int | None) -> None:
    """PyTorch's ``RNN`` and ``GRU`` refuse a ``proj_size`` argument of any value."""
    if proj_size is not None:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")


class RNNBase(Module):
    """What ``RNN``, ``LSTM`` and ``GRU`` share: PyTorch's arguments, checks, parameters and
    the loop over layers, directions and time. ``mode`` is ``"RNN_TANH"``, ``"RNN_RELU"``,
    ``"LSTM"`` or ``"GRU"``.

    >>> isinstance(nn.LSTM(3, 4), nn.RNNBase), nn.RNNBase("GRU", 3, 4)
    (True, RNNBase(3, 4))
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an element "
                             "being zeroed")
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        if dropout > 0 and num_layers == 1:
            warn_user("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                      f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                      UserWarning)
        _check_int("hidden_size", hidden_size)
        _check_int("num_layers", num_layers)
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        directions = 2 if bidirectional else 1
        out_size = proj_size or hidden_size
        gate_size = _GATES[mode] * hidden_size
        self._weight_names: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(directions):
                layer_input = input_size if layer == 0 else out_size * directions
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = [("weight_ih", (gate_size, layer_input)), ("weight_hh", (gate_size, out_size))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                names = []
                for name, shape in shapes:
                    setattr(self, name + suffix, Parameter(creation.empty(shape, dtype=dtype, device=device)))
                    names.append(name + suffix)
                self._weight_names.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw every parameter, in order, uniform in ±1/sqrt(hidden_size), as PyTorch does."""
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        with no_grad():
            for weight in self.parameters():
                weight.uniform_(-bound, bound)

    def _weights(self, index: int) -> dict[str, Tensor | None]:
        found: dict[str, Tensor | None] = {"bias_ih": None, "bias_hh": None, "weight_hr": None}
        for name in self._weight_names[index]:
            found[name.split("_l")[0]] = getattr(self, name)
        return found

    def _step(self, x: Tensor, state: Any, w: dict[str, Tensor | None]) -> tuple[Tensor, Any]:
        """One time step: the output and the next state."""
        args = (w["weight_ih"], w["weight_hh"], w["bias_ih"], w["bias_hh"])
        if self.mode == "LSTM":
            h, c = _lstm_cell(x, state, *args, w["weight_hr"])
            return h, (h, c)
        h = _gru_cell(x, state, *args) if self.mode == "GRU" else _rnn_cell(x, state, *args,
                                                                            self.mode == "RNN_RELU")
        return h, h

    def _check(self, input: Tensor, hx: Any) -> None:
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(self.mode, self.mode)
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D instead")
        self._check_features(input)
        if input.shape[1 if self.batch_first and input.ndim == 3 else 0] == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        if hx is None:
            return
        states = tuple(hx) if isinstance(hx, (tuple, list)) else (hx,)
        kind = "unbatched 2-D" if input.ndim == 2 else "batched 3-D"
        if any(state.ndim != input.ndim for state in states):
            if len(states) == 2:
                ranks = ", ".join(f"{state.ndim}-D" for state in states)
                raise RuntimeError(f"For {kind} input, hx and cx should also be {input.ndim}-D but got ({ranks}) "
                                   "tensors")
            raise RuntimeError(f"For {kind} input, hx should also be {input.ndim}-D but got {states[0].ndim}-D tensor")

    def _check_features(self, input: Tensor) -> None:
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]}")
        weight = self.weight_ih_l0
        if input.dtype != weight.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). Convert "
                             f"input: input.to({weight.dtype}), or convert model: model.to({input.dtype})")

    def _check_hidden(self, state: Tensor, expected: tuple[int, ...], which: str) -> None:
        if tuple(state.shape) != expected:
            raise RuntimeError(f"Expected {which} size {expected}, got {list(state.shape)}")

    def flatten_parameters(self) -> None:
        """PyTorch compacts the weights for cuDNN here; these layers read them where they are."""

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters of each layer and direction, in order."""
        return [[getattr(self, name) for name in names] for names in self._weight_names]

    def forward(self, input: Tensor | PackedSequence, hx: Any = None) -> tuple[Any, Any]:
        if isinstance(hx, list):
            hx = tuple(hx)
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        self._check(input, hx)
        unbatched = input.ndim == 2
        if unbatched:
            input = input.unsqueeze(1)
            hx = None if hx is None else (tuple(h.unsqueeze(1) for h in hx) if isinstance(hx, tuple)
                                          else hx.unsqueeze(1))
        elif self.batch_first:
            input = input.transpose(0, 1)
        h0, c0 = self._initial_state(hx, input.shape[1], input)
        output, h_n, c_n = self._layers(input, h0, c0, self._dense_direction)
        if unbatched:
            output, h_n = output.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, ((h_n, c_n) if c_n is not None else h_n)

    def _initial_state(self, hx: Any, batch: int, like: Tensor) -> tuple[Tensor, Tensor | None]:
        """(h0, c0): ``hx`` checked against the layer's sizes, or zeros (c0 None but for LSTM)."""
        directions = 2 if self.bidirectional else 1
        lstm = self.mode == "LSTM"
        h_shape = (self.num_layers * directions, batch, self.proj_size or self.hidden_size)
        c_shape = (self.num_layers * directions, batch, self.hidden_size)
        if hx is None:
            h0 = creation.zeros(h_shape, dtype=like.dtype, device=like.device)
            return h0, (creation.zeros(c_shape, dtype=like.dtype, device=like.device) if lstm else None)
        if lstm:
            h0, c0 = hx
            self._check_hidden(h0, h_shape, "hidden[0]")
            self._check_hidden(c0, c_shape, "hidden[1]")
            return h0, c0
        self._check_hidden(hx, h_shape, "hidden")
        return hx, None

    def _layers(self, input: Tensor, h0: Tensor, c0: Tensor | None,
                direction: Callable[[Tensor, Any, dict[str, Tensor | None], bool], tuple[Tensor, Any]]
                ) -> tuple[Tensor, Tensor, Tensor | None]:
        """(output, h_n, c_n) of the layers over ``input``; ``direction(x, initial state,
        weights, reverse)`` runs one direction of one layer and returns its output and final
        state. Directions join on the feature dim, with dropout between layers in training."""
        lstm = self.mode == "LSTM"
        directions = 2 if self.bidirectional else 1
        finals_h, finals_c = [], []
        for layer in range(self.num_layers):
            outputs = []
            for d in range(directions):
                index = layer * directions + d
                initial = (h0[index], c0[index]) if lstm else h0[index]
                produced, state = direction(input, initial, self._weights(index), bool(d))
                outputs.append(produced)
                finals_h.append(state[0] if lstm else state)
                if lstm:
                    finals_c.append(state[1])
            input = outputs[0] if directions == 1 else cat(outputs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                input = F.dropout(input, self.dropout, True)
        return input, stack(finals_h, 0), (stack(finals_c, 0) if lstm else None)

    def _dense_direction(self, input: Tensor, initial: Any, w: dict[str, Tensor | None],
                         reverse: bool) -> tuple[Tensor, Any]:
        """One direction of one layer over ``(L, N, *)`` input: its stacked outputs and final state."""
        state = initial
        steps = range(input.shape[0])
        produced = []
        for t in (reversed(steps) if reverse else steps):
            y, state = self._step(input[t], state, w)
            produced.append(y)
        if not produced:
            size = (0, input.shape[1], self.proj_size or self.hidden_size)
            return creation.zeros(size, dtype=input.dtype, device=input.device), state
        if reverse:
            produced.reverse()
        return stack(produced, 0), state

    def _forward_packed(self, input: PackedSequence, hx: Any) -> tuple[PackedSequence, Any]:
        """The layers over a packed batch: each step runs on the rows of the sequences still
        running, and a finished sequence keeps its last state (its ``h_n``)."""
        if trace.ACTIVE is not None:
            trace.refuse("a recurrent layer over a PackedSequence (its batch_sizes)")
        data, batch_sizes, sorted_indices, unsorted_indices = input
        if data.ndim != 2:
            raise RuntimeError(f"input must have 2 dimensions, got {data.ndim}")
        self._check_features(data)
        sizes = [int(n) for n in batch_sizes.numpy(force=True)]
        lstm = self.mode == "LSTM"
        if hx is not None and sorted_indices is not None:  # the caller's batch order to the packed one
            hx = tuple(h.index_select(1, sorted_indices) for h in hx) if lstm else hx.index_select(1, sorted_indices)
        h0, c0 = self._initial_state(hx, sizes[0], data)

        def direction(x: Tensor, initial: Any, w: dict[str, Tensor | None], reverse: bool) -> tuple[Tensor, Any]:
            return self._packed_direction(x, sizes, initial, w, reverse)

        output, h_n, c_n = self._layers(data, h0, c0, direction)
        if unsorted_indices is not None:
            h_n = h_n.index_select(1, unsorted_indices)
            c_n = c_n.index_select(1, unsorted_indices) if c_n is not None else None
        return PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices), ((h_n, c_n) if lstm else h_n)

    def _packed_direction(self, data: Tensor, sizes: list[int], initial: Any, w: dict[str, Tensor | None],
                          reverse: bool) -> tuple[Tensor, Any]:
        """One direction of one layer over packed ``data``: (its packed output, the final state)."""
        lstm = self.mode == "LSTM"

        def rows(state: Any, start: int, stop: int) -> Any:
            return tuple(s[start:stop] for s in state) if lstm else state[start:stop]

        def join(first: Any, rest: Any) -> Any:
            return tuple(cat([a, b]) for a, b in zip(first, rest)) if lstm else cat([first, rest])

        offsets = np.concatenate([[0], np.cumsum(sizes)])
        produced: list[Tensor] = [None] * len(sizes)  # type: ignore[list-item]
        if not reverse:
            state = initial
            for t, n in enumerate(sizes):
                y, new = self._step(data[offsets[t]:offsets[t + 1]], rows(state, 0, n), w)
                produced[t] = y
                state = new if n == sizes[0] else join(new, rows(state, n, sizes[0]))  # finished ones keep theirs
            return cat(produced), state
        # Backwards in time a sequence joins when its last step comes, from its initial state.
        state = rows(initial, 0, sizes[-1])
        for t in reversed(range(len(sizes))):
            running = sizes[t + 1] if t + 1 < len(sizes) else sizes[-1]
            if sizes[t] > running:
                state = join(state, rows(initial, running, sizes[t]))
            produced[t], state = self._step(data[offsets[t]:offsets[t + 1]], state, w)
        return cat(produced), state

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if self.batch_first is not False:
            text += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            text += f", bidirectional={self.bidirectional}"
        return text


class RNN(RNNBase):
    """An Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (``relu`` with
    ``nonlinearity='relu'``), over ``(L, N, input_size)`` (``batch_first``: ``(N, L, ...)``) or
    unbatched ``(L, input_size)`` inputs. Returns ``(output, h_n)``.

    >>> nn.RNN(3, 4, num_layers=2)
    RNN(3, 4, num_layers=2)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None, proj_size: int | None = None) -> None:
        _no_projection(proj_size)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """A long short-term memory layer; ``proj_size > 0`` projects each hidden state. Returns
    ``(output, (h_n, c_n))``.

    >>> nn.LSTM(3, 4, batch_first=True)
    LSTM(3, 4, batch_first=True)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(RNNBase):
    """A gated recurrent unit layer. Returns ``(output, h_n)``.

    >>> nn.GRU(3, 4, bidirectional=True)
    GRU(3, 4, bidirectional=True)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None, proj_size: int | None = None) -> None:
        _no_projection(proj_size)
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


class RNNCellBase(Module):
    """What ``RNNCell``, ``LSTMCell`` and ``GRUCell`` share: ``weight_ih`` ``(num_chunks *
    hidden_size, input_size)``, ``weight_hh`` ``(num_chunks * hidden_size, hidden_size)`` and the
    biases, drawn as PyTorch draws them, and the checks of inputs ``(N, input_size)`` or
    unbatched ``(input_size,)`` and their states.

    >>> nn.RNNCellBase(3, 4, bias=False, num_chunks=2).weight_hh.shape
    tapegrad.Size([8, 4])
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        size = num_chunks * hidden_size
        self.weight_ih = Parameter(creation.empty((size, input_size), dtype=dtype, device=device))
        self.weight_hh = Parameter(creation.empty((size, hidden_size), dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(creation.empty(size, dtype=dtype, device=device))
            self.bias_hh = Parameter(creation.empty(size, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters

    def _inputs(self, input: Tensor, hx: Any) -> tuple[Tensor, Any, bool]:
        """The input and states as 2-D batches, and whether the input was unbatched."""
        if input.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[-1]} expected {self.input_size}")
        unbatched = input.ndim == 1
        if unbatched:
            input = input.unsqueeze(0)
        batch = input.shape[0]
        pair = isinstance(hx, (tuple, list))
        states = tuple(hx) if pair else (hx,)
        checked = []
        for k, state in enumerate(states):
            if state is None:
                state = creation.zeros(batch, self.hidden_size, dtype=input.dtype, device=input.device)
            else:
                if state.ndim not in (1, 2):
                    which = f"hx[{k}]" if pair else "hidden"
                    raise ValueError(f"{type(self).__name__}: Expected {which} to be 1D or 2D, got {state.ndim}D "
                                     "instead")
                if unbatched:
                    state = state.unsqueeze(0)
            if state.shape[0] != batch:
                raise RuntimeError(f"Input batch size {batch} doesn't match hidden{k} batch size {state.shape[0]}")
            if state.shape[1] != self.hidden_size:
                raise RuntimeError(f"hidden{k} has inconsistent hidden_size: got {state.shape[1]}, expected "
                                   f"{self.hidden_size}")
            checked.append(state)
        return input, (tuple(checked) if pair else checked[0]), unbatched

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        return text + (f", nonlinearity={nonlinearity}" if nonlinearity != "tanh" else "")


class RNNCell(RNNCellBase):
    """``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (``relu`` with ``nonlinearity='relu'``)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, h, unbatched = self._inputs(input, hx)
        out = _rnn_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity == "relu")
        return out.squeeze(0) if unbatched else out


class LSTMCell(RNNCellBase):
    """One LSTM step; ``hx`` is ``(h, c)``, and so is the result."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        x, state, unbatched = self._inputs(input, hx if hx is not None else (None, None))
        h, c = _lstm_cell(x, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(RNNCellBase):
    """One GRU step."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, h, unbatched = self._inputs(input, hx)
        out = _gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out.squeeze(0) if unbatched else out

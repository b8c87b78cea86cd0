"""Per-op micro benchmarks of eager tapegrad at a small size (per-call overhead) and a large size
(kernel throughput): elementwise, reductions, matmul, convolution and optimizer steps.

A benchmark whose op does not exist in the commit being measured raises NotImplementedError in
``setup``, which asv records as skipped, so the suite also runs against older commits.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tapegrad

_SIZES = ["small", "large"]


def _requires(owner: Any, name: str) -> Any:
    function = getattr(owner, name, None)
    if function is None:
        raise NotImplementedError(f"{getattr(owner, '__name__', owner)}.{name} does not exist here")
    return function


class Elementwise:
    """One elementwise op on contiguous float32 data: 64 elements or 4M elements."""

    params = (["add", "mul", "tanh", "exp", "sigmoid"], _SIZES)
    param_names = ["op", "size"]
    _numel = {"small": 64, "large": 1 << 22}
    _ops: dict[str, Callable[[Any, Any], Any]] = {
        "add": lambda x, y: x + y,
        "mul": lambda x, y: x * y,
        "tanh": lambda x, y: tapegrad.tanh(x),
        "exp": lambda x, y: tapegrad.exp(x),
        "sigmoid": lambda x, y: tapegrad.sigmoid(x),
    }

    def setup(self, op: str, size: str) -> None:
        tapegrad.manual_seed(0)
        n = self._numel[size]
        self.fn = self._ops[op]
        self.x, self.y = tapegrad.randn(n), tapegrad.randn(n)
        self.xg = tapegrad.randn(n, requires_grad=True)
        self.yg = tapegrad.randn(n, requires_grad=True)
        self.grad = tapegrad.randn(n)
        for _ in range(2):  # compile the kernels outside the timing
            self.time_forward(op, size)
            self.time_forward_backward(op, size)

    def time_forward(self, op: str, size: str) -> Any:
        return self.fn(self.x, self.y)

    def time_forward_backward(self, op: str, size: str) -> None:
        self.xg.grad = self.yg.grad = None
        self.fn(self.xg, self.yg).backward(self.grad)


class Reduction:
    """A reduction of a float32 matrix (8x8 or 2048x2048) to a scalar or along its last dim."""

    params = (["sum", "mean", "amax"], _SIZES)
    param_names = ["op", "size"]
    _shape = {"small": (8, 8), "large": (2048, 2048)}

    def setup(self, op: str, size: str) -> None:
        tapegrad.manual_seed(0)
        self.op = op
        self.x = tapegrad.randn(*self._shape[size])
        self.xg = tapegrad.randn(*self._shape[size], requires_grad=True)
        for _ in range(2):
            self.time_all(op, size)
            self.time_last_dim(op, size)
            self.time_all_backward(op, size)

    def time_all(self, op: str, size: str) -> Any:
        return getattr(self.x, op)()

    def time_last_dim(self, op: str, size: str) -> Any:
        return getattr(self.x, op)(dim=-1)

    def time_all_backward(self, op: str, size: str) -> None:
        self.xg.grad = None
        getattr(self.xg, op)().backward()


class Matmul:
    """Square float32 matmul: 16x16 (overhead) or 512x512 (BLAS); W6 covers 1024x1024."""

    params = (_SIZES,)
    param_names = ["size"]
    _n = {"small": 16, "large": 512}

    def setup(self, size: str) -> None:
        tapegrad.manual_seed(0)
        n = self._n[size]
        self.a, self.b = tapegrad.randn(n, n), tapegrad.randn(n, n)
        self.ag = tapegrad.randn(n, n, requires_grad=True)
        self.bg = tapegrad.randn(n, n, requires_grad=True)
        self.grad = tapegrad.randn(n, n)
        for _ in range(2):
            self.time_forward(size)
            self.time_forward_backward(size)

    def time_forward(self, size: str) -> Any:
        return self.a @ self.b

    def time_forward_backward(self, size: str) -> None:
        self.ag.grad = self.bg.grad = None
        (self.ag @ self.bg).backward(self.grad)


class OptimizerStep:
    """``optimizer.step()`` over four float32 parameters of 64 or 1M elements, gradients set."""

    params = (["sgd_momentum", "adam"], _SIZES)
    param_names = ["optimizer", "size"]
    _numel = {"small": 64, "large": 1 << 20}

    def setup(self, optimizer: str, size: str) -> None:
        tapegrad.manual_seed(0)
        n = self._numel[size]
        parameters = [tapegrad.nn.Parameter(tapegrad.randn(n)) for _ in range(4)]
        for p in parameters:
            p.grad = tapegrad.randn(n)
        if optimizer == "adam":
            self.optimizer = _requires(tapegrad.optim, "Adam")(parameters, lr=1e-3)
        else:
            self.optimizer = tapegrad.optim.SGD(parameters, lr=0.01, momentum=0.9)
        for _ in range(2):  # the first step creates the optimizer state
            self.optimizer.step()

    def time_step(self, optimizer: str, size: str) -> None:
        self.optimizer.step()


class Conv2d:
    """``nn.functional.conv2d``, 3x3 kernel, padding 1: a (1, 3, 8, 8) input with 4 filters, or a
    (16, 16, 32, 32) input with 32 filters."""

    params = (_SIZES,)
    param_names = ["size"]
    # (input shape, weight shape)
    _shapes = {"small": ((1, 3, 8, 8), (4, 3, 3, 3)), "large": ((16, 16, 32, 32), (32, 16, 3, 3))}

    def setup(self, size: str) -> None:
        self.conv2d = _requires(tapegrad.nn.functional, "conv2d")
        tapegrad.manual_seed(0)
        input_shape, weight_shape = self._shapes[size]
        self.x, self.w = tapegrad.randn(*input_shape), tapegrad.randn(*weight_shape)
        self.b = tapegrad.randn(weight_shape[0])
        self.xg = tapegrad.randn(*input_shape, requires_grad=True)
        self.wg = tapegrad.randn(*weight_shape, requires_grad=True)
        self.bg = tapegrad.randn(weight_shape[0], requires_grad=True)
        self.grad = tapegrad.randn(input_shape[0], weight_shape[0], *input_shape[2:])
        for _ in range(2):
            self.time_forward(size)
            self.time_forward_backward(size)

    def time_forward(self, size: str) -> Any:
        return self.conv2d(self.x, self.w, self.b, padding=1)

    def time_forward_backward(self, size: str) -> None:
        self.xg.grad = self.wg.grad = self.bg.grad = None
        self.conv2d(self.xg, self.wg, self.bg, padding=1).backward(self.grad)

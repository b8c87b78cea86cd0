"""Eager-mode workloads W1 and W1b of the design document."""
import tapegrad


class SmallOps:
    """W1: ``a + b`` on 16 floats that require grad; W1b: a short chain with backward."""

    def setup(self) -> None:
        tapegrad.manual_seed(0)
        self.a = tapegrad.randn(16, requires_grad=True)
        self.b = tapegrad.randn(16, requires_grad=True)
        self.time_add()
        self.time_chain_backward()

    def time_add(self) -> None:
        self.a + self.b

    def time_chain_backward(self) -> None:
        a, b = self.a, self.b
        ((a * b + 1).tanh() * a).sum().backward()

"""tapegrad: PyTorch-compatible autograd on a linear tape, replayed by Numba kernels."""
__version__ = "0.1.0"

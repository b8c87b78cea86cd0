"""The kernels behind the ops (CPU through Numba, CUDA through numba-cuda), and the flags
PyTorch scripts set on ``torch.backends``: ``cudnn``, ``cuda.matmul``, ``mps`` and ``mkldnn``.

tapegrad uses none of those libraries: its CUDA kernels are its own (products go to cuBLAS
when CuPy is installed), so ``cudnn.is_available()`` and the like say False, and the flags are
kept, readable and settable, without changing what the kernels compute. For run-to-run
reproducibility use ``tapegrad.use_deterministic_algorithms``.
"""
from __future__ import annotations


class cudnn:  # noqa: N801 - torch.backends.cudnn
    enabled: bool = True
    benchmark: bool = False
    deterministic: bool = False
    allow_tf32: bool = True

    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def version() -> None:
        return None


class _Matmul:
    allow_tf32: bool = False
    allow_fp16_reduced_precision_reduction: bool = True
    allow_bf16_reduced_precision_reduction: bool = True


class cuda:  # noqa: N801 - torch.backends.cuda
    matmul = _Matmul()


class mps:  # noqa: N801 - torch.backends.mps
    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def is_built() -> bool:
        return False


class mkldnn:  # noqa: N801 - torch.backends.mkldnn
    enabled: bool = True

    @staticmethod
    def is_available() -> bool:
        return False

"""The CPU backend's elementwise kernels: operands of any layout share a few specialisations
instead of compiling one per layout mix and rank."""
from __future__ import annotations

import numpy as np

from tapegrad.backends import cpu
from tapegrad.ops.elementwise import _mul


def test_broadcast_views_read_as_numpy_broadcasts_and_are_not_read_only() -> None:
    rng = np.random.default_rng(0)
    for shape, target in [((1, 4), (3, 4)), ((4,), (2, 3, 4)), ((3, 1), (3, 5)), ((), (2, 2)), ((1,), (0,))]:
        x = rng.standard_normal(shape)
        for operand in (x, np.asfortranarray(x), x[..., ::-1] if x.ndim else x):
            view = cpu.broadcast_view(operand, target)
            np.testing.assert_array_equal(view, np.broadcast_to(operand, target))
            assert view.flags.writeable and view.base is not None


def _layouts(signature: tuple) -> tuple[tuple[str, bool], ...]:
    return tuple((t.layout, t.mutable) for t in signature if hasattr(t, "layout"))


def test_every_layout_mix_runs_on_the_contiguous_or_the_any_layout_specialisation() -> None:
    rng = np.random.default_rng(1)
    wide = rng.standard_normal((6, 8)).astype(np.float32)
    row = rng.standard_normal((1, 4)).astype(np.float32)
    kernel = cpu.loop_kernels(_mul, "aa")[2]
    dtype = np.dtype(np.float32)
    fortran = np.asfortranarray(wide[:3, :4])
    contiguous = np.ascontiguousarray(wide[3:, 4:])
    pairs = [(wide[:3, ::2], wide[3:, 1::2]),           # sliced
             (fortran, contiguous),                      # F and C
             (contiguous[::-1], fortran),                # negative strides
             (wide[:3, ::2], row),                       # broadcast (through broadcast_view)
             (np.broadcast_to(row, (3, 4)), fortran),    # read-only
             (contiguous, contiguous)]
    for a, b in pairs:
        np.testing.assert_array_equal(cpu.elementwise(_mul, [a, b], (3, 4), dtype), a * b)
    out = np.empty((3, 4), dtype, order="F")
    cpu.run_loop(kernel, out, (fortran, fortran))
    np.testing.assert_array_equal(out, fortran * fortran)
    # Of every mix above, only two specialisations exist: all C-contiguous (vectorised) and any
    # layout, operands read-only. Left to Numba, each mix compiled a specialisation of its own.
    float32 = [s for s in kernel.signatures if s[0].dtype.name == "float32"]
    assert sorted(_layouts(s) for s in float32) == [
        (("A", True), ("A", False), ("A", False)), (("C", True), ("C", True), ("C", True))]


def test_flat_kernels_compile_once_for_every_rank() -> None:
    kernels = cpu._kernels_module(_mul, "aa")
    for shape in [(24,), (4, 6), (2, 3, 4), (2, 1, 3, 4), ()]:
        x = np.arange(float(np.prod(shape, dtype=int))).reshape(shape) + 1
        np.testing.assert_array_equal(cpu.elementwise(_mul, [x, x], shape, np.dtype(np.float64)), x * x)
    assert {s[0].ndim for s in kernels.flat.signatures} == {1}


def test_division_is_correctly_rounded_in_every_kernel_kind() -> None:
    # A kernel allowed to divide by multiplying with a hoisted reciprocal is an ulp off for
    # about a third of float32 quotients (3500 / 1000 gave 3.5000002): eager ops, the fused
    # backward and compiled code must all give NumPy's (and PyTorch's) correctly rounded ones.
    import tapegrad

    assert (tapegrad.tensor([3500.0]) / 1000).item() == 3.5
    rng = np.random.default_rng(2)
    for dtype in (np.float32, np.float64):
        a, b = rng.standard_normal((2, 4096)).astype(dtype)
        x, y = tapegrad.from_numpy(a), tapegrad.from_numpy(b)
        np.testing.assert_array_equal((x / 3.7).numpy(), a / dtype(3.7))
        np.testing.assert_array_equal((3.7 / x).numpy(), (1 / a) * dtype(3.7))  # PyTorch's order
        np.testing.assert_array_equal((x / y).numpy(), a / b)
        np.testing.assert_array_equal(x.reciprocal().numpy(), 1 / a)
        np.testing.assert_array_equal(tapegrad.compile(lambda t: t / 1000)(x).numpy(), a / dtype(1000))
        leaf = x.clone().requires_grad_()
        for _ in range(5):  # past the sightings after which the backward sweep is one kernel
            leaf.grad = None
            (leaf / 1000 * y).sum().backward()
            np.testing.assert_array_equal(leaf.grad.numpy(), b / dtype(1000))

"""The CPU backend's elementwise kernels: broadcast operands reuse the specialisations of
other strided operands instead of compiling their own."""
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


def test_a_broadcast_operand_shares_the_strided_operands_specialisation() -> None:
    rng = np.random.default_rng(1)
    wide = rng.standard_normal((3, 8)).astype(np.float32)
    row = rng.standard_normal((1, 4)).astype(np.float32)
    kernel = cpu.loop_kernels(_mul, "aa")[2]
    before = set(kernel.signatures)
    # A strided (sliced) operand, then a broadcast one: the second call compiles nothing new.
    sliced = cpu.elementwise(_mul, [wide[:, ::2], wide[:, 1::2]], (3, 4), np.dtype(np.float32))
    np.testing.assert_array_equal(sliced, wide[:, ::2] * wide[:, 1::2])
    after_sliced = set(kernel.signatures)
    broadcast = cpu.elementwise(_mul, [wide[:, ::2], row], (3, 4), np.dtype(np.float32))
    np.testing.assert_array_equal(broadcast, wide[:, ::2] * row)
    assert set(kernel.signatures) == after_sliced and len(after_sliced - before) <= 1

"""einsum beyond the op table (which checks values, gradients and second derivatives against
NumPy, finite differences and PyTorch, diagonals included): size-1 broadcasting, a list of
operands and PyTorch's errors."""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad


def _data(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.torch
@pytest.mark.parametrize("equation, shapes", [("ij,j", [(2, 3), (1,)]), ("bij,bjk", [(2, 3, 4), (1, 4, 5)]),
                                              ("i,i->", [(1,), (4,)])], ids=str)
def test_size_one_dims_broadcast_as_in_torch(equation, shapes):
    torch = pytest.importorskip("torch")
    arrays = [_data(s, k) for k, s in enumerate(shapes)]
    ours = [tapegrad.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = tapegrad.einsum(equation, *ours), torch.einsum(equation, *theirs)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)


def test_operands_may_come_as_one_list_and_an_identity_is_a_copy():
    a, b = tapegrad.tensor(_data((2, 3), 1)), tapegrad.tensor(_data((3,), 2))
    np.testing.assert_allclose(tapegrad.einsum("ij,j->i", [a, b]).numpy(), a.numpy() @ b.numpy(), rtol=1e-6)
    same = tapegrad.einsum("ij->ij", a)
    same[0, 0] = 100.0
    assert a[0, 0].item() != 100.0


ERRORS = [
    ("ij,jk->ik", [(2, 3), (4, 5)], "einsum(): subscript j has size 4 for operand 1 which does not broadcast with "
                                    "previously seen size 3"),
    ("ij,jk->ik", [(2, 3)], "einsum(): fewer operands were provided than specified in the equation"),
    ("ij->ik", [(2, 3)], "einsum(): output subscript k does not appear in the equation for any input operand"),
    ("ijk", [(2, 3)], "einsum(): the number of subscripts in the equation (3) does not match the number of "
                      "dimensions (2) for operand 0 and no ellipsis was given"),
    ("i1", [(2, 3)], "einsum(): invalid subscript given at index 1 in the equation string, subscripts must be in "
                     "[a-zA-Z]"),
    ("ij,jk->ii", [(2, 2), (2, 2)], "einsum(): output subscript i appears more than once in the output"),
    ("ii->i", [(2, 3)], "einsum(): subscript i is repeated for operand 0 but the sizes don't match, 3 != 2"),
]


@pytest.mark.parametrize("equation, shapes, message", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torchs(equation, shapes, message):
    with pytest.raises(RuntimeError) as ours:
        tapegrad.einsum(equation, *[tapegrad.ones(*s) for s in shapes])
    assert str(ours.value) == message
    try:
        import torch
    except ImportError:
        return
    with pytest.raises(RuntimeError) as theirs:
        torch.einsum(equation, *[torch.ones(*s) for s in shapes])
    assert str(theirs.value) == message




def test_zero_size_dims_broadcast_and_contract():
    assert tapegrad.einsum("i,i->i", tapegrad.ones(1), tapegrad.ones(0)).shape == (0,)
    a = tapegrad.zeros(2, 0, requires_grad=True)
    b = tapegrad.zeros(0, 4, requires_grad=True)
    out = tapegrad.einsum("ij,jk->ik", a, b)
    assert out.shape == (2, 4) and out.abs().sum().item() == 0.0
    out.sum().backward()
    assert a.grad.shape == (2, 0) and b.grad.shape == (0, 4)

"""Bad inputs raise PyTorch's exception types, with messages naming the shapes and dtypes involved,
and a failed operation leaves no half-updated state behind."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as TF


def functional(lib):
    if lib is tapegrad:
        return TF
    import torch.nn.functional as F

    return F


def version(t) -> int:
    return t._version


# (id, program taking the library module, exception type, regex the tapegrad message must match)
CASES = [
    ("int-tensor-requires-grad", lambda L: L.tensor([1, 2], requires_grad=True), RuntimeError,
     r"floating point"),
    ("int-tensor-requires-grad_", lambda L: L.tensor([1, 2]).requires_grad_(), RuntimeError,
     r"floating point"),
    ("int-zeros-requires-grad", lambda L: L.zeros(2, dtype=L.int64, requires_grad=True), RuntimeError,
     r"floating point"),
    ("broadcast", lambda L: L.ones(2, 3) + L.ones(4), RuntimeError,
     r"size of tensor a \(3\) must match the size of tensor b \(4\) at non-singleton dimension 1"),
    ("broadcast-2d", lambda L: L.ones(2, 3) * L.ones(3, 2), RuntimeError,
     r"size of tensor a \(\d\) must match the size of tensor b \(\d\)"),
    ("broadcast-inplace", lambda L: L.ones(3).add_(L.ones(2, 3)), RuntimeError,
     r"output with shape \[3\] doesn't match the broadcast shape \[2, 3\]"),
    ("matmul", lambda L: L.ones(2, 3) @ L.ones(4, 5), RuntimeError, r"2x3 and 4x5"),
    ("mm", lambda L: L.mm(L.ones(2, 3), L.ones(4, 5)), RuntimeError, r"2x3 and 4x5"),
    ("matmul-1d", lambda L: L.ones(3) @ L.ones(4), RuntimeError, r"\[3\].*\[4\]"),
    ("bmm", lambda L: L.bmm(L.ones(2, 2, 3), L.ones(2, 4, 5)), RuntimeError, r"\[2, 3\].*\[2, 4\]"),
    ("mv", lambda L: L.mv(L.ones(2, 3), L.ones(4)), RuntimeError, r"2x3.*\(4\)"),
    ("dot-2d", lambda L: L.dot(L.ones(2, 2), L.ones(2, 2)), RuntimeError, r"1D tensors expected"),
    ("view-strides", lambda L: L.ones(2, 3).t().view(6), RuntimeError,
     r"view size is not compatible with input tensor's size and stride"),
    ("reshape-size", lambda L: L.ones(2, 3).reshape(4, 2), RuntimeError,
     r"shape '\[4, 2\]' is invalid for input of size 6"),
    ("view-size-infer", lambda L: L.ones(2, 3).view(4, -1), RuntimeError,
     r"shape '\[4, -1\]' is invalid for input of size 6"),
    ("expand", lambda L: L.ones(2, 3).expand(4, 3), RuntimeError, r"expanded size of the tensor \(4\)"),
    ("dim-sum", lambda L: L.ones(2, 3).sum(2), IndexError,
     r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"),
    ("dim-softmax", lambda L: L.ones(2, 3).softmax(-3), IndexError, r"Dimension out of range"),
    ("dim-transpose", lambda L: L.ones(2, 3).transpose(0, 5), IndexError, r"but got 5"),
    ("dim-unsqueeze", lambda L: L.ones(2, 3).unsqueeze(4), IndexError, r"\[-3, 2\], but got 4"),
    ("dim-size", lambda L: L.ones(2, 3).size(3), IndexError, r"Dimension out of range"),
    ("dim-squeeze", lambda L: L.ones(2, 3).squeeze(5), IndexError, r"Dimension out of range"),
    ("dim-cat", lambda L: L.cat([L.ones(2), L.ones(2)], dim=1), IndexError, r"Dimension out of range"),
    ("index", lambda L: L.ones(2, 3)[2], IndexError, r"index 2 is out of bounds for dimension 0 with size 2"),
    ("index-second-dim", lambda L: L.ones(2, 3)[0, 3], IndexError,
     r"index 3 is out of bounds for dimension 1 with size 3"),
    ("index-negative", lambda L: L.ones(2, 3)[-3], IndexError, r"index -3 is out of bounds"),
    ("index-array", lambda L: L.ones(2, 3)[L.tensor([0, 5])], IndexError, r"index 5 is out of bounds"),
    ("index-too-many", lambda L: L.ones(2)[0, 0], IndexError, r"too many indices"),
    ("index-float-tensor", lambda L: L.ones(3)[L.tensor([0.0])], IndexError,
     r"tensors used as indices must be long, int, byte or bool tensors"),
    ("index-float", lambda L: L.ones(3)[1.5], IndexError, r"only integers, slices"),
    ("setitem-index", lambda L: L.ones(2, 3).__setitem__(5, 1.0), IndexError, r"index 5 is out of bounds"),
    ("bool-mask-shape", lambda L: L.ones(2, 3)[L.tensor([True, False, True])], IndexError, r"2.*3|3.*2"),
    ("bool-mask-shape-setitem", lambda L: L.ones(2, 3).__setitem__(L.tensor([True, False, True]), 1.0),
     IndexError, r"2.*3|3.*2"),
    ("gather-out-of-bounds", lambda L: L.gather(L.ones(2, 3), 1, L.tensor([[0, 3]])), RuntimeError,
     r"index 3 is out of bounds for dimension 1 with size 3"),
    ("gather-negative", lambda L: L.gather(L.ones(2, 3), 1, L.tensor([[0, -1]])), RuntimeError,
     r"index -1 is out of bounds"),
    ("gather-float-index", lambda L: L.gather(L.ones(2, 3), 1, L.tensor([[0.0, 1.0]])), RuntimeError,
     r"gather\(\): Expected dtype int"),
    ("cat-sizes", lambda L: L.cat([L.ones(2, 3), L.ones(2, 4)]), RuntimeError,
     r"Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4 for tensor number 1"),
    ("cat-ndim", lambda L: L.cat([L.ones(2, 3), L.ones(3)]), RuntimeError,
     r"same number of dimensions: got 2 and 1"),
    ("cat-empty-list", lambda L: L.cat([]), ValueError, r"expected a non-empty list of Tensors"),
    ("stack-sizes", lambda L: L.stack([L.ones(2), L.ones(3)]), RuntimeError,
     r"stack expects each tensor to be equal size, but got \[2\] at entry 0 and \[3\] at entry 1"),
    ("stack-empty-list", lambda L: L.stack([]), RuntimeError, r"non-empty"),
    ("item-multi", lambda L: L.ones(2).item(), RuntimeError,
     r"a Tensor with 2 elements cannot be converted to Scalar"),
    ("item-empty", lambda L: L.ones(0).item(), RuntimeError, r"0 elements"),
    ("bool-multi", lambda L: bool(L.ones(2)), RuntimeError,
     r"Boolean value of Tensor with more than one value is ambiguous"),
    ("bool-empty", lambda L: bool(L.ones(0)), RuntimeError, r"no values"),
    ("if-multi", lambda L: 1 if L.tensor([1.0, 2.0]) > 0 else 0, RuntimeError, r"ambiguous"),
    ("mean-int", lambda L: L.tensor([1, 2]).mean(), RuntimeError,
     r"mean\(\): could not infer output dtype.*Got: Long"),
    ("mean-bool", lambda L: L.tensor([True]).mean(), RuntimeError, r"Got: Bool"),
    ("backward-no-grad", lambda L: L.ones(2).sum().backward(), RuntimeError,
     r"element 0 of tensors does not require grad and does not have a grad_fn"),
    ("backward-non-scalar", lambda L: (L.ones(2, requires_grad=True) * 2).backward(), RuntimeError,
     r"grad can be implicitly created only for scalar outputs"),
    ("backward-gradient-shape", lambda L: (L.ones(2, requires_grad=True) * 2).backward(L.ones(3)),
     RuntimeError, r"Mismatch in shape"),
    ("cross-entropy-batch", lambda L: functional(L).cross_entropy(L.ones(3, 4), L.tensor([0, 1])), ValueError,
     r"Expected input batch_size \(3\) to match target batch_size \(2\)"),
    ("cross-entropy-class", lambda L: functional(L).cross_entropy(L.ones(3, 4), L.tensor([0, 1, 4])),
     IndexError, r"Target 4 is out of bounds"),
    ("cross-entropy-negative-class", lambda L: functional(L).cross_entropy(L.ones(3, 4), L.tensor([0, -3, 1])),
     IndexError, r"Target -3 is out of bounds"),
    ("nll-class", lambda L: functional(L).nll_loss(L.ones(3, 4), L.tensor([0, 1, 7])), IndexError,
     r"Target 7 is out of bounds"),
    ("cross-entropy-reduction", lambda L: functional(L).cross_entropy(L.ones(3, 4), L.tensor([0, 1, 2]),
                                                                      reduction="avg"),
     ValueError, r"avg is not a valid value for reduction"),
    ("mse-reduction", lambda L: functional(L).mse_loss(L.ones(3), L.ones(3), reduction="bogus"), ValueError,
     r"bogus is not a valid value for reduction"),
    ("mse-shapes", lambda L: functional(L).mse_loss(L.ones(3), L.ones(4)), RuntimeError,
     r"\(3\).*\(4\)"),
    ("inplace-mul-cast", lambda L: L.tensor([1, 2]).mul_(2.5), RuntimeError,
     r"result type Float can't be cast to the desired output type Long"),
    ("inplace-add-cast", lambda L: L.tensor([1, 2]).add_(L.tensor([0.5, 1.0])), RuntimeError,
     r"result type Float can't be cast to the desired output type Long"),
    ("inplace-div-int", lambda L: L.tensor([1, 2]).div_(2), RuntimeError,
     r"result type Float can't be cast to the desired output type Long"),
    ("inplace-bool-cast", lambda L: L.tensor([True]).add_(2), RuntimeError,
     r"result type Long can't be cast to the desired output type Bool"),
    ("imul-cast", lambda L: L.tensor([3]).__imul__(0.5), RuntimeError, r"can't be cast"),
    ("negative-slice-step", lambda L: L.ones(4)[::-1], ValueError, r"step must be greater than zero"),
    ("negative-slice-step-2d", lambda L: L.ones(4, 4)[:, ::-2], ValueError, r"step must be greater than zero"),
    ("zero-slice-step", lambda L: L.ones(4)[::0], ValueError, r"step"),
    ("negative-size", lambda L: L.zeros(-1), RuntimeError, r"-1"),
    ("narrow", lambda L: L.ones(3).narrow(0, 2, 3), RuntimeError, r"start \(2\) \+ length \(3\) exceeds"),
    ("split-sizes", lambda L: L.ones(3).split([1, 1]), RuntimeError, r"sum exactly to 3"),
    ("permute-dims", lambda L: L.ones(2, 3).permute(0), RuntimeError, r"input.dim\(\) = 2"),
    ("copy-shape", lambda L: L.ones(3).copy_(L.ones(2)), RuntimeError, r"\(3\).*\(2\)"),
    ("fill-non-scalar", lambda L: L.ones(3).fill_(L.ones(2)), RuntimeError, r"0-dimension"),
    ("setitem-value-shape", lambda L: L.ones(2, 3).__setitem__(0, L.ones(4)), RuntimeError, r"4"),
    ("len-0d", lambda L: len(L.tensor(1.0)), TypeError, r"len\(\) of a 0-d tensor"),
    ("index-select-2d", lambda L: L.ones(3).index_select(0, L.tensor([[0]])), IndexError, r"vector"),
    ("retain-grad-no-grad", lambda L: L.ones(2).retain_grad(), RuntimeError, r"requires_grad=False"),
    ("flatten-dims", lambda L: L.ones(2, 3).flatten(1, 0), RuntimeError, r"start_dim cannot come after end_dim"),
    ("randint-bounds", lambda L: L.randint(5, 2, (3,)), RuntimeError, r"from=5 >= to=2"),
    ("arange-step-sign", lambda L: L.arange(0, 5, -1), RuntimeError, r"step sign"),
    ("sub-bool-tensors", lambda L: L.tensor([True]) - L.tensor([False]), RuntimeError,
     r"Subtraction, the `-` operator, with two bool tensors is not supported"),
    ("sub-bool-scalar", lambda L: L.tensor([1.0]) - True, RuntimeError,
     r"Subtraction, the `-` operator, with a bool tensor is not supported"),
    ("neg-bool", lambda L: -L.tensor([True]), RuntimeError, r"Negation, the `-` operator, on a bool tensor"),
    ("int-negative-power", lambda L: L.tensor([2]) ** -1, RuntimeError,
     r"Integers to negative integer powers are not allowed"),
]


@pytest.mark.parametrize("program,exc_type,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_type_and_message(program, exc_type, pattern):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc_type, match=pattern):
            program(tapegrad)


@pytest.mark.parametrize("program,exc_type", [c[1:3] for c in CASES], ids=[c[0] for c in CASES])
def test_error_type_matches_torch(program, exc_type):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc_type):
            program(torch)


def test_gather_accepts_int32_index_like_torch():
    out = tapegrad.gather(tapegrad.tensor([[1.0, 2.0, 3.0]]), 1, tapegrad.tensor([[2, 0]], dtype=tapegrad.int32))
    assert out.tolist() == [[3.0, 1.0]]
    torch = pytest.importorskip("torch")
    expected = torch.gather(torch.tensor([[1.0, 2.0, 3.0]]), 1, torch.tensor([[2, 0]], dtype=torch.int32))
    assert expected.tolist() == [[3.0, 1.0]]


# ---------------------------------------------------------------- device requests

@pytest.mark.parametrize("program", [
    lambda: tapegrad.tensor([1.0], device="cuda"),
    lambda: tapegrad.zeros(2, device="cuda"),
    lambda: tapegrad.ones(2, device="cuda:0"),
    lambda: tapegrad.randn(2, device="cuda"),
    lambda: tapegrad.arange(3, device="cuda"),
    lambda: tapegrad.ones(2).to("cuda"),
    lambda: tapegrad.ones(2).to(device="cuda"),
    lambda: tapegrad.ones(2).to(tapegrad.device("cuda")),
    lambda: tapegrad.ones(2).cuda(),
], ids=["tensor", "zeros", "ones-cuda0", "randn", "arange", "to", "to-kw", "to-device", "cuda()"])
def test_cuda_requests_raise_runtime_error(program):
    # As PyTorch built with CUDA does on a machine without a GPU (tests/cuda covers CUDA itself).
    if tapegrad.cuda.is_available():
        pytest.skip("a CUDA device (or Numba's simulator) is available here")
    with pytest.raises(RuntimeError, match="No CUDA GPUs are available"):
        program()


def test_cpu_device_requests_work():
    t = tapegrad.zeros(2, device="cpu")
    assert t.to("cpu") is t and t.cpu() is t
    assert not t.is_cuda
    assert tapegrad.tensor([1.0], device=tapegrad.device("cpu")).tolist() == [1.0]


# ---------------------------------------------------------------- operations that must not raise

def test_float_division_by_zero_gives_inf_and_nan():
    out = tapegrad.tensor([1.0, -2.0, 0.0]) / tapegrad.tensor([0.0, 0.0, 0.0])
    assert out.tolist()[:2] == [float("inf"), float("-inf")]
    assert np.isnan(out.tolist()[2])
    assert (tapegrad.tensor([1.0]) / 0).tolist() == [float("inf")]
    assert (tapegrad.tensor([1, 2]) / tapegrad.tensor([0, 1])).tolist() == [float("inf"), 2.0]


def test_float_division_by_zero_matches_torch():
    torch = pytest.importorskip("torch")
    a, b = [1.0, -2.0, 3.0], [0.0, 0.0, 2.0]
    np.testing.assert_array_equal((tapegrad.tensor(a) / tapegrad.tensor(b)).numpy(),
                                  (torch.tensor(a) / torch.tensor(b)).numpy())


def test_division_by_zero_gradient_is_inf_not_an_exception():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = x / tapegrad.tensor([0.0, 1.0])
    y.sum().backward()
    assert x.grad.tolist() == [float("inf"), 1.0]


def test_broadcast_loss_shapes_warn_like_torch():
    with pytest.warns(UserWarning, match="target size"):
        TF.mse_loss(tapegrad.ones(3, 1), tapegrad.ones(3))
    torch = pytest.importorskip("torch")
    with pytest.warns(UserWarning, match="target size"):
        torch.nn.functional.mse_loss(torch.ones(3, 1), torch.ones(3))


# ---------------------------------------------------------------- no half-updated state

def test_failed_inplace_cast_leaves_tensor_and_version_unchanged():
    t = tapegrad.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        t.mul_(2.5)
    assert t.tolist() == [1, 2]
    assert version(t) == 0
    with pytest.raises(RuntimeError):
        t.add_(tapegrad.tensor([0.5, 0.5]))
    assert t.tolist() == [1, 2] and version(t) == 0


def test_failed_inplace_cast_matches_torch_state():
    torch = pytest.importorskip("torch")
    t = torch.tensor([1, 2])
    with pytest.raises(RuntimeError):
        t.mul_(2.5)
    assert t.tolist() == [1, 2] and t._version == 0


@pytest.mark.parametrize("program", [
    lambda y, x: y.add_(tapegrad.ones(3)),
    lambda y, x: y.mul_(tapegrad.ones(2, 2)),
    lambda y, x: y.copy_(tapegrad.ones(3)),
    lambda y, x: y.__setitem__(5, 1.0),
    lambda y, x: y.__setitem__(tapegrad.tensor([True, False, True]), 1.0),
    lambda y, x: y.__setitem__(tapegrad.tensor([0, 7]), x * 2),
    lambda y, x: y.__setitem__(slice(0, 2), tapegrad.ones(3, requires_grad=True)),
    lambda y, x: y[0].add_(tapegrad.ones(2)),
    lambda y, x: y.fill_(tapegrad.ones(2)),
], ids=["add_-shape", "mul_-shape", "copy_-shape", "setitem-index", "setitem-mask", "setitem-array",
        "setitem-value", "view-add_", "fill_-value"])
def test_failed_inplace_on_non_leaf_keeps_history_values_and_version(program):
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    grad_fn, before = y.grad_fn, version(y)
    with pytest.raises((RuntimeError, IndexError)):
        program(y, x)
    assert y.tolist() == [3.0, 6.0]
    assert version(y) == before
    assert y.grad_fn is grad_fn
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_failed_inplace_on_leaf_keeps_leaf_state():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        x.add_(1)
    with pytest.raises(RuntimeError):
        x[0] = 3.0
    assert x.tolist() == [1.0, 2.0] and version(x) == 0
    assert x.is_leaf and x.grad_fn is None and x.requires_grad


def test_failed_requires_grad_keeps_flag():
    t = tapegrad.tensor([1, 2])
    with pytest.raises(RuntimeError):
        t.requires_grad_()
    assert not t.requires_grad


def test_failed_setitem_without_grad_leaves_values():
    t = tapegrad.zeros(2, 3)
    with pytest.raises(RuntimeError):
        t[0] = tapegrad.ones(4)
    with pytest.raises(IndexError):
        t[tapegrad.tensor([0, 9])] = 1.0
    assert t.tolist() == [[0.0] * 3] * 2
    assert version(t) == 0


def test_failed_backward_does_not_touch_leaf_grads():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    y = (h * h).sum() + x.sum()
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    assert x.grad is None


def test_failed_cat_and_stack_do_not_record():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        tapegrad.cat([x.reshape(1, 2), tapegrad.ones(1, 3)])
    with pytest.raises(RuntimeError):
        tapegrad.stack([x, tapegrad.ones(3)])
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_error_messages_name_dtypes():
    with pytest.raises(RuntimeError) as info:
        tapegrad.tensor([1, 2], dtype=tapegrad.int32).mul_(1.5)
    assert re.search(r"Float.*Int", str(info.value))
    with pytest.raises(RuntimeError) as info:
        tapegrad.tensor([True]).mean()
    assert "Bool" in str(info.value)
    with pytest.raises(RuntimeError) as info:
        tapegrad.ones(2, 3) @ tapegrad.ones(4, 5)
    assert "2x3" in str(info.value) and "4x5" in str(info.value)

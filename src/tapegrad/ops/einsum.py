"""``einsum``: Einstein summation over any number of operands, as recorded ops.

Operands are contracted left to right, two at a time: a subscript neither later operand nor
the output needs is summed away first; then the pair becomes one batched matrix product,
``(batch, left, contracted) @ (batch, contracted, right)``, made of permutes, broadcasts and
reshapes. So einsum runs on either device, its gradient comes from those ops' VJPs, and
compiled steps record it. Size-1 dims broadcast against their subscript's size, as in
PyTorch, and ``...`` stands for the broadcast leading dims. A subscript repeated within one
operand reads that operand's diagonal (``'ii->i'``, ``'ii'`` is the trace).
"""
from __future__ import annotations

from typing import Any, Sequence

from ..tensor import Tensor

__all__: list[str] = ["einsum"]


def _terms(equation: str, operands: Sequence[Tensor]) -> tuple[list[list[str]], list[str]]:
    """Each operand's subscripts and the output's, with ``...`` spelled as ``.0``, ``.1``, ...
    (aligned from the right, so ellipsis dims broadcast like shapes do)."""
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation"
                           if len(operands) > len(terms) else
                           "einsum(): fewer operands were provided than specified in the equation")
    ranks = []
    for term, operand in zip(terms, operands):
        letters = len(term.replace("...", ""))
        if "..." in term:
            ranks.append(operand.ndim - letters)
        elif letters != operand.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({letters}) does not match the "
                               f"number of dimensions ({operand.ndim}) for operand {len(ranks)} and no ellipsis "
                               "was given")
        else:
            ranks.append(0)
    widest = max(ranks, default=0)
    subscripts = [_spell(term, widest - rank, rank) for term, rank in zip(terms, ranks)]
    if arrow:
        result = _spell(output, 0, widest)
    else:  # PyTorch's implicit output: the ellipsis dims, then the letters seen once, sorted
        counts: dict[str, int] = {}
        for term in subscripts:
            for s in term:
                counts[s] = counts.get(s, 0) + 1
        result = [f".{k}" for k in range(widest)] + sorted(s for s, n in counts.items() if n == 1 and s[0] != ".")
    for term in subscripts + [result]:
        for s in term:
            if s[0] != "." and not s.isalpha():
                raise RuntimeError(f"einsum(): invalid subscript given at index {equation.index(s)} in the "
                                   "equation string, subscripts must be in [a-zA-Z]")
    return subscripts, result


def _spell(term: str, first: int, rank: int) -> list[str]:
    head, dots, tail = term.partition("...")
    return list(head) + ([f".{first + k}" for k in range(rank)] if dots else []) + list(tail)


def _sum_unneeded(x: Tensor, term: list[str], needed: set[str]) -> tuple[Tensor, list[str]]:
    gone = [d for d, s in enumerate(term) if s not in needed]
    if gone:
        x = x.sum(tuple(gone))
        term = [s for s in term if s in needed]
    return x, term


def _broadcast(a: int, b: int) -> int:
    return a if b == 1 else b  # the sizes were checked to broadcast (equal, or one of them 1)


def _size(s: str, pair: Sequence[tuple[Tensor, list[str]]]) -> int:
    size = 1
    for x, t in pair:
        if s in t:
            size = _broadcast(size, x.shape[t.index(s)])
    return size


def _check_sizes(subscripts: list[list[str]], operands: Sequence[Tensor]) -> None:
    seen: dict[str, int] = {}
    for k, (term, operand) in enumerate(zip(subscripts, operands)):
        for s, size in zip(term, operand.shape):
            known = seen.get(s, size)
            if size != known and 1 not in (size, known):
                if s[0] == ".":
                    raise RuntimeError(f"einsum(): operands do not broadcast: the dims the ellipsis covers in operand "
                                       f"{k} {list(operand.shape)} do not match the earlier operands'")
                raise RuntimeError(f"einsum(): subscript {s} has size {size} for operand {k} which does not broadcast "
                                   f"with previously seen size {known}")
            seen[s] = _broadcast(known, size)


def _arranged(x: Tensor, term: list[str], order: list[str], sizes: dict[str, int], groups: Sequence[int]) -> Tensor:
    """``x`` with its dims in ``order`` (a subscript it lacks becomes a broadcast dim), merged
    into ``len(groups)`` dims of the given numbers of subscripts."""
    x = x.permute(tuple(term.index(s) for s in order if s in term))
    present = [s for s in order if s in term]
    shape = [x.shape[present.index(s)] if s in term else 1 for s in order]
    x = x.reshape(shape).expand(tuple(sizes[s] for s in order))
    merged, start = [], 0
    for count in groups:
        total = 1
        for s in order[start:start + count]:
            total *= sizes[s]
        merged.append(total)
        start += count
    return x.reshape(merged)


def _contract(a: Tensor, ta: list[str], b: Tensor, tb: list[str], needed: set[str]) -> tuple[Tensor, list[str]]:
    a, ta = _sum_unneeded(a, ta, needed | set(tb))
    b, tb = _sum_unneeded(b, tb, needed | set(ta))
    batch = [s for s in ta if s in tb and s in needed]
    contracted = [s for s in ta if s in tb and s not in needed]
    left = [s for s in ta if s not in tb]
    right = [s for s in tb if s not in ta]
    sizes = {s: _size(s, ((a, ta), (b, tb))) for s in batch + contracted + left + right}
    lhs = _arranged(a, ta, batch + left + contracted, sizes, (len(batch), len(left), len(contracted)))
    rhs = _arranged(b, tb, batch + contracted + right, sizes, (len(batch), len(contracted), len(right)))
    out = lhs.bmm(rhs)
    term = batch + left + right
    return out.reshape(tuple(sizes[s] for s in term)), term


def _diagonals(x: Tensor, term: list[str], k: int) -> tuple[Tensor, list[str]]:
    """A subscript repeated within one operand takes that operand's diagonal (``'ii->i'``)."""
    for i, s in enumerate(term):
        if s in term[i + 1:]:
            j = term.index(s, i + 1)
            if x.shape[i] != x.shape[j]:
                raise RuntimeError(f"einsum(): subscript {s} is repeated for operand {k} but the sizes don't match, "
                                   f"{x.shape[j]} != {x.shape[i]}")
            rest = [t for d, t in enumerate(term) if d not in (i, j)]
            return _diagonals(x.diagonal(0, i, j), rest + [s], k)
    return x, term


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _sublist(sublist: Any) -> str:
    """One operand's subscripts given as a list of ints in [0, 52) and ``...``, as letters."""
    letters = []
    for s in sublist:
        if s is Ellipsis:
            letters.append("...")
        elif isinstance(s, int) and not isinstance(s, bool) and 0 <= s < len(_LETTERS):
            letters.append(_LETTERS[s])
        else:
            raise ValueError(f"einsum(): subscript in subscript list is not within the valid range [0, 52): {s!r}")
    return "".join(letters)


def _from_sublists(args: tuple) -> tuple[str, tuple]:
    """``einsum(op1, sublist1, op2, sublist2, ..., [out_sublist])`` as an equation and operands."""
    operands, terms = args[0::2], args[1::2]
    output = None
    if len(operands) > len(terms):  # an odd count: the last is the output's sublist
        operands, output = operands[:-1], operands[-1]
    for x in operands:
        if not isinstance(x, Tensor):
            raise TypeError(f"einsum(): expected a tensor operand, got {type(x).__name__}")
    equation = ",".join(_sublist(t) for t in terms)
    if output is not None:
        equation += "->" + _sublist(output)
    return equation, tuple(operands)


def einsum(equation: str, *operands: Any) -> Tensor:
    """Sum of products over the subscripts of ``equation`` (``'ij,jk->ik'`` is a matrix
    product); ``operands`` may also be given as one list, and the whole as PyTorch's sublist
    form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``.

    >>> tapegrad.einsum("ij,j->i", tapegrad.tensor([[1., 2.], [3., 4.]]), tapegrad.tensor([1., 1.]))
    tensor([3., 7.])
    """
    if not isinstance(equation, str):
        equation, operands = _from_sublists((equation,) + operands)
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    subscripts, result = _terms(equation, operands)
    for k, s in enumerate(result):
        if s in result[:k]:
            raise RuntimeError(f"einsum(): output subscript {s} appears more than once in the output")
        if not any(s in term for term in subscripts):
            raise RuntimeError(f"einsum(): output subscript {s} does not appear in the equation for any input "
                               "operand")
    pairs = [_diagonals(x, term, k) for k, (x, term) in enumerate(zip(operands, subscripts))]
    operands, subscripts = [x for x, _ in pairs], [term for _, term in pairs]
    _check_sizes(subscripts, operands)
    x, term = operands[0], subscripts[0]
    for k in range(1, len(operands)):
        needed = set(result).union(*subscripts[k + 1:])
        x, term = _contract(x, term, operands[k], subscripts[k], needed)
    x, term = _sum_unneeded(x, term, set(result))
    if term != result:
        x = x.permute(tuple(term.index(s) for s in result))
    return x.clone() if x is operands[0] else x

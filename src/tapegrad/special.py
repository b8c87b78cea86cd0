"""``tapegrad.special``: ``torch.special`` for real tensors, with PyTorch's signatures, dtype
promotion (integer and bool tensors give the default float dtype), errors and derivatives.

- aliases of tapegrad ops: ``erf``, ``erfc``, ``erfinv``, ``expit`` (sigmoid), ``logit``, ``xlogy``,
  ``digamma`` / ``psi``, ``polygamma``, ``gammaln`` (lgamma), ``exp2``, ``expm1``, ``log1p``,
  ``sinc``, ``round``, ``logsumexp``, ``softmax``, ``log_softmax``;
- the ops of ``ops/special_functions.py``: ``i0``, ``i0e``, ``i1``, ``i1e``, ``ndtr``, ``ndtri``,
  ``log_ndtr``, ``entr``, ``erfcx``, ``xlog1py``, ``zeta``, ``multigammaln``, ``gammainc``,
  ``gammaincc``, the Bessel functions (``bessel_j0`` ... ``scaled_modified_bessel_k1``,
  ``spherical_bessel_j0``), ``airy_ai`` and the orthogonal polynomials
  (``chebyshev_polynomial_t`` ... ``shifted_chebyshev_polynomial_w``, ``hermite_polynomial_h``,
  ``hermite_polynomial_he``, ``laguerre_polynomial_l``, ``legendre_polynomial_p``).

As in PyTorch, the Bessel and Airy functions and the polynomials have no derivative (their
results never require grad), and ``zeta``, ``gammainc`` and ``gammaincc`` have none with respect
to their first argument (backward raises, naming it). The ``out=`` arguments are not supported.

>>> import tapegrad.special
>>> tapegrad.special.i0e(tapegrad.tensor([0., 1.]))
tensor([1.0000, 0.4658])
"""
from __future__ import annotations

from typing import Any, Callable

from .ops import composite as _composite
from .ops import elementwise as _ew
from .ops import special_functions as _sf
from .ops.pointwise import _promote
from .ops.pointwise import apply as _apply
from .ops.special_functions import require_tensor as _require_tensor
from .tensor import Tensor

__all__: list[str] = [
    "airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "chebyshev_polynomial_t", "chebyshev_polynomial_u",
    "chebyshev_polynomial_v", "chebyshev_polynomial_w", "digamma", "entr", "erf", "erfc", "erfcx", "erfinv", "exp2",
    "expit", "expm1", "gammainc", "gammaincc", "gammaln", "hermite_polynomial_h", "hermite_polynomial_he", "i0", "i0e",
    "i1", "i1e", "laguerre_polynomial_l", "legendre_polynomial_p", "log1p", "log_ndtr", "log_softmax", "logit",
    "logsumexp", "modified_bessel_i0", "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1",
    "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round", "scaled_modified_bessel_k0",
    "scaled_modified_bessel_k1", "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u",
    "shifted_chebyshev_polynomial_v", "shifted_chebyshev_polynomial_w", "sinc", "softmax", "spherical_bessel_j0",
    "xlog1py", "xlogy", "zeta",
]

_NUMBER = (bool, int, float)


# ---------------------------------------------------------------- one-argument functions

def _unary(name: str, compute: Callable[[Tensor], Tensor], doc: str) -> Callable[[Tensor], Tensor]:
    """``torch.special.<name>(input)``: ``compute(input)`` for a tensor, PyTorch's TypeError otherwise."""
    function = f"special_{name}"

    def special_function(input: Tensor) -> Tensor:
        _require_tensor(function, input)
        return compute(input)

    special_function.__name__ = special_function.__qualname__ = name
    special_function.__doc__ = doc
    return special_function


def _op(op: Any, *numbers: Any) -> Callable[[Tensor], Tensor]:
    return lambda input: _apply(op, (input, *numbers))


# aliases of tapegrad ops
erf = _unary("erf", _ew.erf, "The error function.")
erfc = _unary("erfc", _ew.erfc, "The complementary error function, ``1 - erf(input)``.")
erfinv = _unary("erfinv", _ew.erfinv, "The inverse error function: +-inf at +-1, nan outside [-1, 1].")
expit = _unary("expit", _ew.sigmoid, "The logistic sigmoid ``1 / (1 + exp(-input))``.")
exp2 = _unary("exp2", _ew.exp2, "``2 ** input``.")
expm1 = _unary("expm1", _ew.expm1, "``exp(input) - 1``, accurate near 0.")
log1p = _unary("log1p", _ew.log1p, "``log(1 + input)``, accurate near 0.")
sinc = _unary("sinc", _ew.sinc, "The normalised sinc, ``sin(pi x) / (pi x)``, 1 at 0.")
digamma = _unary("digamma", _ew.digamma, "The logarithmic derivative of the gamma function.")
psi = _unary("psi", _ew.digamma, "``digamma`` under its other name.")
gammaln = _unary("gammaln", _ew.lgamma, "``log(|gamma(input)|)``.")

# new ops
i0 = _unary("i0", _op(_sf.I0, 0), """The modified Bessel function of the first kind of order 0.

>>> tapegrad.special.i0(tapegrad.tensor([0., 1.]))
tensor([1.0000, 1.2661])
""")
i0e = _unary("i0e", _op(_sf.I0E, 1), "``i0(x) * exp(-|x|)``, which does not overflow.")
i1 = _unary("i1", _op(_sf.I1, 0), "The modified Bessel function of the first kind of order 1.")
i1e = _unary("i1e", _op(_sf.I1E, 1), "``i1(x) * exp(-|x|)``, which does not overflow.")
modified_bessel_i0 = _unary("modified_bessel_i0", _op(_sf.MODIFIED_BESSEL_0, 0),
                            "``i0`` without a derivative (as PyTorch has it).")
modified_bessel_i1 = _unary("modified_bessel_i1", _op(_sf.MODIFIED_BESSEL_1, 0),
                            "``i1`` without a derivative (as PyTorch has it).")
modified_bessel_k0 = _unary("modified_bessel_k0", _op(_sf.MODIFIED_BESSEL_0, 2),
                            "The modified Bessel function of the second kind of order 0 (inf at 0, nan below).")
modified_bessel_k1 = _unary("modified_bessel_k1", _op(_sf.MODIFIED_BESSEL_1, 2),
                            "The modified Bessel function of the second kind of order 1 (inf at 0, nan below).")
scaled_modified_bessel_k0 = _unary("scaled_modified_bessel_k0", _op(_sf.MODIFIED_BESSEL_0, 3),
                                   "``modified_bessel_k0(x) * exp(x)``.")
scaled_modified_bessel_k1 = _unary("scaled_modified_bessel_k1", _op(_sf.MODIFIED_BESSEL_1, 3),
                                   "``modified_bessel_k1(x) * exp(x)``.")
bessel_j0 = _unary("bessel_j0", _op(_sf.BESSEL_0, 0), """The Bessel function of the first kind of order 0.

>>> tapegrad.special.bessel_j0(tapegrad.tensor([0., 1.]))
tensor([1.0000, 0.7652])
""")
bessel_j1 = _unary("bessel_j1", _op(_sf.BESSEL_1, 0), "The Bessel function of the first kind of order 1.")
bessel_y0 = _unary("bessel_y0", _op(_sf.BESSEL_0, 1),
                   "The Bessel function of the second kind of order 0 (-inf at 0, nan below).")
bessel_y1 = _unary("bessel_y1", _op(_sf.BESSEL_1, 1),
                   "The Bessel function of the second kind of order 1 (-inf at 0, nan below).")
spherical_bessel_j0 = _unary("spherical_bessel_j0", _op(_sf.SPHERICAL_BESSEL_J0),
                             "The spherical Bessel function of the first kind of order 0, ``sin(x) / x``.")
airy_ai = _unary("airy_ai", _op(_sf.AIRY_AI), "The Airy function Ai.")
ndtri = _unary("ndtri", _op(_sf.NDTRI), """The inverse of ``ndtr``: -inf at 0, inf at 1, nan outside [0, 1].

>>> tapegrad.special.ndtri(tapegrad.tensor([0.5, 0.975]))
tensor([0.0000, 1.9600])
""")
log_ndtr = _unary("log_ndtr", _op(_sf.LOG_NDTR, 1), "``log(ndtr(input))``, accurate far into both tails.")
erfcx = _unary("erfcx", _op(_sf.ERFCX, 0), """The scaled complementary error function ``exp(x**2) * erfc(x)``.

>>> tapegrad.special.erfcx(tapegrad.tensor([0., 30.]))
tensor([1.0000, 0.0188])
""")
entr = _unary("entr", _op(_sf.ENTR), "The elementwise entropy ``-x * log(x)``: 0 at 0, -inf below 0.")


def _ndtr(input: Tensor) -> Tensor:
    # PyTorch's composite, (1 + erf(x / sqrt 2)) * 0.5, with its steps' grad_fn names.
    scaled = _apply(_sf.MUL_NUMBER, (input, 0.7071067811865476))
    return _apply(_sf.MUL_NUMBER, (_apply(_sf.ADD_NUMBER, (_ew.erf(scaled), 1)), 0.5))


ndtr = _unary("ndtr", _ndtr, """The standard normal distribution function.

>>> tapegrad.special.ndtr(tapegrad.tensor([0., 1.]))
tensor([0.5000, 0.8413])
""")


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """``log(p / (1 - p))``, with ``p`` clamped to ``[eps, 1 - eps]`` when ``eps`` is given."""
    _require_tensor("special_logit", input)
    return _ew.logit(input, eps)


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """Rounded half to even to ``decimals`` decimal places (negative: to the left of the point);
    floating-point tensors only. The gradient is zero.

    >>> tapegrad.special.round(tapegrad.tensor([1.2345, 2.5]), decimals=2)
    tensor([1.2300, 2.5000])
    """
    _require_tensor("special_round", input)
    if input._data.dtype.kind != "f":
        kernel = "round_vml_cpu" if decimals == 0 else "round_cpu"
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{input.dtype.scalar_name}'")
    if decimals == 0:
        return _apply(_sf.ROUND_ZERO_DECIMALS, (input,))
    # 10 ** |decimals| as C's pow gives it, rounded to the tensor's dtype by the kernel's operand.
    return _apply(_sf.ROUND_DECIMALS, (input, 10.0 ** abs(decimals), 1 if decimals < 0 else 0))


def polygamma(n: int, input: Tensor) -> Tensor:
    """The ``n``-th derivative of ``digamma``."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"special_polygamma(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    _require_tensor("special_polygamma", input, "input", 2)
    return _ew.polygamma(n, input)


def multigammaln(input: Tensor, p: int) -> Tensor:
    """The log of the multivariate gamma function of dimension ``p`` (``torch.mvlgamma``).

    >>> tapegrad.special.multigammaln(tapegrad.tensor([2.5]), 2)
    tensor([0.8570])
    """
    return _apply(_sf.MULTIGAMMALN, _sf.multigammaln_operands("special_multigammaln", input, p))


# ---------------------------------------------------------------- reductions

def logsumexp(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(input), dim))`` without overflow."""
    _require_tensor("special_logsumexp", input)
    return _composite.logsumexp(input, dim, keepdim)


def softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """``exp(input) / sum(exp(input), dim)``, computed in ``dtype`` when given."""
    _require_tensor("special_softmax", input)
    return _composite.softmax(input, dim, dtype)


def log_softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """``log(softmax(input, dim))``, computed in ``dtype`` when given."""
    _require_tensor("special_log_softmax", input)
    return _composite.log_softmax(input, dim, dtype)


# ---------------------------------------------------------------- two-argument functions

def _check_pair(function: str, first: Any, second: Any,
                names: tuple[str, str, str] = ("input", "self", "other")) -> None:
    """PyTorch's TypeError unless the arguments are (tensor, tensor), (number, tensor) or
    (tensor, number)."""
    if isinstance(first, Tensor) and (isinstance(second, Tensor) or isinstance(second, _NUMBER)):
        return
    if isinstance(first, _NUMBER) and isinstance(second, Tensor):
        return
    tensor_first, number_first, second_name = names
    got = ", ".join("Tensor" if isinstance(a, Tensor) else type(a).__name__ for a in (first, second))
    raise TypeError(f"{function}() received an invalid combination of arguments - got ({got}), but expected one of:\n"
                    f" * (Tensor {tensor_first}, Tensor {second_name}, *, Tensor out = None)\n"
                    f" * (Number {number_first}, Tensor {second_name}, *, Tensor out = None)\n"
                    f" * (Tensor {tensor_first}, Number {second_name}, *, Tensor out = None)\n")


def xlogy(input: Any, other: Any) -> Tensor:
    """``input * log(other)``, zero where ``input`` is zero."""
    _check_pair("special_xlogy", input, other)
    return _ew.xlogy(input, other)


def xlog1py(input: Any, other: Any) -> Tensor:
    """``input * log1p(other)``, zero where ``input`` is zero (nan where ``other`` is nan).

    >>> tapegrad.special.xlog1py(tapegrad.tensor([0., 2.]), tapegrad.tensor([-1., 1.]))
    tensor([0.0000, 1.3863])
    """
    _check_pair("special_xlog1py", input, other)
    op = (_sf.XLOG1PY if isinstance(other, Tensor) else _sf.XLOG1PY_NUMBER_OTHER) if isinstance(input, Tensor) \
        else _sf.XLOG1PY_NUMBER_SELF
    return _apply(op, (input, other))


def zeta(input: Any, other: Any) -> Tensor:
    """The Hurwitz zeta function ``sum_k (k + other) ** -input``; differentiable in ``other`` only.

    >>> tapegrad.special.zeta(tapegrad.tensor([2.]), 1.)
    tensor([1.6449])
    """
    _check_pair("special_zeta", input, other)
    op = (_sf.ZETA if isinstance(other, Tensor) else _sf.ZETA_NUMBER_OTHER) if isinstance(input, Tensor) \
        else _sf.ZETA_NUMBER_SELF
    return _apply(op, (input, other))


def gammainc(input: Tensor, other: Tensor) -> Tensor:
    """The regularized lower incomplete gamma function P(input, other); differentiable in
    ``other`` only.

    >>> tapegrad.special.gammainc(tapegrad.tensor([1.]), tapegrad.tensor([2.]))
    tensor([0.8647])
    """
    return _apply(_sf.GAMMAINC, _sf.incomplete_gamma_operands("special_gammainc", "igamma_cpu", input, other) + (0,))


def gammaincc(input: Tensor, other: Tensor) -> Tensor:
    """The regularized upper incomplete gamma function Q(input, other) = 1 - P(input, other)."""
    return _apply(_sf.GAMMAINCC, _sf.incomplete_gamma_operands("special_gammaincc", "igammac_cpu", input, other) + (1,))


# ---------------------------------------------------------------- orthogonal polynomials

def _polynomial(name: str, op: Any, numbers: Callable[[Any, Any], tuple[Any, ...]], doc: str) -> Callable[..., Tensor]:
    """``torch.special.<name>(input, n)``: ``op`` of the two (a tensor and a tensor or number,
    either way round) and the extra numbers that ``numbers(input, n)`` gives."""
    function = f"special_{name}"

    def polynomial(input: Any, n: Any) -> Tensor:
        _check_pair(function, input, n, ("x", "x", "n"))
        return _apply(op, (input, n) + numbers(input, n))

    polynomial.__name__ = polynomial.__qualname__ = name
    polynomial.__doc__ = doc
    return polynomial


def _chebyshev(kind: int, shifted: int) -> Callable[[Any, Any], tuple[int, int]]:
    return lambda input, n: (kind, shifted)


def _hermite_limit(kind: int) -> Callable[[Any, Any], tuple[int, int]]:
    # PyTorch gives nan beyond degree 128 in float32, 512 in float64.
    def numbers(input: Any, n: Any) -> tuple[int, int]:
        compute = _promote(_sf.HERMITE, (input, n))[0]
        return kind, 128 if compute.itemsize == 4 else 512

    return numbers


def _no_numbers(input: Any, n: Any) -> tuple[()]:
    return ()


chebyshev_polynomial_t = _polynomial("chebyshev_polynomial_t", _sf.CHEBYSHEV, _chebyshev(0, 0), """\
The Chebyshev polynomial of the first kind T_n(input) (n truncated to an integer; 0 for n < 0).

>>> tapegrad.special.chebyshev_polynomial_t(tapegrad.tensor([0.5, 2.]), 3)
tensor([-1., 26.])
""")
chebyshev_polynomial_u = _polynomial("chebyshev_polynomial_u", _sf.CHEBYSHEV, _chebyshev(1, 0),
                                     "The Chebyshev polynomial of the second kind U_n(input).")
chebyshev_polynomial_v = _polynomial("chebyshev_polynomial_v", _sf.CHEBYSHEV, _chebyshev(2, 0),
                                     "The Chebyshev polynomial of the third kind V_n(input).")
chebyshev_polynomial_w = _polynomial("chebyshev_polynomial_w", _sf.CHEBYSHEV, _chebyshev(3, 0),
                                     "The Chebyshev polynomial of the fourth kind W_n(input).")
shifted_chebyshev_polynomial_t = _polynomial("shifted_chebyshev_polynomial_t", _sf.CHEBYSHEV, _chebyshev(0, 1),
                                             "T_n(2 input - 1), the shifted Chebyshev polynomial of the first kind.")
shifted_chebyshev_polynomial_u = _polynomial("shifted_chebyshev_polynomial_u", _sf.CHEBYSHEV, _chebyshev(1, 1),
                                             "U_n(2 input - 1), the shifted Chebyshev polynomial of the second kind.")
shifted_chebyshev_polynomial_v = _polynomial("shifted_chebyshev_polynomial_v", _sf.CHEBYSHEV, _chebyshev(2, 1),
                                             "V_n(2 input - 1), the shifted Chebyshev polynomial of the third kind.")
shifted_chebyshev_polynomial_w = _polynomial("shifted_chebyshev_polynomial_w", _sf.CHEBYSHEV, _chebyshev(3, 1),
                                             "W_n(2 input - 1), the shifted Chebyshev polynomial of the fourth kind.")
hermite_polynomial_h = _polynomial("hermite_polynomial_h", _sf.HERMITE, _hermite_limit(0),
                                   "The physicists' Hermite polynomial H_n(input).")
hermite_polynomial_he = _polynomial("hermite_polynomial_he", _sf.HERMITE, _hermite_limit(1),
                                    "The probabilists' Hermite polynomial He_n(input).")
laguerre_polynomial_l = _polynomial("laguerre_polynomial_l", _sf.LAGUERRE, _no_numbers,
                                    "The Laguerre polynomial L_n(input).")
legendre_polynomial_p = _polynomial("legendre_polynomial_p", _sf.LEGENDRE, _no_numbers,
                                    "The Legendre polynomial P_n(input).")

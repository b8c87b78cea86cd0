"""``tapegrad.distributions``: probability distributions with sampling, reparameterized
sampling, log-densities, entropies and KL divergences (PyTorch's ``torch.distributions``):
``Normal``, ``Uniform``, ``Bernoulli`` and ``Categorical``."""
from . import constraints
from .distribution import Distribution
from .families import Bernoulli, Categorical, Normal, Uniform
from .kl import kl_divergence, register_kl

__all__ = ["Bernoulli", "Categorical", "Distribution", "Normal", "Uniform", "constraints", "kl_divergence",
           "register_kl"]

"""``tapegrad.optim``: optimizers and learning-rate schedulers."""
from . import lr_scheduler
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "lr_scheduler"]

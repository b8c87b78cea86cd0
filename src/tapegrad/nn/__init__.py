"""``tapegrad.nn``: modules, parameters, and ``functional``."""
from . import functional
from .module import Module
from .modules import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, Linear, MSELoss, NLLLoss, ReLU,
                      Sequential, Sigmoid, SmoothL1Loss, Tanh)
from .parameter import Parameter

__all__ = ["BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "Linear", "MSELoss", "Module", "NLLLoss",
           "Parameter", "ReLU", "Sequential", "Sigmoid", "SmoothL1Loss", "Tanh", "functional"]

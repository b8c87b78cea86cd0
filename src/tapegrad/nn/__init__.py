"""``tapegrad.nn``: modules, parameters, ``functional``, ``init`` and ``utils``."""
from . import functional, init, utils
from .adaptive import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .fold import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .module import Module
from .modules import *  # noqa: F401,F403
from .padding import *  # noqa: F401,F403
from .parameter_containers import *  # noqa: F401,F403
from .multihead import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403
from .upsampling import *  # noqa: F401,F403
from .parameter import Buffer, Parameter
from .lazy import *  # noqa: F401,F403
from .parameter import UninitializedBuffer, UninitializedParameter  # noqa: F401

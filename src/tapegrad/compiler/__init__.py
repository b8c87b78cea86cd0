"""``tapegrad.compile``: record a whole step as a Wengert list, fuse it, replay it as Numba code.

``trace`` records, ``passes`` and ``fusion`` rewrite, ``codegen`` writes the Numba function,
``replay`` guards and runs it. ``rules`` holds the primitives and the code each becomes.
"""
from .replay import CompiledFunction, compile
from .trace import TraceError

__all__ = ["CompiledFunction", "TraceError", "compile"]

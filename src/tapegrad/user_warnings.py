"""``warn_user``: ``warnings.warn`` attributed to the user's line, wherever inside tapegrad it is called.

A ``stacklevel`` counts frames, and the number of tapegrad frames between a user's call and a
warning varies: public functions go through a thin wrapper (``public_functions.py``), ops call
each other, modules call functions. So instead of a count, the warning goes to the first frame
outside the package: the line a user wrote, with that module's filters and once-per-location
registry, as ``warnings.warn`` would have given it with the right ``stacklevel``.
"""
from __future__ import annotations

import os
import sys
import warnings
from typing import Any

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_user(message: Any, category: type[Warning] | None = None, stacklevel: int = 1, source: Any = None) -> None:
    """``warnings.warn``'s signature; ``stacklevel`` is accepted and ignored (see above)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
    if frame is None:  # called from tapegrad alone (while it imports)
        warnings.warn(message, category, stacklevel=2, source=source)
        return
    if category is None:
        category = message.__class__ if isinstance(message, Warning) else UserWarning
    scope = frame.f_globals
    registry = scope.setdefault("__warningregistry__", {})
    # (No module_globals: the loader of a ``python -c`` script cannot give its source, and the
    # line is read when the warning is shown anyway.)
    warnings.warn_explicit(message, category, frame.f_code.co_filename, frame.f_lineno,
                           module=scope.get("__name__", "<string>"), registry=registry, source=source)

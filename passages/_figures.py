"""Figures drawn with text taken from users' files, shown as the letters it holds."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import matplotlib


def literal_text() -> AbstractContextManager[Any]:
    """Return a context in which matplotlib draws every text literally.

    School, street and area names come from files: a name such as ``$5 Store $`` or
    ``\\frac{`` must be printed as written, not parsed as mathtext (which fails on a
    stray ``$`` and ends the run) nor sent to LaTeX. Create and save figures inside it.
    """
    return matplotlib.rc_context({"text.parse_math": False, "text.usetex": False})

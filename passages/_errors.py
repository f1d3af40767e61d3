"""Exception types of ``passages``.

Every message names what was wrong (the file, the row or the field) and how to fix it, so
that the command line can print it as one line and exit non-zero.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

#: A message longer than this is cut (characters): a message never floods the terminal.
MAX_MESSAGE_CHARS = 600


def printable(text: object, *, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Return ``text`` as one printable line: control characters escaped, cut to ``limit``.

    Messages quote file names, field names and parts of bad files; this keeps raw bytes,
    terminal escape sequences and line breaks out of the terminal.
    """
    value = str(text)
    value = "".join(
        ch if ch == " " or not unicodedata.category(ch).startswith(("C", "Z")) else ch.encode("unicode_escape").decode()
        for ch in value
    )
    return value if len(value) <= limit else value[: limit - 1] + "…"


class PassagesError(Exception):
    """Base class of every error ``passages`` raises on purpose."""


class InputError(PassagesError, ValueError):
    """A file or value given by the user cannot be used.

    Parameters
    ----------
    problem
        What is wrong, in a few words.
    path
        The file concerned, if any.
    field
        The column, key or option concerned, if any.
    row
        The 1-based data row concerned, if any (the header is row 0).
    fix
        What the user can do about it.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str | Path | None = None,
        field: str | None = None,
        row: int | None = None,
        fix: str | None = None,
    ) -> None:
        problem = printable(problem)
        fix = printable(fix) if fix is not None else None
        field = printable(field, limit=120) if field is not None else None
        self.problem = problem
        self.path = Path(path) if path is not None else None
        self.field = field
        self.row = row
        self.fix = fix
        parts = []
        if self.path is not None:
            where = printable(self.path, limit=300)
            if row is not None:
                where += f", row {row}"
            parts.append(where)
        if field is not None:
            parts.append(f"field {field!r}")
        head = ": ".join([", ".join(parts), problem]) if parts else problem
        super().__init__(f"{head}. {fix}" if fix else head)


class UnknownAreaError(InputError):
    """The area slug is not one of the known areas."""


class EmptyResultError(PassagesError):
    """A stage produced nothing to work with (no streets, no places, no incidents)."""

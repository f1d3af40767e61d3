"""User-given names: the one way a name becomes part of a path, and clean display names.

Security rules of the project, in one place:

* a name given by a user (an area slug, a scenario name, a file stem) becomes part of a
  file or folder path **only** through :func:`slug`, which accepts letters, digits, ``-``
  and ``_`` (1 to 64 characters, starting with a letter or digit) and refuses anything
  else with one :class:`~passages._errors.InputError`; it never rewrites a name, so two
  different names never land on one path;
* names read from data files (schools, stops, parks, streets) pass :func:`clean_name`,
  which drops control and bidirectional-override characters, so a name cannot reorder
  what is shown around it;
* every CSV cell written passes :func:`csv_cell`, so no cell starts a spreadsheet formula.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

from passages._errors import InputError

__all__ = ["MAX_NAME_CHARS", "MAX_SLUG_CHARS", "clean_name", "csv_bytes", "csv_cell", "csv_safe_frame", "slug"]

#: Longest slug accepted (characters).
MAX_SLUG_CHARS = 64

#: Names read from data files are cut to this many characters.
MAX_NAME_CHARS = 200

_SLUG = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_SLUG_CHARS - 1}}}")

# Bidirectional embedding, override and isolate controls, and the marks; zero-width
# characters that hide text. (Category Cc, the C0/C1 controls, are dropped separately.)
_BIDI_AND_HIDDEN = dict.fromkeys(
    [0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x061C, 0x2060, 0xFEFF,
     *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)

#: A CSV cell starting with one of these is read as a formula by spreadsheet programs.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def slug(text: Any, *, field: str, path: str | Path | None = None) -> str:
    """Return ``text`` if it is a safe slug, else raise :class:`InputError`.

    A safe slug is 1 to :data:`MAX_SLUG_CHARS` characters of ASCII letters, digits, ``-``
    and ``_``, starting with a letter or digit: it cannot name a parent folder (``..``),
    an absolute path, a hidden file or a command-line option, on any operating system.

    Parameters
    ----------
    text
        The name given by the user.
    field
        What the name is (``"--area"``, ``"scenario name"``), for the message.
    path
        The file the name was read from, if any, for the message.

    Raises
    ------
    InputError
        If ``text`` is not a string or not a safe slug.
    """
    if isinstance(text, str) and _SLUG.fullmatch(text):
        return text
    shown = repr(text) if isinstance(text, str) and len(text) <= 80 else f"of {len(str(text))} characters"
    raise InputError(
        f"the name {shown} cannot be used in a file name", path=path, field=field,
        fix=f"Use 1 to {MAX_SLUG_CHARS} letters, digits, '-' or '_', starting with a letter or digit "
            "(for example 'posts-2-morning').",
    )


def clean_name(text: Any, *, default: str = "") -> str:
    """Return a display name with control and bidi-override characters removed.

    White space runs become one space and the result is cut to :data:`MAX_NAME_CHARS`
    characters. ``None``, NaN and empty strings give ``default``.
    """
    if text is None or (isinstance(text, float) and text != text):
        return default
    value = unicodedata.normalize("NFC", str(text)).translate(_BIDI_AND_HIDDEN)
    value = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in value)
    value = " ".join(value.split())
    if len(value) > MAX_NAME_CHARS:
        value = value[: MAX_NAME_CHARS - 1] + "…"
    return value or default


def csv_cell(value: Any) -> Any:
    """Return ``value`` safe for a CSV cell: a text starting a formula gets a leading ``'``.

    Numbers, booleans and empty values are returned unchanged; text has its control
    characters and bidi overrides removed (:func:`clean_name`) and, if it would start with
    ``= + - @ | %`` or a tab or line break, a leading apostrophe, which spreadsheet programs
    show as text (the OWASP advice on CSV injection).
    """
    if not isinstance(value, str):
        return value
    text = clean_name(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``frame`` whose text cells and column names pass :func:`csv_cell`."""
    import pandas as pd  # imported here: the command line starts without pandas

    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or isinstance(safe[column].dtype, pd.StringDtype):
            safe[column] = safe[column].map(csv_cell)
    safe.columns = [csv_cell(str(c)) for c in safe.columns]
    return safe


def csv_bytes(frame: pd.DataFrame, **options: object) -> bytes:
    """Return ``frame`` as CSV (UTF-8, ``\\n`` line ends, no index), every text cell made safe.

    Every CSV passages writes goes through here: a text cell that would start a
    spreadsheet formula (``= + - @``...) gets a leading apostrophe and control and
    bidi-override characters are removed (:func:`csv_cell`).
    """
    text: str = csv_safe_frame(frame).to_csv(index=False, lineterminator="\n", **options)  # type: ignore[call-overload]
    return text.encode("utf-8")

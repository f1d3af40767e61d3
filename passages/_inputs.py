"""Checks every reader makes before it opens a file a user gave.

Each check raises one :class:`~passages._errors.InputError` naming the file and the real
cause (missing, a folder, a device or pipe, unreadable, empty, binary where text was
expected), so that no reader reports "file not found" for a folder or dumps raw bytes of a
binary file into the terminal.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from passages._errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["check_file", "check_text_file", "is_binary", "read_text_csv"]

#: Bytes read from the start of a file to tell text from binary.
SNIFF_BYTES = 65536

# Signatures of binary formats a user may give by mistake, named in the message.
_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive"), (b"\x1f\x8b", "a gzip archive"), (b"BZh", "a bzip2 archive"),
    (b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
    (b"SQLite format 3", "an SQLite database (GeoPackage?)"), (b"PAR1", "a Parquet file"),
    (b"\x80", "a Python pickle"),
    (b"\x7fELF", "a program"),
)


def check_file(path: str | Path, *, what: str, fix: str | None = None) -> Path:
    """Return ``path`` if it names a readable, non-empty regular file; else raise.

    Parameters
    ----------
    path
        The file given by the user.
    what
        What the file should be ("incident file", "scenario file"), for the message.
    fix
        What the user can do, added to every message.

    Raises
    ------
    InputError
        Naming the file and whether it is missing, a folder, not a regular file (a
        device such as ``/dev/zero`` or a pipe), unreadable or empty.
    """
    path = Path(path)
    fix = fix or f"Give the path of a {what}."
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{what} not found", path=path, fix=fix) from None
    except OSError as exc:
        raise InputError(f"{what} cannot be opened ({exc.strerror or exc})", path=path, fix=fix) from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"is a folder, not a {what}", path=path, fix=fix)
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"is not a regular file (a device, pipe or socket), not a {what}", path=path, fix=fix)
    if not os.access(path, os.R_OK):
        raise InputError(f"{what} cannot be read (permission denied)", path=path,
                         fix="Make the file readable by this user.")
    if info.st_size == 0:
        raise InputError(f"{what} is empty", path=path, fix=fix)
    return path


def is_binary(head: bytes) -> str | None:
    """Return what kind of binary data ``head`` (a file's first bytes) is, or ``None`` for text."""
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if head[4:15] == b"\x0a\x09OSMHeader":  # a 4-byte header length, then the first BlobHeader
        return "an OSM PBF file"
    if b"\x00" in head:
        return "binary data"
    return None


def check_text_file(path: str | Path, *, what: str, fix: str | None = None) -> Path:
    """:func:`check_file`, then refuse a file whose first bytes are not text.

    Raises
    ------
    InputError
        As :func:`check_file`, or naming the binary format found (ZIP, PDF, pickle, ...)
        without printing any of its bytes.
    """
    path = check_file(path, what=what, fix=fix)
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise InputError(f"{what} cannot be read ({exc.strerror or exc})", path=path, fix=fix) from None
    kind = is_binary(head)
    if kind is not None:
        raise InputError(f"is {kind}, not a text {what}", path=path, fix=fix or f"Give a text {what}.")
    return path


def read_text_csv(path: str | Path, *, what: str, field: str, fix: str) -> pd.DataFrame:
    """Return a CSV a user gave as a table of text columns (UTF-8), no value read as missing.

    :func:`check_text_file` first; a file pandas cannot parse as CSV gives one
    :class:`InputError` naming it, ``field`` and ``fix``.
    """
    import pandas as pd

    path = check_text_file(path, what=what, fix=fix)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"not a readable CSV ({type(exc).__name__})", path=path, field=field, fix=fix) from None

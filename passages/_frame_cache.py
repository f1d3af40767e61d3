"""A cache of parsed inputs: a small (Geo)DataFrame stored as data, never as a pickle.

Reading an area's place files (a county-wide schools GeoJSON, two GTFS stop tables, two
park shapefiles) costs about 1.7 s per plan, almost all of it parsing and cleaning rows
that are then clipped away; what is left is a frame of a few hundred rows. This module
keeps that frame under ``data/processed/<kind>/`` so the next plan reads it in a few
milliseconds.

An entry is one file, ``<stem>.json``: a first line holding a JSON header (format, version,
key, the size and SHA-256 of the rest) and then the JSON payload: the CRS, the rows' column
names and types, each column as one list (numbers, booleans, text or ``null``),
geometries as WKB in hexadecimal, and the warnings the readers gave, replayed on every
read so a cached plan carries the same notes as a fresh one.

The key is the caller's: :func:`file_digest` of every source file (its bytes, and for a
shapefile every file beside it with the same stem), :func:`code_digest` of the reader
modules (so a changed reader never serves an old answer), and whatever else the result
depends on. Nothing is trusted on reading: another format or key, a size or SHA-256 that
differs from the header, a column of another length or type, or WKB that does not parse
makes :func:`load_frame` ignore the entry with a note and return ``None``, and the caller
rebuilds it. Entries are written through :func:`passages._io.write_atomic` (a temporary
file renamed over the entry), so concurrent writers of one key each leave a complete file
and a reader never sees half of one; at most :data:`KEEP_PER_STEM` entries are kept per
area and kind, the oldest removed first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from passages._io import remove_stale_temporaries, write_atomic

__all__ = ["cached_frame", "code_digest", "file_digest", "load_frame", "save_frame"]

#: Name of the format, in every header.
FORMAT = "passages-frame-cache"

#: Bumped whenever the layout of an entry changes; older entries are then rebuilt.
FORMAT_VERSION = 1

#: Entries kept per stem prefix (area and kind); the oldest beyond this are removed.
KEEP_PER_STEM = 8

#: Largest entry read back (bytes); a bigger file is not an entry of ours.
MAX_ENTRY_BYTES = 256 * 1024 * 1024

_KINDS = {"int": "int64", "float": "float64", "bool": "bool", "text": "text"}


class _DamagedError(Exception):
    """An entry that cannot be trusted (the message says why)."""


def file_digest(path: Path) -> str:
    """Return the SHA-256 (hex) of a source file's bytes.

    A shapefile (``.shp``) is read with the files beside it of the same stem (``.dbf``,
    ``.shx``, ``.prj``, ``.cpg``): each is hashed with its suffix, so a changed attribute
    table or projection changes the digest too.
    """
    path = Path(path)
    parts = [path]
    if path.suffix.lower() == ".shp":
        parts = sorted(p for p in path.parent.glob(f"{_glob_escape(path.stem)}.*") if p.is_file())
    digest = hashlib.sha256()
    for part in parts:
        digest.update(f"{part.suffix.lower()}|{part.stat().st_size}|".encode())
        with part.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)


def code_digest(modules: Iterable[ModuleType]) -> str:
    """Return the SHA-256 (hex) of the source files of ``modules``: the readers' version."""
    digest = hashlib.sha256()
    for module in modules:
        source = getattr(module, "__file__", None)
        digest.update(f"{module.__name__}|".encode())
        if source:
            digest.update(Path(source).read_bytes())
    return digest.hexdigest()


def _encode_column(values: pd.Series) -> tuple[str, list[Any]]:
    """Return the type tag and plain JSON values of one column."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool", [bool(v) for v in values]
    if pd.api.types.is_integer_dtype(dtype):
        return "int", [int(v) for v in values]
    if pd.api.types.is_float_dtype(dtype):
        return "float", [float(v) if math.isfinite(v) else None for v in values.astype(float)]
    plain: list[Any] = []
    for value in values:
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            plain.append(None)
        elif isinstance(value, str):
            plain.append(value)
        else:
            raise TypeError(f"column {values.name!r} holds a {type(value).__name__}, not text")
    return "text", plain


def _decode_column(name: str, kind: str, values: Any, rows: int) -> pd.Series:
    if kind not in _KINDS:
        raise _DamagedError(f"column {name!r} has an unknown type")
    if not isinstance(values, list) or len(values) != rows:
        raise _DamagedError(f"column {name!r} has the wrong length")
    if kind == "text":
        if not all(v is None or isinstance(v, str) for v in values):
            raise _DamagedError(f"column {name!r} holds something other than text")
        return pd.Series(values, dtype="str", name=name)
    if kind == "float":
        if not all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values):
            raise _DamagedError(f"column {name!r} holds something other than numbers")
        return pd.Series([np.nan if v is None else float(v) for v in values], dtype="float64", name=name)
    wanted = bool if kind == "bool" else int
    if not all(isinstance(v, wanted) and (kind == "bool" or not isinstance(v, bool)) for v in values):
        raise _DamagedError(f"column {name!r} holds something other than {_KINDS[kind]}")
    return pd.Series(values, dtype=_KINDS[kind], name=name)


def save_frame(path: Path, key: str, frame: gpd.GeoDataFrame, notes: Sequence[str] = ()) -> bool:
    """Store ``frame`` (and the readers' ``notes``) as the entry ``path`` for ``key``.

    Returns False, writing nothing, when a column holds values the format does not keep
    (anything but numbers, booleans, text and ``None``); the caller then simply goes on
    without a cache.
    """
    try:
        columns = {}
        for name in frame.columns:
            if name == frame.geometry.name:
                continue
            columns[str(name)] = _encode_column(frame[name])
    except TypeError:
        return False
    geometry = shapely.to_wkb(np.asarray(frame.geometry.values, dtype=object), hex=True)
    payload = json.dumps({
        "crs": frame.crs.to_string() if frame.crs is not None else None,
        "rows": len(frame),
        "geometry_column": frame.geometry.name,
        "order": [str(c) for c in frame.columns],
        "columns": {name: {"type": kind, "values": values} for name, (kind, values) in columns.items()},
        "geometry": [None if g is None else str(g) for g in geometry],
        "notes": [str(n) for n in notes],
    }, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    header = json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "key": key, "size": len(payload),
                         "sha256": hashlib.sha256(payload).hexdigest()}).encode("utf-8")
    write_atomic(path, header + b"\n" + payload)
    return True


def load_frame(path: Path, key: str) -> tuple[gpd.GeoDataFrame, list[str]] | None:
    """Return the frame and notes stored in ``path`` for ``key``, or ``None``.

    ``None`` when there is no entry; when there is one that cannot be trusted (see the
    module notes), also a :class:`UserWarning` saying it is rebuilt.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_ENTRY_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        _damaged(path, f"it cannot be read ({type(exc).__name__})")
        return None
    try:
        return _parse(data, key)
    except _DamagedError as exc:
        _damaged(path, str(exc))
        return None


def _parse(data: bytes, key: str) -> tuple[gpd.GeoDataFrame, list[str]]:
    if len(data) > MAX_ENTRY_BYTES:
        raise _DamagedError("it is too large")
    head, sep, payload = data.partition(b"\n")
    try:
        header = json.loads(head)
    except ValueError:
        raise _DamagedError("its header is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _DamagedError("it is not a passages frame cache entry")
    if header.get("version") != FORMAT_VERSION or header.get("key") != key:
        raise _DamagedError("it was written by another version or for other inputs")
    if not sep or header.get("size") != len(payload) or header.get("sha256") != hashlib.sha256(payload).hexdigest():
        raise _DamagedError("its size or SHA-256 differs from its header")
    try:
        body = json.loads(payload)
    except ValueError:
        raise _DamagedError("its data is not JSON") from None
    if not isinstance(body, dict):
        raise _DamagedError("its data is not a JSON object")
    rows, order, columns = body.get("rows"), body.get("order"), body.get("columns")
    geometry, notes, geometry_column = body.get("geometry"), body.get("notes"), body.get("geometry_column")
    if not (isinstance(rows, int) and rows >= 0 and isinstance(order, list) and isinstance(columns, dict)
            and isinstance(geometry, list) and len(geometry) == rows and isinstance(notes, list)
            and all(isinstance(n, str) for n in notes) and isinstance(geometry_column, str)
            and set(order) == set(columns) | {geometry_column}):
        raise _DamagedError("its data is not laid out as expected")
    series = {}
    for name in order:
        if name == geometry_column:
            continue
        spec = columns[name]
        if not isinstance(spec, dict):
            raise _DamagedError(f"column {name!r} is not laid out as expected")
        series[name] = _decode_column(name, str(spec.get("type")), spec.get("values"), rows)
    if not all(g is None or isinstance(g, str) for g in geometry):
        raise _DamagedError("a geometry is not WKB text")
    try:
        geoms = shapely.from_wkb(np.asarray(geometry, dtype=object))
    except (shapely.errors.GEOSException, ValueError, TypeError):
        raise _DamagedError("a geometry is not valid WKB") from None
    frame = gpd.GeoDataFrame(series, geometry=gpd.GeoSeries(geoms, name=geometry_column),
                             crs=body.get("crs"))
    return frame[list(order)], list(notes)


def _damaged(path: Path, why: str) -> None:
    warnings.warn(f"cache entry {path.name} ignored and rebuilt: {why}", UserWarning, stacklevel=3)


def cached_frame(folder: Path, stem: str, key: str, build: Callable[[], gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Return the frame stored for ``key``, or ``build()`` it and store it.

    The warnings ``build`` gives are recorded with the entry and given again on every read
    (as :class:`UserWarning`), so the caller cannot tell a cached answer from a fresh one.
    Errors of ``build`` are raised as they are and nothing is stored.

    Parameters
    ----------
    folder
        The cache folder (e.g. ``data/processed/places``); created when needed.
    stem
        The entry's name without the key: a slug (e.g. the area's).
    key
        Everything the frame depends on, digested (hex).
    build
        Makes the frame when there is no usable entry.
    """
    path = folder / f"{stem}-{key[:24]}.json"
    found = load_frame(path, key)
    if found is not None:
        frame, notes = found
        for note in notes:
            warnings.warn(note, UserWarning, stacklevel=2)
        return frame
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = build()
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    with contextlib.suppress(OSError):  # a read-only or full disk: plan on without the cache
        if save_frame(path, key, frame, notes):
            _prune(folder, stem)
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return frame


def _prune(folder: Path, stem: str) -> None:
    """Remove the oldest entries of ``stem`` beyond :data:`KEEP_PER_STEM`, and stale temporaries."""
    def of_stem(path: Path) -> bool:
        rest = path.name[len(stem) + 1:-len(".json")]
        return len(rest) == 24 and all(c in "0123456789abcdef" for c in rest)

    entries = sorted((p for p in folder.glob(f"{_glob_escape(stem)}-*.json") if of_stem(p)),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP_PER_STEM:]:
        with contextlib.suppress(OSError):
            old.unlink()
    remove_stale_temporaries(folder)

"""Reading incident files: formats, columns and values, before any filtering.

Plumbing of :mod:`passages.incidents`. :func:`_open_file` checks one file (a folder, a device,
a binary file are refused by :mod:`passages._inputs`), reads its header (commas, semicolons or
tabs), tells its format and maps the roles (lat, lon, date, ...) to its columns; it returns
a :class:`_Source` whose rows come in chunks of :data:`passages.settings.incident_chunk_rows`
rows, only the columns needed, each chunk in one common shape (:class:`_Parsed`: every value
parsed or flagged as unparseable). Memory thus grows with the chunk and with the rows the
caller keeps, not with the file. The value parsers read dates, clock times, hours, crime
codes and categories; the LAPD crime-code table is loaded once and cached.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from passages import settings
from passages._errors import InputError
from passages._inputs import check_file, check_text_file
from passages._names import clean_name
from passages.mapping import FileMapping, missing_column

_LAPD_REQUIRED = ("DATE OCC", "TIME OCC", "CRM CD", "LAT", "LON")
_LAPD_SIGNATURE = frozenset({"DR NO", "DATE OCC", "TIME OCC", "CRM CD"})
_WEIGHTED_REQUIRED = ("LAT", "LON", "HOUR", "WEIGHT")
_GEO_SUFFIXES = frozenset({".geojson", ".json", ".gpkg", ".shp"})
_BINARY_GEO_SUFFIXES = frozenset({".gpkg", ".shp"})
_TIMEZONE = "America/Los_Angeles"


# --------------------------------------------------------------------------- crime codes


@functools.cache
def _code_table() -> pd.DataFrame:
    """Return the LAPD crime-code table shipped in ``passages/data`` (cached: do not modify)."""
    resource = resources.files("passages").joinpath("data/lapd_crime_codes.csv")
    with resources.as_file(resource) as path:
        return pd.read_csv(path, dtype={"code": "int64", "description": "str", "category": "str"})


@functools.cache
def _category_of_code() -> dict[int, str]:
    """Return the category of each LAPD crime code."""
    table = _code_table()
    return dict(zip(table["code"].astype(int), table["category"].astype(str), strict=True))


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Mode:
    """Assumptions a file is read under; a scan that finds one wrong reads the file again.

    ``numeric``: the number columns (lat, lon, hour, weight) are parsed by the CSV reader as
    float64 (fast, small); a cell that is not a number stops the read, and the file is read
    again as text, each bad cell then counted as unparseable. ``day_first``: dates written
    with slashes are DD/MM/YYYY instead of MM/DD/YYYY, for the whole file.
    """

    numeric: bool = True
    day_first: bool = False


class _Restart(Exception):  # noqa: N818 (a signal, not an error)
    """Raised during a scan when the file must be read again under ``mode``."""

    def __init__(self, mode: _Mode) -> None:
        super().__init__(repr(mode))
        self.mode = mode


@dataclass
class _Tally:
    """Counts behind a file's notes, added up over its chunks (rows are 1-based data rows)."""

    unknown_codes: set[int] = field(default_factory=set)
    unknown_code_rows: int = 0
    blank_code_rows: int = 0
    strange_categories: set[str] = field(default_factory=set)
    strange_category_rows: int = 0
    day_first_row: int | None = None  # first row whose date can only be DD/MM/YYYY
    day_first_text: str = ""
    month_first_row: int | None = None  # first row whose date can only be MM/DD/YYYY
    month_first_text: str = ""
    unlisted_types: set[str] = field(default_factory=set)  # crime types missing from the mapping's table
    unlisted_type_rows: int = 0
    format_dates: int = 0  # non-blank dates read with the mapping's date_format
    format_misses: int = 0  # ... of which did not match it
    format_miss_row: int | None = None
    format_miss_text: str = ""
    spec: FileMapping | None = None

    def notes(self, name: str, known_categories: Sequence[str]) -> list[str]:
        """Return the notes these counts call for."""
        notes = []
        if self.unknown_code_rows:
            missing = sorted(self.unknown_codes)
            shown = ", ".join(str(c) for c in missing[:10]) + (" ..." if len(missing) > 10 else "")
            notes.append(f"{name}: {self.unknown_code_rows} rows have crime codes missing from "
                         f"the LAPD code table ({shown}): counted as 'other'")
        if self.blank_code_rows:
            notes.append(f"{name}: {self.blank_code_rows} rows have no crime code: counted as "
                         "'unknown' (severity 1.0)")
        if self.strange_category_rows:
            shown = ", ".join(sorted(clean_name(v) for v in self.strange_categories)[:5])
            notes.append(f"{name}: {self.strange_category_rows} rows have a category other than "
                         f"{', '.join(known_categories)} ({shown} ...): counted as 'other'")
        spec = self.spec
        if self.unlisted_type_rows and spec is not None:
            listed = sorted(clean_name(v) for v in self.unlisted_types)
            shown = ", ".join(listed[:8]) + (" ..." if len(listed) > 8 else "")
            notes.append(f"{name}: {self.unlisted_type_rows} rows have crime types not in "
                         f"{spec.setting_key('categories')} of {spec.where} ({shown}): counted as "
                         f"{spec.default_category!r}")
        if self.format_misses and spec is not None:
            notes.append(f"{name}: {self.format_misses} of {self.format_dates} dates do not match "
                         f"{spec.setting_key('date_format')} {spec.date_format!r} (first: row "
                         f"{self.format_miss_row}, {self.format_miss_text!r}): dropped as 'unparseable date'")
        return notes


@dataclass
class _Parsed:
    """One chunk of a file's rows in a common shape, before filtering.

    ``rows`` columns: row (int, 1-based data row of the file), id (text; NaN when the file
    has no id or the cell is blank), lat, lon (float, NaN when not a number), date
    (datetime64, midnight; NaT when unknown), date_bad (bool), minute (float minute of day,
    NaN when unknown), hour_bin (float hour 0-23 of hourly rows), time_bad (bool),
    crime_code (Int64), category (str), base_weight (float, NaN when not a number).
    """

    rows: pd.DataFrame


@dataclass
class _Source:
    """One incident file opened for reading: what it holds, and its rows chunk by chunk.

    Attributes
    ----------
    name, path
        Display name and path of the file.
    has_dates, time_kind
        Whether rows carry a date; ``"minute"`` (clock time), ``"hour"`` (hour of day) or
        ``None`` (no time of day).
    labels
        Column (or property) name in the file of each role read, for messages.
    notes
        Notes known before any row is read.
    chunks
        The rows, as :class:`_Parsed` chunks, in file order.
    tally
        Counts filled in while the chunks are read.
    """

    name: str
    path: Path
    has_dates: bool
    time_kind: str | None
    labels: dict[str, str]
    notes: list[str]
    chunks: Iterator[_Parsed]
    tally: _Tally
    check_end: Callable[[int], None] = lambda rows: None
    spec: FileMapping | None = None
    header: tuple[str, ...] = ()
    fmt: str = "table"  # the format the file is read as (FORMATS of passages.incidents)


def _as_paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        raise InputError("no incident file given", field="paths",
                         fix="Give at least one CSV or GeoJSON file of incidents.")
    return [Path(item) for item in items]


def _display_names(files: list[Path]) -> list[str]:
    """File names; parent/name for names that occur more than once."""
    counts: dict[str, int] = {}
    for path in files:
        counts[path.name] = counts.get(path.name, 0) + 1
    return [clean_name(f"{p.parent.name}/{p.name}" if counts[p.name] > 1 else p.name) for p in files]


def _norm(name: str) -> str:
    return re.sub(r"[\s_]+", " ", str(name).strip().lstrip("\ufeff")).strip().upper()


def _shown_columns(header: Sequence[object], limit: int = 15) -> str:
    """Return column names found in a file, cleaned, for a message."""
    names = [clean_name(h) for h in header if clean_name(h)]
    return ", ".join(names[:limit]) + (f" ... ({len(names)} columns)" if len(names) > limit else "")


def _encoding(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not a multi-byte character cut at the buffer end
            return "latin-1"
    return "utf-8-sig"


def _csv_header(path: Path, encoding: str) -> tuple[list[str], str, list[str]]:
    """Return the header cells, the delimiter (``,``, ``;`` or tab) and notes about it."""
    try:
        with path.open(newline="", encoding=encoding, errors="replace") as handle:
            first = handle.readline(1 << 20)
    except OSError as exc:
        raise InputError(f"incident file cannot be read ({exc.strerror or exc})", path=path,
                         fix="Check the path and the permissions of the file.") from None
    if not first.strip():
        raise InputError("file has no header row", path=path,
                         fix="The first line must name the columns, separated by commas.")
    delimiter = ","
    notes = []
    cells = _split_line(first, ",")
    for other, word in ((";", "semicolons"), ("\t", "tabs")):
        if len(cells) == 1 and len(_split_line(first, other)) > 1:
            delimiter, cells = other, _split_line(first, other)
            notes.append(f"{path.name} separates its columns with {word}, not commas: read as such")
            break
    if not any(cell.strip() for cell in cells):
        raise InputError("file has no header row", path=path,
                         fix="The first line must name the columns, separated by commas.")
    return cells, delimiter, notes


def _split_line(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter), [])
    except csv.Error:
        return [line]


def _find_columns(path: Path, label: str, header: list[str], wanted: Sequence[str], *,
                  fmt: str, fix: str, notes: list[str]) -> dict[str, int]:
    """Return the position of each normalised name in ``wanted``; raise naming a missing one."""
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        key = _norm(name)
        if key in positions:
            if key in wanted:
                notes.append(f"{label}: column {clean_name(name)!r} appears more than once; "
                             "the first is used")
            continue
        positions[key] = index
    for name in wanted:
        if name not in positions:
            shown = next((label for label in _LAPD_LABELS.get(name, (name,))), name)
            expected = ", ".join(_LAPD_LABELS.get(n, (n,))[0] for n in wanted)
            raise InputError(
                f"required column {shown!r} is missing for format {fmt!r} (columns found: "
                f"{_shown_columns(header)}; expected: {expected})", path=path, field=shown, fix=fix)
    return positions


_LAPD_LABELS = {"CRM CD": ("Crm Cd",), "DR NO": ("DR_NO",)}

#: The fix of a header that names no known set of columns, for a command-line user.
_HEADER_FIX = ("Rename the columns in the file's first line to one of these sets (a text editor or "
               "spreadsheet can do it), or name them in a mapping file given with --mapping (see "
               "examples/chicago/mapping.toml); from Python, fmt='table' with a columns mapping reads any names.")


def _detect_format(path: Path, header: list[str]) -> str:
    names = {_norm(name) for name in header}
    if set(_WEIGHTED_REQUIRED) <= names:
        return "weighted"
    if names & _LAPD_SIGNATURE:
        return "lapd"
    if names & {"HOUR", "WEIGHT"}:
        return "weighted"
    raise InputError(
        f"cannot tell the incident format from the header (columns found: {_shown_columns(header)}; "
        "expected the LAPD columns DR_NO, DATE OCC, TIME OCC, Crm Cd, LAT, LON, or the weighted "
        "columns LAT, LON, HOUR, WEIGHT)", path=path, fix=_HEADER_FIX,
    )


#: Roles whose values are numbers, read as float64 when the mode allows.
_NUMERIC_ROLES = frozenset({"lat", "lon", "hour", "weight"})


def _open_file(path: Path, name: str, *, fmt: str | None, columns: Mapping[str, str] | None,
               known_categories: Sequence[str], mode: _Mode, chunk_rows: int,
               spec: FileMapping | None = None) -> _Source:
    """Open one file: check it, read its header, tell its format, map roles to columns.

    ``spec`` is what a mapping says about the file (:mod:`passages.mapping`): its columns
    (then the format is ``"table"``), date and time formats, CRS and crime-type table.
    """
    if spec is not None and spec.roles:
        columns = spec.columns
    if columns is not None and "crime_type" in columns and not (spec and spec.categories):
        source = spec.source if spec is not None and spec.source is not None else path
        raise InputError(f"a crime_type column is mapped for {path.name} but no table of crime type to category",
                         path=source, field=spec.key_of("crime_type") if spec is not None else "crime_type",
                         fix='Add [incidents.categories] with lines such as "ROBBERY" = "violent" (and '
                             'default = "other"), or map the column as category (values violent, property, '
                             "other).")
    suffix = path.suffix.lower()
    fix = "Give an incident CSV (LAPD export or LAT,LON,HOUR,WEIGHT) or a GeoJSON of points."
    if suffix in _BINARY_GEO_SUFFIXES:
        check_file(path, what="CSV or GeoJSON file of incidents", fix=fix)
    else:
        check_text_file(path, what="CSV or GeoJSON file of incidents", fix=fix)
    if suffix in _GEO_SUFFIXES:
        if fmt not in (None, "table"):
            raise InputError(f"format {fmt!r} is read from CSV files only", path=path,
                             field="fmt", fix="Give fmt='table' for a GeoJSON file.")
        return _open_geo(path, name, columns or {}, known_categories, mode, spec)
    encoding = _encoding(path)
    header, delimiter, notes = _csv_header(path, encoding)
    if fmt is None:
        fmt = "table" if columns is not None else _detect_format(path, header)
    if fmt == "lapd":
        positions = _find_columns(
            path, name, header, _LAPD_REQUIRED, fmt="lapd", notes=notes,
            fix="An LAPD 'Crime Data from 2020 to Present' CSV has DATE OCC, TIME OCC, Crm Cd, LAT "
                "and LON: rename the columns in the file's first line, or export the file again.")
        mapping = {"date": "DATE OCC", "time": "TIME OCC", "code": "CRM CD", "lat": "LAT", "lon": "LON"}
        if "DR NO" in positions:
            mapping["id"] = "DR NO"
        indices = {role: positions[key] for role, key in mapping.items()}
    elif fmt == "weighted":
        positions = _find_columns(
            path, name, header, _WEIGHTED_REQUIRED, fmt="weighted", notes=notes,
            fix="A weighted-points CSV has the columns LAT, LON, HOUR (0-23) and WEIGHT: rename the "
                "columns in the file's first line.")
        indices = {role: positions[role.upper()] for role in ("lat", "lon", "hour", "weight")}
    else:
        if not columns:
            raise InputError("format 'table' needs a columns mapping", path=path, field="columns",
                             fix="Map at least lat and lon, such as "
                                 "columns={'lat': 'Latitude', 'lon': 'Longitude'}.")
        indices = _table_indices(path, header, columns, spec)
    labels = {role: clean_name(header[index]) for role, index in indices.items()}
    tally = _Tally(spec=spec)
    has_dates, time_kind, static = _static_notes(name, _roles_read(set(indices), spec))
    raw_chunks = _csv_chunks(path, encoding, delimiter, indices, mode, chunk_rows)
    chunks = (_parse_chunk(raw, name=name, mode=mode, tally=tally, known_categories=known_categories,
                           spec=spec, path=path)
              for raw in raw_chunks)

    def check_end(rows: int) -> None:
        _check_last_row(path, encoding, delimiter, len(header), rows)

    return _Source(name, path, has_dates, time_kind, labels, [*notes, *static], chunks, tally, check_end,
                   spec, tuple(str(h) for h in header), fmt)


def _roles_read(roles: set[str], spec: FileMapping | None) -> set[str]:
    """The roles a file's rows carry: a date column read with a clock format gives the time too."""
    if spec is not None and spec.date_has_clock and "date" in roles and not roles & {"time", "hour"}:
        return roles | {"time"}
    return roles


def _table_indices(path: Path, header: list[str], columns: Mapping[str, str],
                   spec: FileMapping | None = None) -> dict[str, int]:
    for role in ("lat", "lon"):
        if role not in columns:
            if spec is not None and spec.source is not None:
                raise InputError(f"[incidents] of {spec.where} maps no {role} column for {path.name}",
                                 path=spec.source, field=f"[incidents] {role}",
                                 fix=f'Add {role} = "<the {"latitude" if role == "lat" else "longitude"} '
                                     'column>" to [incidents] (or to the file\'s own section).')
            raise InputError(f"the columns mapping has no {role!r} role", path=path,
                             field="columns",
                             fix="A CSV needs lat and lon columns (EPSG:4326 degrees).")
    exact = {label: index for index, label in reversed(list(enumerate(header)))}
    loose = {_norm(label): index for index, label in reversed(list(enumerate(header)))}
    indices: dict[str, int] = {}
    for role, label in columns.items():
        index = exact.get(label, loose.get(_norm(label)))
        if index is None:
            raise missing_column(spec, role, label, path, [clean_name(h) for h in header])
        indices[role] = index
    return indices


def _static_notes(name: str, roles: set[str]) -> tuple[bool, str | None, list[str]]:
    """Return has_dates, the time kind and the notes that depend on the roles read only."""
    notes = []
    has_dates = "date" in roles
    if not has_dates:
        notes.append(f"{name} has no dates: weekday filter and recency weighting not applied")
    if not roles & {"code", "category", "crime_type"}:
        notes.append(f"{name} has no crime types: every point is category 'unknown' (severity 1.0)")
    time_kind: str | None = None
    if "time" in roles:
        time_kind = "minute"
    elif "hour" in roles:
        time_kind = "hour"
        notes.append(f"{name} gives the hour only: each point keeps the share of its hour inside "
                     "the time windows")
    else:
        notes.append(f"{name} has no time of day: time windows not applied")
    return has_dates, time_kind, notes


def _csv_chunks(path: Path, encoding: str, delimiter: str, indices: Mapping[str, int], mode: _Mode,
                chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Yield the columns at ``indices`` (role -> 0-based position), named by role, chunk by chunk.

    Only those columns are kept; number columns come as float64 when ``mode.numeric``,
    everything else as text. The index is the 0-based data row of the file.

    Raises
    ------
    _Restart
        A number column holds text while ``mode.numeric``: read again as text.
    InputError
        The CSV cannot be parsed (an unterminated quote: naming the row).
    """
    positions = sorted(set(indices.values()))
    numeric = {position for position in positions
               if all(role in _NUMERIC_ROLES for role, p in indices.items() if p == position)}
    names = [f"c{p}" for p in range(max(positions) + 1)]  # the file's own names may repeat
    dtype = {names[p]: (np.float64 if mode.numeric and p in numeric else str) for p in positions}
    try:
        reader = pd.read_csv(
            path, sep=delimiter, header=0, names=names, usecols=[names[p] for p in positions],
            dtype=dtype, encoding=encoding, encoding_errors="replace", chunksize=chunk_rows,
            index_col=False,
        )
        with reader:
            for raw in reader:
                chunk = pd.DataFrame({role: raw[names[index]] for role, index in indices.items()},
                                     index=raw.index)
                if not mode.numeric and delimiter == ";":  # decimal commas: 34,05 -> 34.05
                    for role in _NUMERIC_ROLES & set(chunk.columns):
                        chunk[role] = chunk[role].str.replace(",", ".", regex=False)
                yield chunk
    except pd.errors.ParserError as exc:
        found = re.search(r"(?:row|line) (\d+)", str(exc))
        row = int(found.group(1)) if found else None
        if row is not None and "line" in found.group(0):  # type: ignore[union-attr]
            row -= 1  # pandas counts lines from 1 with the header; rows from 1 without it
        problem = ("a quoted value is never closed (an unterminated quote)" if "EOF" in str(exc)
                   else "the CSV cannot be parsed")
        raise InputError(problem, path=path, row=row,
                         fix="Check the quotes of that row, or export the file again.") from None
    except ValueError:
        if mode.numeric:
            raise _Restart(replace(mode, numeric=False)) from None
        raise InputError("cannot read the CSV", path=path,
                         fix="Check that the file is comma-separated text with one header row.") from None


def _check_last_row(path: Path, encoding: str, delimiter: str, header_fields: int, rows: int) -> None:
    """Refuse a file whose last row has fewer fields than the header: a file cut off mid-row."""
    if rows == 0:
        raise InputError("file has a header but no data rows", path=path,
                         fix="Export the incidents again, with their rows.")
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - (1 << 16)))
        tail = handle.read().decode(encoding, errors="replace")
    lines = [line for line in tail.splitlines() if line.strip()]
    if not lines:
        return
    fields = len(_split_line(lines[-1], delimiter))
    if fields < header_fields:
        raise InputError(
            f"the last row has {fields} fields and the header {header_fields}: the file looks cut off "
            "in the middle of a row", path=path, row=rows,
            fix="Download or export the file again, complete (or delete its last line).")


def _parse_chunk(raw: pd.DataFrame, *, name: str, mode: _Mode, tally: _Tally,
                 known_categories: Sequence[str], spec: FileMapping | None = None,
                 path: Path | None = None) -> _Parsed:
    """Parse one chunk of raw columns (named by role) into the common row shape."""
    index = raw.index
    row = pd.Series(np.asarray(index, dtype=np.int64) + 1, index=index)  # index: 0-based data row
    date = date_bad = minute = hour = time_bad = code = category = None
    if "date" in raw and spec is not None and spec.date_format:
        date, date_bad, clock = _parse_date_format(raw["date"], row, spec, tally, path)
        if spec.date_has_clock and "time" not in raw and "hour" not in raw:
            minute, time_bad = clock, date_bad
    elif "date" in raw:
        date, date_bad, evidence = _parse_date(raw["date"], day_first=mode.day_first)
        for position, text, order in zip(evidence, _evidence_text(raw["date"], evidence),
                                         ("day", "month"), strict=True):
            if position is None:
                continue
            at = int(row.iloc[position])
            if order == "day" and tally.day_first_row is None:
                tally.day_first_row, tally.day_first_text = at, text
            if order == "month" and tally.month_first_row is None:
                tally.month_first_row, tally.month_first_text = at, text
    if "time" in raw and spec is not None and spec.time_format:
        minute, time_bad = _parse_clock_format(raw["time"], spec.time_format)
    elif "time" in raw:
        minute, time_bad = _parse_clock(raw["time"])
    elif "hour" in raw:
        hour, time_bad = _parse_hour(raw["hour"])
    if "code" in raw:
        code = _parse_code(raw["code"])
    if "crime_type" in raw:
        category = _categories_from_types(raw["crime_type"], spec, tally)
    elif "category" in raw:
        category = _parse_category(raw["category"], known_categories, tally)
    elif code is not None:
        category = _categories_from_codes(code, tally)
    base_weight = (_parse_float(raw["weight"]) if "weight" in raw
                   else pd.Series(1.0, index=index))
    if "id" in raw:
        given = raw["id"].astype("string").str.strip()
        ident = given.where(given.notna() & (given != "")).astype(object)
    else:
        ident = pd.Series(np.nan, index=index, dtype=object)
    nan = pd.Series(np.nan, index=index)
    false = pd.Series(False, index=index)
    lat = _parse_float(raw["lat"]) if "lat" in raw else nan
    lon = _parse_float(raw["lon"]) if "lon" in raw else nan
    if spec is not None and spec.crs and "lat" in raw and "lon" in raw:
        lon, lat = _to_degrees(lon, lat, spec.crs)
    rows = pd.DataFrame({
        "row": row,
        "id": ident,
        "lat": lat,
        "lon": lon,
        "date": pd.Series(pd.NaT, index=index, dtype="datetime64[ns]") if date is None else date,
        "date_bad": false if date_bad is None else date_bad,
        "minute": nan if minute is None else minute,
        "hour_bin": nan if hour is None else hour,
        "time_bad": false if time_bad is None else time_bad,
        "crime_code": pd.Series(pd.NA, index=index, dtype="Int64") if code is None else code,
        "category": pd.Series("unknown", index=index, dtype=object) if category is None else category,
        "base_weight": base_weight,
    }, index=index)
    return _Parsed(rows)


def _evidence_text(values: pd.Series, evidence: tuple[int | None, int | None]) -> list[str]:
    return [clean_name(values.iloc[p])[:40] if p is not None else "" for p in evidence]


def _scalars(values: pd.Series) -> pd.Series:
    """Return a property column with nested values (JSON lists, objects) turned into text."""
    if values.dtype != object:
        return values
    return values.map(lambda v: str(v) if isinstance(v, list | dict | tuple | set) else v)


def _open_geo(path: Path, name: str, columns: Mapping[str, str], known_categories: Sequence[str],
              mode: _Mode, spec: FileMapping | None = None) -> _Source:
    """Open a GeoJSON (or another vector file): read whole, one chunk."""
    try:
        frame = gpd.read_file(path)
    except Exception as exc:
        raise InputError(f"cannot read the file ({type(exc).__name__})", path=path,
                         fix="Give a valid GeoJSON (or GeoPackage, shapefile) of points.") from None
    if frame.empty:
        raise InputError("file has no features", path=path,
                         fix="Export the incidents again, with their rows.")
    properties = [str(c) for c in frame.columns if c != "geometry"]
    for role, label in columns.items():
        if label not in frame.columns:
            raise missing_column(spec, role, label, path, [clean_name(p) for p in properties])
    raw = pd.DataFrame({role: _scalars(frame[label]) for role, label in columns.items()},
                       index=pd.RangeIndex(len(frame)))
    notes: list[str] = []
    labels = {role: clean_name(label) for role, label in columns.items()}
    if not ("lat" in columns and "lon" in columns):
        geoms = frame.geometry
        try:
            if frame.crs is not None and not frame.crs.equals(settings.input_crs):
                geoms = geoms.to_crs(settings.input_crs)
        except Exception as exc:
            raise InputError(f"cannot convert its coordinates to EPSG:4326 ({type(exc).__name__})",
                             path=path, fix="Give the points in longitude/latitude (EPSG:4326).") from None
        values = geoms.to_numpy()
        empty = shapely.is_missing(values) | shapely.is_empty(values)
        not_point = ~empty & (shapely.get_type_id(values) != 0)
        if not_point.any():
            values = np.where(not_point, shapely.point_on_surface(values), values)
            notes.append(f"{name}: {int(not_point.sum())} features are not points; "
                         "a point on each is used")
        raw["lon"] = np.where(empty, np.nan, shapely.get_x(values)).astype(float)
        raw["lat"] = np.where(empty, np.nan, shapely.get_y(values)).astype(float)
        labels.update(lat="geometry y", lon="geometry x")
    tally = _Tally(spec=spec)
    has_dates, time_kind, static = _static_notes(name, _roles_read(set(raw.columns), spec))
    if spec is not None and spec.crs and not ("lat" in columns and "lon" in columns):
        spec = replace(spec, crs=None)  # the geometry's own CRS applies, already converted
    chunk = _parse_chunk(raw, name=name, mode=mode, tally=tally, known_categories=known_categories,
                         spec=spec, path=path)
    return _Source(name, path, has_dates, time_kind, labels, [*notes, *static], iter([chunk]), tally,
                   spec=spec, header=tuple(properties))


# --------------------------------------------------------------------------- value parsers


def _blank(text: pd.Series) -> pd.Series:
    return text.isna() | (text == "")


def _parse_float(values: pd.Series) -> pd.Series:
    """Numbers as float; NaN for blanks and text that is not a number."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    return pd.to_numeric(values.astype("string").str.strip(), errors="coerce").astype(float)


def _parse_date(values: pd.Series, *, day_first: bool = False
                ) -> tuple[pd.Series, pd.Series, tuple[int | None, int | None]]:
    """Dates (time of day dropped), a mask of given-but-unparseable values, and the evidence.

    Accepts MM/DD/YYYY (DD/MM/YYYY when ``day_first``; with any time after it, such as
    ``01/08/2020 12:00:00 AM``), YYYY-MM-DD and ISO date-times; datetime columns pass
    through (converted to local time when they carry a time zone).

    The evidence is the position of the first value that can only be day-first (a first
    field over 12, such as ``13/01/2020``) and of the first that can only be month-first
    (a second field over 12), each ``None`` when there is none: the caller reads the whole
    file in one order.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.Series(values)
        if isinstance(stamps.dtype, pd.DatetimeTZDtype):
            stamps = stamps.dt.tz_convert(_TIMEZONE).dt.tz_localize(None)
        dates = stamps.dt.normalize().astype("datetime64[ns]")
        return dates, pd.Series(False, index=values.index), (None, None)
    text = values.astype("string").str.strip()
    slash = text.str.extract(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\b|$)")
    iso = text.str.extract(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:\b|[T ]|$)")
    first = pd.to_numeric(slash[0], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    second = pd.to_numeric(slash[1], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    only_day_first = np.flatnonzero((first > 12) & (second <= 12))
    only_month_first = np.flatnonzero((second > 12) & (first <= 12))
    evidence = (int(only_day_first[0]) if len(only_day_first) else None,
                int(only_month_first[0]) if len(only_month_first) else None)
    month_text, day_text = (slash[1], slash[0]) if day_first else (slash[0], slash[1])
    year = pd.to_numeric(slash[2].fillna(iso[0]), errors="coerce")
    month = pd.to_numeric(month_text.fillna(iso[1]), errors="coerce")
    day = pd.to_numeric(day_text.fillna(iso[2]), errors="coerce")
    parts = pd.DataFrame({"year": year, "month": month, "day": day}, index=values.index)
    complete = parts.notna().all(axis=1) & parts["year"].between(1678, 2261)  # datetime64[ns] range
    dates = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if complete.any():
        made = pd.to_datetime(parts[complete].astype("int64"), errors="coerce")
        dates[complete] = made.astype("datetime64[ns]")
    bad = dates.isna()
    return dates, pd.Series(bad.to_numpy(dtype=bool), index=values.index), evidence


def _clock_minutes(hours: pd.Series, minutes: pd.Series) -> pd.Series:
    valid = (hours >= 0) & (hours < 24) & (minutes >= 0) & (minutes < 60)
    return (hours * 60 + minutes).where(valid)


def _parse_clock(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Minute of day from HHMM (``2230``; ``1`` = 00:01; ``"0330"``), HH:MM or a date-time.

    Returns the minutes (float, NaN when unknown) and the mask of unparseable values
    (blank counts as unparseable: a row of a timed format must have a time).
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        number = values.astype(float)
        whole = number.where(np.isclose(number, np.round(number)))
        minute = _clock_minutes(whole // 100, whole % 100)
    else:
        text = values.astype("string").str.strip()
        digits = pd.to_numeric(text.str.extract(r"^(\d{1,4})(?:\.0+)?$")[0], errors="coerce")
        minute = _clock_minutes(digits // 100, digits % 100)
        clock = text.str.extract(
            r"(\d{1,2}):(\d{2})(?::\d{2}(?:\.\d+)?)?\s*([AaPp][Mm])?")
        hours = pd.to_numeric(clock[0], errors="coerce")
        minutes = pd.to_numeric(clock[1], errors="coerce")
        meridiem = clock[2].str.upper()
        twelve = meridiem.notna().to_numpy(dtype=bool)
        afternoon = meridiem.eq("PM").fillna(False).to_numpy(dtype=bool)
        valid_twelve = ~twelve | ((hours >= 1) & (hours <= 12))
        hours = hours.where(~twelve, hours % 12 + np.where(afternoon, 12, 0))
        minute = minute.fillna(_clock_minutes(hours, minutes).where(valid_twelve))
    minute = minute.astype(float)
    return minute, pd.Series(minute.isna().to_numpy(), index=values.index)


def _parse_hour(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole hour of day 0-23 (float) and the mask of unparseable values."""
    number = _parse_float(values)
    whole = number.where(np.isclose(number, np.round(number)) & (number >= 0) & (number <= 23))
    return whole, pd.Series(whole.isna().to_numpy(), index=values.index)


def _parse_code(values: pd.Series) -> pd.Series:
    """LAPD crime codes as Int64 (NA when blank or not a whole number)."""
    number = _parse_float(values)
    with np.errstate(invalid="ignore"):
        whole = number.where((number.abs() < 1e9) & np.isclose(number, np.round(number)))
    return whole.round().astype("Int64")


def _categories_from_codes(code: pd.Series, tally: _Tally) -> pd.Series:
    """Category of each LAPD code; counts unknown and blank codes into ``tally``."""
    category = code.map(_category_of_code(), na_action="ignore").astype(object)
    unknown_code = code.notna() & category.isna()
    category = category.where(~unknown_code, "other").where(code.notna(), "unknown")
    if unknown_code.any():
        tally.unknown_codes.update(int(c) for c in code[unknown_code].unique())
        tally.unknown_code_rows += int(unknown_code.sum())
    tally.blank_code_rows += int(code.isna().sum())
    return category.astype(object)


def _parse_category(values: pd.Series, known_categories: Sequence[str], tally: _Tally) -> pd.Series:
    """Categories in lower case; blank is ``"unknown"``, a value not known is ``"other"``."""
    text = values.astype("string").str.strip().str.lower()
    known = text.isin(known_categories).fillna(False).astype(bool)
    blank = _blank(text).fillna(True).astype(bool)
    category = text.astype(object).where(known, "other").where(~blank, "unknown")
    strange = ~known & ~blank
    if strange.any():
        if len(tally.strange_categories) < 5:
            tally.strange_categories.update(str(v) for v in values[strange].unique()[:5])
        tally.strange_category_rows += int(strange.sum())
    return category


# --------------------------------------------------------------------------- mapped values


def _parse_date_format(values: pd.Series, row: pd.Series, spec: FileMapping, tally: _Tally,
                       path: Path | None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Dates read with the mapping's ``date_format``: (midnight dates, bad mask, minute of day).

    A blank date is bad (dropped as unparseable) but not a mismatch. When half or more of a
    chunk's non-blank dates do not match the format, the format is wrong for the file: an
    InputError names the first row, its value and the format; fewer are counted in the
    tally (a note) and dropped.
    """
    fmt = str(spec.date_format)
    if pd.api.types.is_datetime64_any_dtype(values):
        dates, bad, _ = _parse_date(values)
        stamps = pd.Series(values)
        if isinstance(stamps.dtype, pd.DatetimeTZDtype):
            stamps = stamps.dt.tz_convert(_TIMEZONE).dt.tz_localize(None)
        clock = (stamps.dt.hour * 60 + stamps.dt.minute).astype(float)
        return dates, bad, clock
    text = values.astype("string").str.strip()
    blank = _blank(text).fillna(True).to_numpy(dtype=bool)
    stamps = pd.to_datetime(text, format=fmt, errors="coerce")
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_convert(_TIMEZONE).dt.tz_localize(None)
    miss = stamps.isna().to_numpy(dtype=bool) & ~blank
    given = int((~blank).sum())
    tally.format_dates += given
    if miss.any():
        first = int(np.flatnonzero(miss)[0])
        at, shown = int(row.iloc[first]), clean_name(text.iloc[first])[:60]
        if 2 * int(miss.sum()) >= given:
            key = spec.setting_key("date_format")
            raise InputError(
                f"{int(miss.sum())} of {given} dates do not match {key} {fmt!r}, such as {shown!r}",
                path=path, row=at, field=key,
                fix=f"Set date_format in {spec.where} to the way this file writes its dates "
                    "(strptime codes: %m/%d/%Y for 01/31/2016, %Y-%m-%d for 2016-01-31, "
                    "%I:%M:%S %p for 10:13:00 PM).")
        if tally.format_miss_row is None:
            tally.format_miss_row, tally.format_miss_text = at, shown
        tally.format_misses += int(miss.sum())
    stamps = stamps.astype("datetime64[ns]")
    bad = pd.Series(stamps.isna().to_numpy(dtype=bool), index=values.index)
    clock = (stamps.dt.hour * 60 + stamps.dt.minute).astype(float)
    return stamps.dt.normalize(), bad, clock


def _parse_clock_format(values: pd.Series, fmt: str) -> tuple[pd.Series, pd.Series]:
    """Minute of day read with the mapping's ``time_format``, and the mask of unparseable values."""
    text = values.astype("string").str.strip()
    if fmt in ("%H%M", "%H%M%S"):  # HHMM written as a number loses its leading zeros (730 = 07:30)
        text = text.str.replace(r"\.0+$", "", regex=True).str.zfill(len(fmt) // 2 * 2)
    stamps = pd.to_datetime(text, format=fmt, errors="coerce")
    minute = (stamps.dt.hour * 60 + stamps.dt.minute).astype(float)
    minute = pd.Series(minute.to_numpy(dtype=float), index=values.index)
    return minute, pd.Series(minute.isna().to_numpy(), index=values.index)


def _categories_from_types(values: pd.Series, spec: FileMapping | None, tally: _Tally) -> pd.Series:
    """Category of each crime type through the mapping's table (exact, then case-blind).

    Blank is ``"unknown"``; a type not in the table takes the table's default (``"other"``
    unless given) and is counted in the tally for a note.
    """
    table = spec.category_table() if spec is not None else {}
    default = spec.default_category if spec is not None else "other"
    text = values.astype("string").str.strip()
    blank = _blank(text).fillna(True).to_numpy(dtype=bool)
    exact = text.map(table, na_action="ignore")
    loose = text.str.upper().map(table, na_action="ignore")
    category = exact.fillna(loose).astype(object)
    unlisted = category.isna().to_numpy(dtype=bool) & ~blank
    if unlisted.any():
        if len(tally.unlisted_types) < 50:
            tally.unlisted_types.update(str(v) for v in text[unlisted].unique()[:50])
        tally.unlisted_type_rows += int(unlisted.sum())
    category = category.where(~unlisted, default).where(~blank, "unknown")
    return category.astype(object)


@functools.cache
def _transformer(crs: str) -> Any:
    import pyproj

    return pyproj.Transformer.from_crs(crs, settings.input_crs, always_xy=True)


def _to_degrees(x: pd.Series, y: pd.Series, crs: str) -> tuple[pd.Series, pd.Series]:
    """Longitude and latitude of projected x, y columns in ``crs`` (NaN stays NaN)."""
    lon, lat = _transformer(crs).transform(x.to_numpy(dtype=float), y.to_numpy(dtype=float))
    lon = np.where(np.isfinite(lon), lon, np.nan)
    lat = np.where(np.isfinite(lat), lat, np.nan)
    return pd.Series(lon, index=x.index), pd.Series(lat, index=y.index)

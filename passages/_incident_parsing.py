"""Reading incident files: formats, columns and values, before any filtering.

Plumbing of :mod:`passages.incidents`. Each reader turns one file into a :class:`_Parsed`
(rows in one common shape, every value parsed or flagged as unparseable); the value
parsers read dates, clock times, hours, crime codes and categories; the LAPD crime-code
table is loaded once and cached.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from passages import settings
from passages._errors import InputError

_LAPD_REQUIRED = ("DATE OCC", "TIME OCC", "CRM CD", "LAT", "LON")
_LAPD_SIGNATURE = frozenset({"DR NO", "DATE OCC", "TIME OCC", "CRM CD"})
_WEIGHTED_REQUIRED = ("LAT", "LON", "HOUR", "WEIGHT")
_GEO_SUFFIXES = frozenset({".geojson", ".json", ".gpkg", ".shp"})
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


@dataclass
class _Parsed:
    """One file's rows in a common shape, before filtering.

    ``rows`` columns: source_id, lat, lon (float, NaN when unusable), date (datetime64,
    midnight; NaT when unknown), date_bad (bool), minute (float minute of day, NaN when
    unknown), hour_bin (float hour 0-23 of hourly rows), time_bad (bool), crime_code
    (Int64), category (str), base_weight (float, NaN when invalid); load_incidents adds
    duplicate (bool: the id was seen in an earlier row or file).
    """

    name: str
    rows: pd.DataFrame
    has_dates: bool
    time_kind: str | None  # "minute", "hour" or None
    notes: list[str]


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
    return [f"{p.parent.name}/{p.name}" if counts[p.name] > 1 else p.name for p in files]


def _norm(name: str) -> str:
    return re.sub(r"[\s_]+", " ", str(name).strip().lstrip("\ufeff")).strip().upper()


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise InputError("file not found", path=path,
                         fix="Check the path of the incidents file.")
    if path.stat().st_size == 0:
        raise InputError("file is empty (0 bytes)", path=path,
                         fix="Export the incidents again, with a header and data rows.")


def _encoding(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not a multi-byte character cut at the buffer end
            return "latin-1"
    return "utf-8-sig"


def _csv_header(path: Path, encoding: str) -> list[str]:
    with path.open(newline="", encoding=encoding) as handle:
        header = next(csv.reader(handle), [])
    if not any(cell.strip() for cell in header):
        raise InputError("file has no header row", path=path,
                         fix="The first line must name the columns.")
    return header


def _read_csv_columns(path: Path, encoding: str, indices: Mapping[str, int]) -> pd.DataFrame:
    """Return the columns at ``indices`` (role -> 0-based position) as text, named by role."""
    positions = sorted(set(indices.values()))
    try:
        raw = pd.read_csv(path, header=0, usecols=positions, dtype=str, encoding=encoding,
                          encoding_errors="replace", low_memory=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"cannot read the CSV ({exc})", path=path,
                         fix="Check that the file is comma-separated text with one header "
                             "row.") from None
    if raw.empty:
        raise InputError("file has a header but no data rows", path=path,
                         fix="Export the incidents again, with their rows.")
    by_position = dict(zip(positions, raw.columns, strict=True))
    return pd.DataFrame({role: raw[by_position[index]] for role, index in indices.items()})


def _find_columns(path: Path, label: str, header: list[str], wanted: Sequence[str], *,
                  fmt: str, fix: str, notes: list[str]) -> dict[str, int]:
    """Return the position of each normalised name in ``wanted``; raise naming a missing one."""
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        key = _norm(name)
        if key in positions:
            if key in wanted:
                notes.append(f"{label}: column {name.strip()!r} appears more than once; "
                             "the first is used")
            continue
        positions[key] = index
    for name in wanted:
        if name not in positions:
            shown = next((label for label in _LAPD_LABELS.get(name, (name,))), name)
            raise InputError(f"required column {shown!r} is missing for format {fmt!r}",
                             path=path, field=shown, fix=fix)
    return positions


_LAPD_LABELS = {"CRM CD": ("Crm Cd",), "DR NO": ("DR_NO",)}


def _detect_format(path: Path, header: list[str]) -> str:
    names = {_norm(name) for name in header}
    if set(_WEIGHTED_REQUIRED) <= names:
        return "weighted"
    if names & _LAPD_SIGNATURE:
        return "lapd"
    if names & {"HOUR", "WEIGHT"}:
        return "weighted"
    shown = ", ".join(name.strip() for name in header[:12] if name.strip())
    raise InputError(
        f"cannot tell the incident format from the header ({shown})", path=path,
        fix="Give fmt='table' and a columns mapping, such as "
            "columns={'lat': 'Latitude', 'lon': 'Longitude', 'date': 'Date', 'time': 'Time'}.",
    )


def _read_file(path: Path, name: str, *, fmt: str | None, columns: Mapping[str, str] | None,
               known_categories: Sequence[str]) -> _Parsed:
    """Return one file's rows; ``known_categories`` are the values a category column may hold."""
    _check_file(path)
    if path.suffix.lower() in _GEO_SUFFIXES:
        if fmt not in (None, "table"):
            raise InputError(f"format {fmt!r} is read from CSV files only", path=path,
                             field="fmt", fix="Give fmt='table' for a GeoJSON file.")
        return _read_table_geo(path, name, columns or {}, known_categories)
    encoding = _encoding(path)
    header = _csv_header(path, encoding)
    if fmt is None:
        fmt = "table" if columns is not None else _detect_format(path, header)
    if fmt == "lapd":
        return _read_lapd(path, name, header, encoding)
    if fmt == "weighted":
        return _read_weighted(path, name, header, encoding)
    if not columns:
        raise InputError("format 'table' needs a columns mapping", path=path, field="columns",
                         fix="Map at least lat and lon, such as "
                             "columns={'lat': 'Latitude', 'lon': 'Longitude'}.")
    return _read_table_csv(path, name, header, encoding, columns, known_categories)


def _read_lapd(path: Path, name: str, header: list[str], encoding: str) -> _Parsed:
    notes: list[str] = []
    positions = _find_columns(
        path, name, header, _LAPD_REQUIRED, fmt="lapd", notes=notes,
        fix="An LAPD 'Crime Data from 2020 to Present' CSV has DATE OCC, TIME OCC, Crm Cd, "
            "LAT and LON; for other files give fmt='table' and a columns mapping.",
    )
    indices = {"date": positions["DATE OCC"], "time": positions["TIME OCC"],
               "code": positions["CRM CD"], "lat": positions["LAT"], "lon": positions["LON"]}
    if "DR NO" in positions:
        indices["id"] = positions["DR NO"]
    raw = _read_csv_columns(path, encoding, indices)
    date, date_bad = _parse_date(raw["date"])
    minute, time_bad = _parse_clock(raw["time"])
    code = _parse_code(raw["code"])
    category, code_note = _categories_from_codes(code, name)
    notes += code_note
    rows = _rows(
        raw, name, lat=raw["lat"], lon=raw["lon"], date=date, date_bad=date_bad,
        minute=minute, time_bad=time_bad, code=code, category=category,
        base_weight=pd.Series(1.0, index=raw.index),
    )
    return _Parsed(name, rows, has_dates=True, time_kind="minute", notes=notes)


def _read_weighted(path: Path, name: str, header: list[str], encoding: str) -> _Parsed:
    notes: list[str] = []
    positions = _find_columns(
        path, name, header, _WEIGHTED_REQUIRED, fmt="weighted", notes=notes,
        fix="A weighted-points CSV has the columns LAT, LON, HOUR (0-23) and WEIGHT.",
    )
    indices = {"lat": positions["LAT"], "lon": positions["LON"],
               "hour": positions["HOUR"], "weight": positions["WEIGHT"]}
    raw = _read_csv_columns(path, encoding, indices)
    hour, time_bad = _parse_hour(raw["hour"])
    notes += [
        f"{name} has no dates: weekday filter and recency weighting not applied",
        f"{name} has no crime types: every point is category 'unknown' (severity 1.0)",
        f"{name} gives the hour only: each point keeps the share of its hour inside the "
        "time windows",
    ]
    rows = _rows(
        raw, name, lat=raw["lat"], lon=raw["lon"], hour=hour, time_bad=time_bad,
        base_weight=_parse_float(raw["weight"]),
    )
    return _Parsed(name, rows, has_dates=False, time_kind="hour", notes=notes)


def _read_table_csv(path: Path, name: str, header: list[str], encoding: str,
                    columns: Mapping[str, str], known_categories: Sequence[str]) -> _Parsed:
    for role in ("lat", "lon"):
        if role not in columns:
            raise InputError(f"the columns mapping has no {role!r} role", path=path,
                             field="columns",
                             fix="A CSV needs lat and lon columns (EPSG:4326 degrees).")
    exact = {label: index for index, label in reversed(list(enumerate(header)))}
    loose = {_norm(label): index for index, label in reversed(list(enumerate(header)))}
    indices: dict[str, int] = {}
    for role, label in columns.items():
        index = exact.get(label, loose.get(_norm(label)))
        if index is None:
            raise InputError(f"column {label!r} (role {role!r}) is not in the file", path=path,
                             field=label, fix="Columns in the file: "
                             + ", ".join(h.strip() for h in header if h.strip()) + ".")
        indices[role] = index
    raw = _read_csv_columns(path, encoding, indices)
    return _table_rows(raw, name, columns, raw.get("lat"), raw.get("lon"), known_categories)


def _read_table_geo(path: Path, name: str, columns: Mapping[str, str],
                    known_categories: Sequence[str]) -> _Parsed:
    try:
        frame = gpd.read_file(path)
    except Exception as exc:
        raise InputError(f"cannot read the file ({exc})", path=path,
                         fix="Give a valid GeoJSON (or GeoPackage, shapefile) of points.") from None
    if frame.empty:
        raise InputError("file has no features", path=path,
                         fix="Export the incidents again, with their rows.")
    for role, label in columns.items():
        if label not in frame.columns:
            shown = ", ".join(str(c) for c in frame.columns if c != "geometry")
            raise InputError(f"column {label!r} (role {role!r}) is not in the file", path=path,
                             field=label, fix=f"Properties in the file: {shown}.")
    raw = pd.DataFrame({role: frame[label] for role, label in columns.items()},
                       index=pd.RangeIndex(len(frame)))
    notes: list[str] = []
    if "lat" in columns and "lon" in columns:
        lat, lon = raw["lat"], raw["lon"]
    else:
        geoms = frame.geometry
        if frame.crs is not None and not frame.crs.equals(settings.input_crs):
            geoms = geoms.to_crs(settings.input_crs)
        values = geoms.to_numpy()
        empty = shapely.is_missing(values) | shapely.is_empty(values)
        not_point = ~empty & (shapely.get_type_id(values) != 0)
        if not_point.any():
            values = np.where(not_point, shapely.point_on_surface(values), values)
            notes.append(f"{name}: {int(not_point.sum())} features are not points; "
                         "a point on each is used")
        xs = np.where(empty, np.nan, shapely.get_x(values))
        ys = np.where(empty, np.nan, shapely.get_y(values))
        lon = pd.Series(xs, index=raw.index, dtype=float)
        lat = pd.Series(ys, index=raw.index, dtype=float)
    parsed = _table_rows(raw, name, columns, lat, lon, known_categories)
    parsed.notes[:0] = notes
    return parsed


def _table_rows(raw: pd.DataFrame, name: str, columns: Mapping[str, str],
                lat: pd.Series | None, lon: pd.Series | None,
                known_categories: Sequence[str]) -> _Parsed:
    notes: list[str] = []
    index = raw.index
    has_dates = "date" in columns
    date: pd.Series | None = None
    date_bad: pd.Series | None = None
    if has_dates:
        date, date_bad = _parse_date(raw["date"])
    else:
        notes.append(f"{name} has no dates: weekday filter and recency weighting not applied")
    time_kind: str | None = None
    minute = hour = time_bad = None
    if "time" in columns:
        time_kind = "minute"
        minute, time_bad = _parse_clock(raw["time"])
    elif "hour" in columns:
        time_kind = "hour"
        hour, time_bad = _parse_hour(raw["hour"])
        notes.append(f"{name} gives the hour only: each point keeps the share of its hour "
                     "inside the time windows")
    else:
        notes.append(f"{name} has no time of day: time windows not applied")
    code = _parse_code(raw["code"]) if "code" in columns else None
    if "category" in columns:
        category, category_note = _parse_category(raw["category"], name, known_categories)
        notes += category_note
    elif code is not None:
        category, code_note = _categories_from_codes(code, name)
        notes += code_note
    else:
        category = None
        notes.append(f"{name} has no crime types: every point is category 'unknown' "
                     "(severity 1.0)")
    base_weight = (_parse_float(raw["weight"]) if "weight" in columns
                   else pd.Series(1.0, index=index))
    rows = _rows(
        raw, name, lat=lat, lon=lon, date=date, date_bad=date_bad, minute=minute,
        hour=hour, time_bad=time_bad, code=code, category=category, base_weight=base_weight,
    )
    return _Parsed(name, rows, has_dates=has_dates, time_kind=time_kind, notes=notes)


def _rows(
    raw: pd.DataFrame,
    name: str,
    *,
    lat: pd.Series | None,
    lon: pd.Series | None,
    base_weight: pd.Series,
    date: pd.Series | None = None,
    date_bad: pd.Series | None = None,
    minute: pd.Series | None = None,
    hour: pd.Series | None = None,
    time_bad: pd.Series | None = None,
    code: pd.Series | None = None,
    category: pd.Series | None = None,
) -> pd.DataFrame:
    """Assemble the common row table of :class:`_Parsed`."""
    index = raw.index
    row_numbers = pd.Series(np.arange(1, len(index) + 1), index=index).astype(str)
    fallback_id = name + ":" + row_numbers
    if "id" in raw:
        given = raw["id"].astype("string").str.strip()
        source_id = given.where(given.notna() & (given != ""), fallback_id).astype(str)
    else:
        source_id = fallback_id
    nan = pd.Series(np.nan, index=index)
    false = pd.Series(False, index=index)
    return pd.DataFrame({
        "source_id": source_id,
        "lat": nan if lat is None else _parse_float(lat),
        "lon": nan if lon is None else _parse_float(lon),
        "date": pd.Series(pd.NaT, index=index, dtype="datetime64[ns]") if date is None else date,
        "date_bad": false if date_bad is None else date_bad,
        "minute": nan if minute is None else minute,
        "hour_bin": nan if hour is None else hour,
        "time_bad": false if time_bad is None else time_bad,
        "crime_code": pd.Series(pd.NA, index=index, dtype="Int64") if code is None else code,
        "category": pd.Series("unknown", index=index, dtype=object) if category is None
        else category,
        "base_weight": base_weight,
    }, index=index)


# --------------------------------------------------------------------------- value parsers


def _blank(text: pd.Series) -> pd.Series:
    return text.isna() | (text == "")


def _parse_float(values: pd.Series) -> pd.Series:
    """Numbers as float; NaN for blanks and text that is not a number."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    return pd.to_numeric(values.astype("string").str.strip(), errors="coerce").astype(float)


def _parse_date(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Dates (time of day dropped) and a mask of given-but-unparseable values.

    Accepts MM/DD/YYYY (with any time after it, such as ``01/08/2020 12:00:00 AM``),
    YYYY-MM-DD and ISO date-times; datetime columns pass through (converted to local time
    when they carry a time zone).
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.Series(values)
        if isinstance(stamps.dtype, pd.DatetimeTZDtype):
            stamps = stamps.dt.tz_convert(_TIMEZONE).dt.tz_localize(None)
        dates = stamps.dt.normalize().astype("datetime64[ns]")
        return dates, pd.Series(False, index=values.index)
    text = values.astype("string").str.strip()
    us = text.str.extract(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\b|$)")
    iso = text.str.extract(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:\b|[T ]|$)")
    year = pd.to_numeric(us[2].fillna(iso[0]), errors="coerce")
    month = pd.to_numeric(us[0].fillna(iso[1]), errors="coerce")
    day = pd.to_numeric(us[1].fillna(iso[2]), errors="coerce")
    parts = pd.DataFrame({"year": year, "month": month, "day": day}, index=values.index)
    complete = parts.notna().all(axis=1)
    dates = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if complete.any():
        made = pd.to_datetime(parts[complete].astype("int64"), errors="coerce")
        dates[complete] = made.astype("datetime64[ns]")
    bad = dates.isna()
    return dates, pd.Series(bad.to_numpy(dtype=bool), index=values.index)


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
    whole = number.where(np.isclose(number, np.round(number)))
    return whole.round().astype("Int64")


def _categories_from_codes(code: pd.Series, name: str) -> tuple[pd.Series, list[str]]:
    category = code.map(_category_of_code(), na_action="ignore").astype(object)
    unknown_code = code.notna() & category.isna()
    category = category.where(~unknown_code, "other").where(code.notna(), "unknown")
    notes = []
    if unknown_code.any():
        missing = sorted(int(c) for c in code[unknown_code].unique())
        shown = ", ".join(str(c) for c in missing[:10]) + (" ..." if len(missing) > 10 else "")
        notes.append(f"{name}: {int(unknown_code.sum())} rows have crime codes missing from "
                     f"the LAPD code table ({shown}): counted as 'other'")
    blank = int(code.isna().sum())
    if blank:
        notes.append(f"{name}: {blank} rows have no crime code: counted as 'unknown' "
                     "(severity 1.0)")
    return category.astype(object), notes


def _parse_category(values: pd.Series, name: str,
                    known_categories: Sequence[str]) -> tuple[pd.Series, list[str]]:
    """Categories in lower case; blank is ``"unknown"``, a value not known is ``"other"``."""
    text = values.astype("string").str.strip().str.lower()
    known = text.isin(known_categories).fillna(False).astype(bool)
    blank = _blank(text).astype(bool)
    category = text.astype(object).where(known, "other").where(~blank, "unknown")
    notes = []
    strange = ~known & ~blank
    if strange.any():
        shown = ", ".join(sorted(str(v) for v in values[strange].unique())[:5])
        notes.append(f"{name}: {int(strange.sum())} rows have a category other than "
                     f"{', '.join(known_categories)} ({shown} ...): counted as 'other'")
    return category, notes


def _source_line(part: _Parsed) -> str:
    """Return the file's name and the date range of its rows, for the report."""
    if not part.has_dates:
        return f"{part.name} (no dates)"
    dates = part.rows["date"].dropna()
    if dates.empty:
        return f"{part.name} (no readable dates)"
    return f"{part.name} ({dates.min().date().isoformat()} to {dates.max().date().isoformat()})"


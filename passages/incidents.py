"""Incident points: read, checked, filtered to the study area and the walking windows, weighted.

Three input formats, told apart by their header when ``fmt`` is not given:

``"lapd"``
    The LAPD open-data CSV "Crime Data from 2020 to Present" (``DR_NO``, ``DATE OCC``,
    ``TIME OCC``, ``Crm Cd``, ``LAT``, ``LON``, ...). Header names are matched without
    regard to case, spaces or underscores, so the Socrata export (``date_occ``) reads too.
``"weighted"``
    Points standing for several incidents at an hour of the day: ``LAT, LON, HOUR, WEIGHT``
    (no date, no crime type).
``"table"``
    Any CSV or GeoJSON, with a ``columns`` mapping of roles to column names (see
    :data:`ROLES`), or a mapping file (:mod:`passages.mapping`: ``mapping=``) that also
    gives date and time formats, the CRS of the coordinates and a table of crime type to
    category, for the kind or file by file.

Every row read ends up either in the points or in one count of
:attr:`IncidentReport.dropped`, under the first reason of :data:`DROP_REASONS` that applies.

Crime categories of the LAPD codes (``passages/data/lapd_crime_codes.csv``, classified by
hand from the code descriptions): *violent* = crimes against persons (homicide,
manslaughter, rape and sexual assault including sexual crimes against children,
robbery, aggravated and simple assault, battery, intimate-partner and child-abuse
assault, kidnapping and child stealing, false imprisonment, human trafficking, criminal
threats and threatening calls, stalking, brandishing, shots fired, throwing objects at
vehicles, lynching); *property* = burglary, theft of every kind (including theft from
the person, purse snatching, pickpocketing and shoplifting), vehicle and bike theft,
burglary and theft from vehicles, vandalism, arson, fraud, forgery, embezzlement,
identity theft, extortion; *other* = everything else (trespass, court-order
violations, disturbing the peace, weapons possession, lewd conduct and indecent
exposure, child neglect, resisting arrest, bribery, ...). A code missing from the table
counts as *other*, with a note.
"""

from __future__ import annotations

import datetime
import math
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from passages import settings
from passages._errors import InputError
from passages._incident_parsing import (
    _TIMEZONE,
    _as_paths,
    _code_table,
    _display_names,
    _Mode,
    _open_file,
    _Restart,
    _Source,
)
from passages.areas import Area
from passages.mapping import FileMapping, InputMapping, as_mapping

#: Input formats :func:`load_incidents` reads.
FORMATS = ("lapd", "weighted", "table")

#: Roles a ``columns`` mapping may name (format ``"table"``): ``lat``/``lon`` (EPSG:4326
#: degrees; not needed for GeoJSON point geometry), ``id``, ``date`` (MM/DD/YYYY or
#: YYYY-MM-DD), ``time`` (HHMM such as 2230, or HH:MM, or a date-time) or ``hour`` (0-23),
#: ``weight`` (incidents the row stands for), ``code`` (LAPD crime code), ``category``
#: (one of :data:`CATEGORIES`) or ``crime_type`` (any text, read through the categories
#: table of a mapping, :mod:`passages.mapping`).
ROLES = ("lat", "lon", "id", "date", "time", "hour", "weight", "code", "category", "crime_type")

#: Crime categories; ``"unknown"`` when the input has no crime type.
CATEGORIES = ("violent", "property", "other", "unknown")

MISSING_COORDINATES = "missing coordinates (0,0)"
OUTSIDE_AREA = "outside study area"
UNPARSEABLE_DATE = "unparseable date"
FUTURE_DATE = "dated in the future"
UNPARSEABLE_TIME = "unparseable time"
INVALID_WEIGHT = "invalid weight"
OUTSIDE_WEEKDAYS = "outside weekdays"
OUTSIDE_WINDOW = "outside time window"
CATEGORY_NOT_SELECTED = "category not selected"
OLDER_THAN_LOOKBACK = "older than lookback"
DUPLICATE_ID = "duplicate id"

#: Reasons a row is dropped, in the order they are tested: a row counts under the first.
DROP_REASONS = (
    MISSING_COORDINATES,
    OUTSIDE_AREA,
    UNPARSEABLE_DATE,
    FUTURE_DATE,
    UNPARSEABLE_TIME,
    INVALID_WEIGHT,
    OUTSIDE_WEEKDAYS,
    OUTSIDE_WINDOW,
    CATEGORY_NOT_SELECTED,
    OLDER_THAN_LOOKBACK,
    DUPLICATE_ID,
)

#: Columns of :attr:`IncidentSet.points`, in order.
POINT_COLUMNS = (
    "source_id", "source", "occurred", "hour", "crime_code", "category", "weight", "geometry",
)

_MINUTES_PER_DAY = 1440


# --------------------------------------------------------------------------- public types


@dataclass
class IncidentReport:
    """What happened to the rows read: kept, dropped (by reason), and notes.

    Attributes
    ----------
    rows_read
        Data rows read in all files (headers not counted).
    used
        Rows kept as incident points.
    used_weight
        Sum of the final weights of the kept rows (severity-, window- and
        recency-weighted incidents).
    dropped
        Rows dropped, by reason (see :data:`DROP_REASONS`); reasons with no row are absent.
        ``rows_read == used + sum(dropped.values())`` always holds.
    notes
        What the planner should know (filters that could not apply, codes missing from
        the code table, duplicated columns ...).
    sources
        One line per file: its name and the date range of its rows, if it has dates.
    tables
        Names of the files read as ``"table"`` (through a columns mapping or a mapping
        file) rather than as the LAPD or weighted format.
    """

    rows_read: int = 0
    used: int = 0
    used_weight: float = 0.0
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)

    def merge(self, other: IncidentReport) -> IncidentReport:
        """Return the report of both inputs together (counts added, notes kept once)."""
        dropped = dict(self.dropped)
        for reason, count in other.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
        return IncidentReport(
            rows_read=self.rows_read + other.rows_read,
            used=self.used + other.used,
            used_weight=self.used_weight + other.used_weight,
            dropped=_ordered_reasons(dropped),
            notes=list(dict.fromkeys([*self.notes, *other.notes])),
            sources=[*self.sources, *other.sources],
            tables=[*self.tables, *other.tables],
        )

    @property
    def dropped_total(self) -> int:
        """Rows dropped for any reason."""
        return sum(self.dropped.values())

    def summary(self) -> str:
        """Return the report as a few lines of text, for the command line and logs."""
        lines = [
            f"{self.rows_read} rows read, {self.used} used "
            f"(weight {self.used_weight:.1f}), {self.dropped_total} dropped",
        ]
        lines += [f"  dropped, {reason}: {count}" for reason, count in self.dropped.items()]
        lines += [f"  source: {source}" for source in self.sources]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


@dataclass
class IncidentSet:
    """Incident points of one area, and the report of how they were made.

    Attributes
    ----------
    points
        One row per incident kept, in the area's UTM CRS (metres), with the columns
        :data:`POINT_COLUMNS`: ``source_id`` (``DR_NO`` for LAPD rows, else the ``id``
        column or ``"<file>:<row>"``, row 1 being the first data row), ``source`` (file
        name), ``occurred`` (local date and time, ``NaT`` when unknown; midnight when only
        the date is known), ``hour`` (hour of day as a float, 22.5 for 22:30; the hour's
        start for hourly inputs; ``NaN`` when unknown), ``crime_code`` (LAPD code,
        ``Int64``, ``<NA>`` when unknown), ``category`` (one of :data:`CATEGORIES`),
        ``weight`` (final weight, see :func:`load_incidents`), ``geometry`` (Point).
    report
        Counts, drop reasons and notes.
    """

    points: gpd.GeoDataFrame
    report: IncidentReport


# --------------------------------------------------------------------------- public functions


def parse_window(text: str) -> tuple[int, int]:
    """Return a time window ``"HH:MM-HH:MM"`` as (start, end) minutes of the day.

    Parameters
    ----------
    text
        Local clock times such as ``"07:00-08:30"``; the end may be ``"24:00"``. Windows
        do not wrap past midnight: give ``"22:00-24:00"`` and ``"00:00-02:00"`` instead.

    Returns
    -------
    tuple of int
        Start and end in minutes after midnight, start < end (``(420, 510)`` for the
        example above).
    """
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", str(text))
    fix = "Write a window as HH:MM-HH:MM in local time, such as 07:00-08:30 (end up to 24:00)."
    if match is None:
        raise InputError(f"malformed time window {text!r}", field="window", fix=fix)
    start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start_m > 59 or end_m > 59 or start >= _MINUTES_PER_DAY or end > _MINUTES_PER_DAY:
        raise InputError(f"time out of range in window {text!r}", field="window", fix=fix)
    if end <= start:
        raise InputError(f"window {text!r} ends before it starts", field="window", fix=fix)
    return start, end


def crime_code_table() -> pd.DataFrame:
    """Return the LAPD crime codes shipped with the package (a fresh copy).

    Returns
    -------
    pandas.DataFrame
        Columns ``code`` (int), ``description`` and ``category`` (``"violent"``,
        ``"property"`` or ``"other"``), one row per code.
    """
    return _code_table().copy()


def load_incidents(
    paths: str | Path | Sequence[str | Path],
    *,
    area: Area,
    fmt: str | None = None,
    columns: Mapping[str, str] | None = None,
    windows: Sequence[str] | None = None,
    weekdays: Sequence[int] | None = None,
    categories: Sequence[str] | None = None,
    half_life_days: float | None = None,
    lookback_days: float | None = None,
    reference_date: datetime.date | None = None,
    today: datetime.date | None = None,
    mapping: InputMapping | str | Path | Mapping[str, object] | None = None,
) -> IncidentSet:
    """Return the incidents of one area, filtered to the walking windows and weighted.

    Rows are dropped, and counted under the first reason that applies, in this order:
    no usable coordinates (``0,0``, blank, not a number, out of the degree ranges), outside
    the area's study polygon, unparseable date, dated after ``today``, unparseable time,
    invalid weight (not a number in (0, :data:`passages.settings.max_incident_weight`]),
    outside ``weekdays``, outside every window of ``windows``, category not in
    ``categories``, older than ``lookback_days``, id already seen (the same ``DR_NO`` in an
    earlier row or file that passed the tests before: extracts overlap).

    The weight of a kept row is ``base x severity x window share x recency``: ``base`` is
    the ``WEIGHT`` (``weight``) column or 1; ``severity`` is
    :data:`passages.settings.severity` of its category (1.0 for ``"unknown"``); the window
    share is 1 for a row with a clock time inside a window, and for an hourly row the
    share of its hour inside the windows (hour 8 with ``07:00-08:30`` keeps 30/60);
    recency is ``0.5 ** (age_days / half_life_days)``. Every weight is finite: at most
    ``max_incident_weight x`` the largest severity.

    CSV files are read in chunks of :data:`passages.settings.incident_chunk_rows` rows,
    only the columns needed, and only the rows that pass the tests above are kept, so
    memory grows with what is kept, not with the size of the file. Dates written with
    slashes are read in one order per file: month first (MM/DD/YYYY, as LAPD writes them),
    or day first (DD/MM/YYYY, with a note) when a first field exceeds 12.

    Parameters
    ----------
    paths
        One file or several (CSV separated by commas, semicolons or tabs; GeoJSON or
        another vector file for ``fmt="table"``). Coordinates in EPSG:4326 degrees.
    area
        The area: rows outside its study polygon are dropped; points come out in its UTM
        CRS (metres).
    fmt
        ``"lapd"``, ``"weighted"`` or ``"table"`` (see the module documentation); ``None``
        tells each file's format from its header (``"table"`` when ``columns`` is given).
    columns
        For ``fmt="table"``: role (one of :data:`ROLES`) to column name.
    windows
        Time windows ``"HH:MM-HH:MM"`` of local time (default
        :data:`passages.settings.windows`); an empty sequence keeps the whole day.
    weekdays
        Days kept, 0 = Monday ... 6 = Sunday (default :data:`passages.settings.weekdays`);
        an empty sequence keeps every day. Rows without a date are never dropped by it.
    categories
        Categories kept (of :data:`CATEGORIES`); ``None`` keeps all.
    half_life_days
        Age in days at which an incident counts half (default
        :data:`passages.settings.half_life_days`); ``math.inf`` turns recency off.
    lookback_days
        Incidents older than this many days before ``reference_date`` are dropped;
        ``None`` keeps every age.
    reference_date
        Date ages are counted from; default: the newest date in the files read that is
        not after ``today``.
    today
        Today's date: rows dated after it are dropped as ``"dated in the future"``
        (default: today in Los Angeles; give it in tests).
    mapping
        A mapping file (its path), an :class:`passages.mapping.InputMapping` or the same
        keys as a dict: its ``[incidents]`` section (and a file's own ``[files."NAME"]``
        section) names each file's columns, date and time formats, CRS and crime-type
        table; a file it names columns for is read as ``"table"``. ``columns`` given too
        apply to the files the mapping names no column for.

    Returns
    -------
    IncidentSet
        The points (see :class:`IncidentSet`) and the :class:`IncidentReport`. A file that
        leaves no incident gives ``report.used == 0``, with a note saying so: the caller
        decides whether that stops the run.

    Raises
    ------
    InputError
        A file is missing, a folder, a device, binary or empty; lacks a required column;
        is cut off mid-row or has an unterminated quote (naming the row); mixes day-first
        and month-first dates; holds coordinates that look projected (feet or metres) or
        with latitude and longitude swapped; or an option is invalid. With a mapping: a
        column it names is not in the file (naming the file's columns and the closest),
        half or more of a file's dates do not match its ``date_format`` (naming the row,
        the value and the format), or the mapping itself is invalid
        (:func:`passages.mapping.read_mapping`).
    """
    options = _options(
        windows=windows, weekdays=weekdays, categories=categories,
        half_life_days=half_life_days, lookback_days=lookback_days,
    )
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown incident format {fmt!r}", field="fmt",
                         fix="Use one of: " + ", ".join(FORMATS) + " (or leave it out).")
    if columns is not None:
        _check_roles(columns)
        if fmt not in (None, "table"):
            raise InputError(f"a columns mapping applies to fmt='table' only, not {fmt!r}",
                             field="columns", fix="Give fmt='table' or leave columns out.")
    files = _as_paths(paths)
    names = _display_names(files)
    specs = _file_specs(files, as_mapping(mapping))
    today_stamp = pd.Timestamp(today if today is not None else _today())
    screen = _Screen(area=area, options=options, today=today_stamp)
    scanned = [_scan_file(path, name, fmt=fmt, columns=columns, screen=screen, spec=spec)
               for path, name, spec in zip(files, names, specs, strict=True)]

    dated = [part.newest for part in scanned if part.has_dates and part.newest is not None]
    if reference_date is not None:
        reference: pd.Timestamp | None = pd.Timestamp(reference_date)
    else:
        reference = max(dated) if dated else None

    # The same incident (DR_NO) often sits in several extracts: count it once.
    all_ids = pd.concat([part.kept["source_id"] for part in scanned], ignore_index=True)
    repeated = all_ids.duplicated(keep="first").to_numpy(dtype=bool)
    points: list[gpd.GeoDataFrame] = []
    report = IncidentReport()
    start = 0
    for part in scanned:
        duplicate = repeated[start:start + len(part.kept)]
        start += len(part.kept)
        part_points, part_report = _weigh(part, duplicate, area=area, options=options,
                                          reference=reference)
        points.append(part_points)
        report = report.merge(part_report)
    if reference is not None and dated and np.isfinite(options.half_life_days):
        report.notes.append(
            f"recency weight: half-life {options.half_life_days:g} days, ages counted from "
            f"{reference.date().isoformat()}"
        )
    if report.used == 0:
        report.notes.append(
            f"no incident is left to score: none of the {report.rows_read} rows read is inside the "
            "study area, the time windows and the filters (see the dropped counts); every street "
            "would have zero risk")
    combined = pd.concat(points, ignore_index=True) if len(points) > 1 else points[0]
    return IncidentSet(points=gpd.GeoDataFrame(combined, geometry="geometry", crs=area.crs),
                       report=report)


class IncidentScan:
    """Incident files read once for one area: every row that passes the tests needing no parameter.

    :func:`passages.incidents.load_incidents` reads, screens and weighs in one pass. Here that
    pass is cut in two where the plan parameters start: reading keeps every row inside the
    study area with usable coordinates, date, time and weight (the whole day, every weekday
    and category), and :meth:`select` applies the parameters' tests to those rows in
    ``load_incidents``'s order (weekdays, time windows, categories, then lookback, duplicate
    ids and recency), with the same helpers, so that ``select(windows=..., weekdays=...,
    categories=..., half_life_days=..., lookback_days=...)`` equals ``load_incidents(paths,
    area=area, ...)`` with those options (points and report) for a fraction of its time. The
    warm plans of :class:`passages.plan.PlanInputs` (and the service's what-ifs) use it to
    change time windows without reading a file again.

    Attributes
    ----------
    today
        The day rows dated after which are dropped (Los Angeles date when read).
    mapping
        The mapping the files were read with (:mod:`passages.mapping`), or ``None``.
    """

    def __init__(self, paths: Sequence[Path], area: Area, *,
                 mapping: InputMapping | str | Path | Mapping[str, object] | None = None) -> None:
        self.area = area
        self.mapping = as_mapping(mapping)
        self.today = _today()
        wide = replace(
            _options(windows=(), weekdays=(), categories=None, half_life_days=None, lookback_days=None),
            intervals=(), weekdays=None, categories=None)
        screen = _Screen(area=area, options=wide, today=pd.Timestamp(self.today))
        files = _as_paths(list(paths))
        names = _display_names(files)
        specs = _file_specs(files, self.mapping)
        self.parts = [_scan_file(path, name, fmt=None, columns=None, screen=screen, spec=spec)
                      for path, name, spec in zip(files, names, specs, strict=True)]
        dated = [part.newest for part in self.parts if part.has_dates and part.newest is not None]
        self.reference: pd.Timestamp | None = max(dated) if dated else None

    def select(
        self,
        *,
        windows: Sequence[str] | None = None,
        weekdays: Sequence[int] | None = None,
        categories: Sequence[str] | None = None,
        half_life_days: float | None = None,
        lookback_days: float | None = None,
    ) -> IncidentSet:
        """Return the incidents of these windows, weekdays, categories, half-life and lookback.

        The options mean what they mean to :func:`load_incidents` (defaults from
        :mod:`passages.settings`), and the result equals its result with them.
        """
        options = _options(windows=windows, weekdays=weekdays, categories=categories,
                           half_life_days=half_life_days, lookback_days=lookback_days)
        parts = [self._screened(part, options) for part in self.parts]
        # the same incident (DR_NO) often sits in several extracts: counted once, as load_incidents does
        all_ids = pd.concat([part.kept["source_id"] for part in parts], ignore_index=True)
        repeated = all_ids.duplicated(keep="first").to_numpy(dtype=bool)
        points: list[gpd.GeoDataFrame] = []
        report = IncidentReport()
        start = 0
        for part in parts:
            duplicate = repeated[start:start + len(part.kept)]
            start += len(part.kept)
            part_points, part_report = _weigh(part, duplicate, area=self.area, options=options,
                                                     reference=self.reference)
            points.append(part_points)
            report = report.merge(part_report)
        if self.reference is not None and np.isfinite(options.half_life_days):
            report.notes.append(
                f"recency weight: half-life {options.half_life_days:g} days, ages counted from "
                f"{self.reference.date().isoformat()}")
        if report.used == 0:
            report.notes.append(
                f"no incident is left to score: none of the {report.rows_read} rows read is inside the "
                "study area, the time windows and the filters (see the dropped counts); every street "
                "would have zero risk")
        combined = pd.concat(points, ignore_index=True) if len(points) > 1 else points[0]
        return IncidentSet(points=gpd.GeoDataFrame(combined, geometry="geometry", crs=self.area.crs), report=report)

    @staticmethod
    def _screened(part: _Scanned, options: _Options) -> _Scanned:
        """The file's rows after the parameter tests of ``load_incidents``'s per-row screen, with their counts."""
        rows = part.kept
        count = len(rows)
        reason = np.zeros(count, dtype=np.int64)

        def drop(mask: np.ndarray, label: str) -> None:
            reason[(reason == 0) & mask] = DROP_REASONS.index(label) + 1

        if part.has_dates and options.weekdays is not None:
            weekday = pd.DatetimeIndex(rows["date"]).day_of_week.to_numpy(dtype=float, na_value=np.nan)
            drop(~np.isin(weekday, sorted(options.weekdays)), OUTSIDE_WEEKDAYS)
        share = np.ones(count)
        if options.intervals and part.time_kind == "minute":
            share = _in_windows(rows["minute"].to_numpy(dtype=float), options.intervals).astype(float)
        elif options.intervals and part.time_kind == "hour":
            share = _hour_overlap(rows["hour_bin"].to_numpy(dtype=float) * 60, options.intervals)
        drop(~(share > 0), OUTSIDE_WINDOW)
        if options.categories is not None:
            drop(~np.isin(rows["category"].to_numpy(dtype=object), sorted(options.categories)),
                 CATEGORY_NOT_SELECTED)
        keep = reason == 0
        # read with a window share of 1: the weight is base x severity, and times the share here
        kept = rows.loc[keep].reset_index(drop=True).assign(
            weight=rows["weight"].to_numpy(dtype=float)[keep] * share[keep])
        counts = part.counts + np.bincount(reason, minlength=len(part.counts))
        return replace(part, kept=kept, counts=counts)


def _today() -> datetime.date:
    """Return today's date in Los Angeles, the local time of the incident data."""
    return datetime.datetime.now(zoneinfo.ZoneInfo(_TIMEZONE)).date()


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class _Options:
    intervals: tuple[tuple[int, int], ...]  # merged windows, minutes of day; () = whole day
    weekdays: frozenset[int] | None
    categories: frozenset[str] | None
    half_life_days: float
    lookback_days: float | None
    severity: dict[str, float]


def _options(
    *,
    windows: Sequence[str] | None,
    weekdays: Sequence[int] | None,
    categories: Sequence[str] | None,
    half_life_days: float | None,
    lookback_days: float | None,
) -> _Options:
    windows = settings.windows if windows is None else windows
    if isinstance(windows, str):
        windows = [windows]
    intervals = _merge_intervals([parse_window(text) for text in windows])

    weekdays = settings.weekdays if weekdays is None else weekdays
    bad_days = [day for day in weekdays
                if not (isinstance(day, int | np.integer) and 0 <= day <= 6)]
    if bad_days:
        raise InputError(f"weekdays {bad_days} are not days of the week", field="weekdays",
                         fix="Give days as 0 = Monday ... 6 = Sunday, such as [0, 1, 2, 3, 4].")
    days = frozenset(int(day) for day in weekdays) or None

    if categories is None:
        categories = getattr(settings, "categories", None)
    kept_categories = None
    if categories is not None:
        if isinstance(categories, str):
            categories = [categories]
        unknown = [c for c in categories if c not in CATEGORIES]
        if unknown:
            raise InputError(f"unknown categories {unknown}", field="categories",
                             fix="Choose from: " + ", ".join(CATEGORIES) + ".")
        kept_categories = frozenset(categories)

    half_life = settings.half_life_days if half_life_days is None else float(half_life_days)
    if not half_life > 0:
        raise InputError(f"half_life_days must be positive, got {half_life}",
                         field="half_life_days",
                         fix="Give the half-life in days, such as 365 (math.inf: no decay).")
    if lookback_days is None:
        lookback_days = getattr(settings, "lookback_days", None)
    if lookback_days is not None and not float(lookback_days) > 0:
        raise InputError(f"lookback_days must be positive, got {lookback_days}",
                         field="lookback_days", fix="Give a number of days, or leave it out.")
    severity = {"unknown": 1.0, **settings.severity}
    bad_severity = {k: v for k, v in severity.items()
                    if not (isinstance(v, int | float) and math.isfinite(v) and 0 <= v <= 1e6)}
    if bad_severity:
        raise InputError(f"severity weights {bad_severity} are not numbers in 0..1e6", field="severity",
                         fix="Give each category a finite severity, such as violent 3.0, property 1.0.")
    return _Options(intervals, days, kept_categories, half_life,
                    None if lookback_days is None else float(lookback_days), severity)


def _merge_intervals(intervals: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _check_roles(columns: Mapping[str, str]) -> None:
    unknown = [role for role in columns if role not in ROLES]
    if unknown:
        raise InputError(f"unknown column roles {unknown}", field="columns",
                         fix="Map these roles to column names: " + ", ".join(ROLES) + ".")
    if "time" in columns and "hour" in columns:
        raise InputError("both 'time' and 'hour' are mapped", field="columns",
                         fix="Map either the clock time (HHMM) or the hour of day, not both.")


# --------------------------------------------------------------------------- filter and weigh


def _hour_overlap(hour_start_min: np.ndarray, intervals: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Share (0-1) of each hour [start, start + 60) inside the merged windows."""
    overlap = np.zeros_like(hour_start_min, dtype=float)
    for start, end in intervals:
        overlap += np.clip(np.minimum(hour_start_min + 60, end)
                           - np.maximum(hour_start_min, start), 0, None)
    return overlap / 60.0


def _in_windows(minute: np.ndarray, intervals: tuple[tuple[int, int], ...]) -> np.ndarray:
    inside = np.zeros(minute.shape, dtype=bool)
    for start, end in intervals:
        inside |= (minute >= start) & (minute < end)
    return inside


@dataclass
class _Screen:
    """The per-row tests that need nothing but the row: area, dates, weights, windows."""

    area: Area
    options: _Options
    today: pd.Timestamp
    chunk_rows: int = field(default_factory=lambda: int(settings.incident_chunk_rows))

    def __post_init__(self) -> None:
        self.to_utm = pyproj.Transformer.from_crs(settings.input_crs, self.area.crs, always_xy=True)
        self.polygon = self.area.study_polygon_utm
        shapely.prepare(self.polygon)
        # the polygon's box in degrees, a little wider: a cheap first test of every row
        edge = shapely.get_coordinates(shapely.segmentize(self.polygon, 50.0))
        to_degrees = pyproj.Transformer.from_crs(self.area.crs, settings.input_crs, always_xy=True)
        lon, lat = to_degrees.transform(edge[:, 0], edge[:, 1])
        self.box = (float(np.min(lon)) - 1e-3, float(np.min(lat)) - 1e-3,
                    float(np.max(lon)) + 1e-3, float(np.max(lat)) + 1e-3)


@dataclass
class _Coordinates:
    """Rows whose coordinates are numbers (not 0,0), and those that do not look like degrees."""

    numbers: int = 0
    projected: int = 0  # a value beyond +-180: feet or metres
    projected_example: tuple[int, float, float] | None = None
    swapped: int = 0  # latitude beyond +-90 but within +-180, longitude within +-90
    swapped_example: tuple[int, float, float] | None = None


@dataclass
class _Scanned:
    """One file after the per-row tests: the rows kept, and the counts of the others."""

    name: str
    has_dates: bool
    time_kind: str | None
    kept: pd.DataFrame  # source_id, x, y, date, minute, hour_bin, crime_code, category, weight
    counts: np.ndarray  # rows dropped, by reason: counts[i] for DROP_REASONS[i - 1]
    rows_read: int
    notes: list[str]
    newest: pd.Timestamp | None  # newest readable date not after today
    oldest: pd.Timestamp | None
    fmt: str = "table"  # the format the file was read as


def _file_specs(files: Sequence[Path], mapping: InputMapping | None) -> list[FileMapping | None]:
    """What the mapping says about each file (``None`` each without a mapping)."""
    return [mapping.for_file("incidents", path) if mapping is not None else None for path in files]


def _scan_file(path: Path, name: str, *, fmt: str | None, columns: Mapping[str, str] | None,
               screen: _Screen, spec: FileMapping | None = None) -> _Scanned:
    """Read one file chunk by chunk, keeping the rows that pass the per-row tests.

    The file is read again when a chunk shows an assumption wrong (text in a number column;
    day-first dates): at most three reads.
    """
    mode = _Mode()
    if spec is not None and spec.roles and fmt not in (None, "table"):
        raise InputError(f"the mapping names columns for {path.name}, which applies to fmt='table' only, "
                         f"not {fmt!r}", path=spec.source, field=spec.key_of(spec.roles[0][0]),
                         fix="Leave fmt out (or give 'table') to read the file with the mapping.")
    while True:
        try:
            source = _open_file(path, name, fmt=fmt, columns=columns, known_categories=CATEGORIES,
                                mode=mode, chunk_rows=screen.chunk_rows, spec=spec)
            return _scan_source(source, screen, mode)
        except _Restart as again:
            mode = again.mode


def _scan_source(source: _Source, screen: _Screen, mode: _Mode) -> _Scanned:
    counts = np.zeros(len(DROP_REASONS) + 1, dtype=np.int64)
    kept: list[pd.DataFrame] = []
    coordinates = _Coordinates()
    rows_read = 0
    newest: pd.Timestamp | None = None
    oldest: pd.Timestamp | None = None
    latest_future: pd.Timestamp | None = None
    tally = source.tally
    for chunk in source.chunks:
        rows = chunk.rows
        if source.has_dates:
            _check_date_order(source, mode)
        rows_read += len(rows)
        reason, part = _screen_chunk(source, rows, screen, coordinates)
        counts += np.bincount(reason, minlength=len(counts))
        kept.append(part)
        if source.has_dates:
            dates = rows["date"]
            is_future = (dates > screen.today).to_numpy(dtype=bool)
            readable = dates[~is_future].dropna()
            if len(readable):
                newest = readable.max() if newest is None else max(newest, readable.max())
                oldest = readable.min() if oldest is None else min(oldest, readable.min())
            if is_future.any():
                top = dates[is_future].max()
                latest_future = top if latest_future is None else max(latest_future, top)
    source.check_end(rows_read)
    _check_coordinates(source, coordinates)
    notes = [*source.notes, *tally.notes(source.name, CATEGORIES)]
    if mode.day_first and tally.day_first_row is not None:
        notes.append(f"{source.name}: dates read as day/month/year (DD/MM/YYYY) for the whole file: "
                     f"row {tally.day_first_row} has {tally.day_first_text!r}, whose first field "
                     "exceeds 12")
    odd = coordinates.swapped + coordinates.projected
    if odd:
        notes.append(f"{source.name}: {odd} rows have coordinates out of the degree ranges (latitude "
                     f"and longitude swapped, or projected): counted as {MISSING_COORDINATES!r}")
    dropped_future = int(counts[DROP_REASONS.index(FUTURE_DATE) + 1])
    if dropped_future and latest_future is not None:
        notes.append(f"{source.name}: {dropped_future} rows are dated after today "
                     f"({screen.today.date().isoformat()}), up to {latest_future.date().isoformat()}: "
                     f"dropped as {FUTURE_DATE!r}")
    invalid = int(counts[DROP_REASONS.index(INVALID_WEIGHT) + 1])
    if invalid:
        notes.append(f"{source.name}: {invalid} rows have a weight that is not a number in "
                     f"(0, {settings.max_incident_weight:g}]: dropped as {INVALID_WEIGHT!r}")
    frame = (pd.concat(kept, ignore_index=True) if len(kept) > 1 else kept[0] if kept
             else _screen_chunk(source, _empty_rows(), screen, coordinates)[1])
    return _Scanned(source.name, source.has_dates, source.time_kind, frame, counts, rows_read, notes,
                    newest, oldest, source.fmt)


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame({
        "row": pd.Series(dtype=np.int64), "id": pd.Series(dtype=object), "lat": pd.Series(dtype=float),
        "lon": pd.Series(dtype=float), "date": pd.Series(dtype="datetime64[ns]"),
        "date_bad": pd.Series(dtype=bool), "minute": pd.Series(dtype=float),
        "hour_bin": pd.Series(dtype=float), "time_bad": pd.Series(dtype=bool),
        "crime_code": pd.Series(dtype="Int64"), "category": pd.Series(dtype=object),
        "base_weight": pd.Series(dtype=float),
    })


def _check_date_order(source: _Source, mode: _Mode) -> None:
    """Refuse a file mixing day-first and month-first dates; restart day-first when needed."""
    tally = source.tally
    if tally.day_first_row is not None and tally.month_first_row is not None:
        raise InputError(
            f"dates mix two orders: row {tally.day_first_row} has {tally.day_first_text!r} (day "
            f"first) and row {tally.month_first_row} has {tally.month_first_text!r} (month first)",
            path=source.path, field=source.labels.get("date"), row=tally.day_first_row,
            fix="Write every date of the file in one order, best as YYYY-MM-DD.")
    if tally.day_first_row is not None and not mode.day_first:
        raise _Restart(replace(mode, day_first=True))


def _check_coordinates(source: _Source, found: _Coordinates) -> None:
    """Refuse a file whose coordinates mostly look projected or swapped, naming the columns."""
    lat_label, lon_label = source.labels.get("lat", "lat"), source.labels.get("lon", "lon")
    columns = f"{lat_label}, {lon_label}"
    spec = source.spec
    if (found.projected and 2 * found.projected >= found.numbers and found.projected_example
            and spec is not None and "lat" in spec.columns):
        row, lat, lon = found.projected_example
        keys = f"{spec.key_of('lat')}, {spec.key_of('lon')}"
        hints = [h for h in source.header if re.search(r"lat|lon|lng", h, re.IGNORECASE)
                 and h not in (lat_label, lon_label)]
        suggestion = (f"map lat and lon to the file's latitude and longitude columns ({', '.join(hints[:4])})"
                      if hints else "map lat and lon to the file's latitude and longitude columns")
        raise InputError(
            f"{found.projected} of {found.numbers} rows of {source.name} have {lat_label} {lat:.6g}, "
            f"{lon_label} {lon:.6g} (row {row}) and such: they look projected (feet or metres, such as State "
            f"Plane or UTM), not degrees", path=source.path, row=row, field=keys,
            fix=f"In {spec.where}, {suggestion}; or, if the file has no degrees, add crs = \"EPSG:...\" "
                "(the projection of these columns, such as EPSG:3435 for Illinois East feet) to read them.")
    if found.projected and 2 * found.projected >= found.numbers and found.projected_example:
        row, lat, lon = found.projected_example
        raise InputError(
            f"{found.projected} of {found.numbers} rows have coordinates such as {lat_label} {lat:.6g}, "
            f"{lon_label} {lon:.6g} (row {row}): they look like projected coordinates in feet or metres "
            "(State Plane, UTM), not degrees", path=source.path, field=columns,
            fix="Give longitude/latitude in degrees (EPSG:4326, such as 34.05, -118.24): export the "
                "file again in WGS84, or reproject it in a GIS (QGIS: Export > Save Features As, "
                "CRS EPSG:4326).")
    if found.swapped and 2 * found.swapped >= found.numbers and found.swapped_example:
        row, lat, lon = found.swapped_example
        raise InputError(
            f"{found.swapped} of {found.numbers} rows have {lat_label} values such as {lat:.6g} and "
            f"{lon_label} values such as {lon:.6g} (row {row}): latitude and longitude look swapped",
            path=source.path, field=columns,
            fix=f"Swap the names {lat_label} and {lon_label} in the file's first line (latitude runs "
                "north-south, about 34 in Los Angeles; longitude about -118).")


def _screen_chunk(source: _Source, rows: pd.DataFrame, screen: _Screen,
                  coordinates: _Coordinates) -> tuple[np.ndarray, pd.DataFrame]:
    """Apply the per-row tests to one chunk; return each row's reason code and the rows kept.

    Reason 0 is kept, ``i`` is ``DROP_REASONS[i - 1]``. The rows kept carry ``source_id``,
    ``x``/``y`` (metres, the area's CRS), ``date``, ``minute``, ``hour_bin``,
    ``crime_code``, ``category`` and ``weight`` (base x severity x window share).
    """
    options = screen.options
    count = len(rows)
    reason = np.zeros(count, dtype=np.int64)

    def drop(mask: np.ndarray, label: str) -> None:
        reason[(reason == 0) & mask] = DROP_REASONS.index(label) + 1

    lat = rows["lat"].to_numpy(dtype=float)
    lon = rows["lon"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        numbers = np.isfinite(lat) & np.isfinite(lon) & ~((lat == 0) & (lon == 0))
        usable = numbers & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        projected = numbers & (np.maximum(np.abs(lat), np.abs(lon)) > 180)
        swapped = numbers & ~usable & ~projected & (np.abs(lon) <= 90)
    row_numbers = rows["row"].to_numpy(dtype=np.int64)
    coordinates.numbers += int(numbers.sum())
    if projected.any():
        coordinates.projected += int(projected.sum())
        if coordinates.projected_example is None:
            at = int(np.flatnonzero(projected)[0])
            coordinates.projected_example = (int(row_numbers[at]), float(lat[at]), float(lon[at]))
    if swapped.any():
        coordinates.swapped += int(swapped.sum())
        if coordinates.swapped_example is None:
            at = int(np.flatnonzero(swapped)[0])
            coordinates.swapped_example = (int(row_numbers[at]), float(lat[at]), float(lon[at]))
    drop(~usable, MISSING_COORDINATES)

    west, south, east, north = screen.box
    in_box = usable & (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    x = np.full(count, np.nan)
    y = np.full(count, np.nan)
    inside = np.zeros(count, dtype=bool)
    if in_box.any():
        x[in_box], y[in_box] = screen.to_utm.transform(lon[in_box], lat[in_box])
        inside[in_box] = shapely.contains_xy(screen.polygon, x[in_box], y[in_box])
    drop(~inside, OUTSIDE_AREA)

    drop(rows["date_bad"].to_numpy(dtype=bool), UNPARSEABLE_DATE)
    dates = pd.DatetimeIndex(rows["date"])
    if source.has_dates:
        drop(np.asarray(dates > screen.today, dtype=bool), FUTURE_DATE)
    drop(rows["time_bad"].to_numpy(dtype=bool), UNPARSEABLE_TIME)
    base = rows["base_weight"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        valid_weight = np.isfinite(base) & (base > 0) & (base <= settings.max_incident_weight)
    drop(~valid_weight, INVALID_WEIGHT)

    if source.has_dates and options.weekdays is not None:
        weekday = dates.day_of_week.to_numpy(dtype=float, na_value=np.nan)
        drop(~np.isin(weekday, sorted(options.weekdays)), OUTSIDE_WEEKDAYS)

    share = np.ones(count)
    if options.intervals and source.time_kind == "minute":
        share = _in_windows(rows["minute"].to_numpy(dtype=float), options.intervals).astype(float)
    elif options.intervals and source.time_kind == "hour":
        share = _hour_overlap(rows["hour_bin"].to_numpy(dtype=float) * 60, options.intervals)
    drop(~(share > 0), OUTSIDE_WINDOW)

    category = rows["category"].to_numpy(dtype=object)
    if options.categories is not None:
        drop(~np.isin(category, sorted(options.categories)), CATEGORY_NOT_SELECTED)

    keep = reason == 0
    severity = pd.Series(category[keep], dtype=object).map(options.severity).fillna(1.0).to_numpy(dtype=float)
    ident = rows["id"][keep]
    fallback = source.name + ":" + pd.Series(row_numbers[keep], index=ident.index).astype(str)
    part = pd.DataFrame({
        "source_id": ident.where(ident.notna(), fallback).astype(str).to_numpy(),
        "x": x[keep], "y": y[keep],
        "date": rows["date"].to_numpy()[keep],
        "minute": rows["minute"].to_numpy(dtype=float)[keep],
        "hour_bin": rows["hour_bin"].to_numpy(dtype=float)[keep],
        "crime_code": rows["crime_code"].array[keep],
        "category": category[keep],
        "weight": base[keep] * severity * share[keep],
    })
    return reason, part


def _weigh(part: _Scanned, duplicate: np.ndarray, *, area: Area, options: _Options,
           reference: pd.Timestamp | None) -> tuple[gpd.GeoDataFrame, IncidentReport]:
    """Apply the tests that need every file (lookback, duplicates) and the recency weight."""
    rows = part.kept
    count = len(rows)
    reason = np.zeros(count, dtype=np.int64)

    def drop(mask: np.ndarray, label: str) -> None:
        reason[(reason == 0) & mask] = DROP_REASONS.index(label) + 1

    notes = list(part.notes)
    dates = pd.DatetimeIndex(rows["date"])
    recency = np.ones(count)
    if part.has_dates and reference is not None:
        age_days = ((reference - dates) / pd.Timedelta(days=1)).to_numpy(dtype=float,
                                                                          na_value=np.nan)
        after = int(np.sum(age_days < 0))
        if after:
            notes.append(f"{part.name}: {after} rows are dated after the reference date "
                         f"{reference.date().isoformat()}; their age is taken as 0")
        age_days = np.clip(age_days, 0, None)
        if options.lookback_days is not None:
            drop(age_days > options.lookback_days, OLDER_THAN_LOOKBACK)
        recency = np.power(0.5, age_days / options.half_life_days)
    drop(duplicate, DUPLICATE_ID)

    weight = rows["weight"].to_numpy(dtype=float) * recency
    kept = reason == 0
    minute = rows["minute"].to_numpy(dtype=float)
    hour_bin = rows["hour_bin"].to_numpy(dtype=float)
    hour = np.where(np.isfinite(minute), minute / 60.0, hour_bin)
    clock = np.where(np.isfinite(minute), minute, hour_bin * 60)
    occurred = dates + pd.to_timedelta(np.nan_to_num(clock, nan=0.0), unit="min")
    points = gpd.GeoDataFrame(
        {
            "source_id": rows["source_id"][kept].astype(str).to_numpy(),
            "source": pd.Series(part.name, index=range(int(kept.sum())), dtype=str),
            "occurred": pd.Series(occurred[kept], dtype="datetime64[ns]").to_numpy(),
            "hour": hour[kept],
            "crime_code": pd.array(rows["crime_code"].array[kept], dtype="Int64"),
            "category": pd.Series(rows["category"].to_numpy(dtype=object)[kept], dtype=str),
            "weight": weight[kept],
        },
        geometry=gpd.points_from_xy(rows["x"].to_numpy(dtype=float)[kept],
                                    rows["y"].to_numpy(dtype=float)[kept]),
        crs=area.crs,
    )
    counts = part.counts + np.bincount(reason, minlength=len(DROP_REASONS) + 1)
    counts[0] = 0
    dropped = {label: int(counts[i + 1]) for i, label in enumerate(DROP_REASONS) if counts[i + 1]}
    used = int(kept.sum())
    if used == 0 and part.rows_read:
        notes.append(f"{part.name}: none of its {part.rows_read} rows is used")
    report = IncidentReport(
        rows_read=part.rows_read,
        used=used,
        used_weight=float(weight[kept].sum()),
        dropped=dropped,
        notes=notes,
        sources=[_source_line(part)],
        tables=[part.name] if part.fmt == "table" else [],
    )
    return points, report


def _source_line(part: _Scanned) -> str:
    """Return the file's name and the date range of its rows, for the report."""
    if not part.has_dates:
        return f"{part.name} (no dates)"
    if part.newest is None or part.oldest is None:
        return f"{part.name} (no readable dates)"
    return f"{part.name} ({part.oldest.date().isoformat()} to {part.newest.date().isoformat()})"


def _ordered_reasons(dropped: Mapping[str, int]) -> dict[str, int]:
    order = {label: i for i, label in enumerate(DROP_REASONS)}
    return {label: dropped[label]
            for label in sorted(dropped, key=lambda k: order.get(k, len(order)))}

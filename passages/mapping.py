"""Mapping files: which column of a city's own open-data exports plays each role.

A planner outside Los Angeles has files whose columns are called ``Latitude``,
``Primary Type`` or ``short_name``. A mapping file (TOML) names them, per kind of input
and, where one file differs, per file, so the files are read as they come, without Python
and without renaming anything::

    [incidents]
    lat = "Latitude"
    lon = "Longitude"
    date = "Date"
    date_format = "%m/%d/%Y %I:%M:%S %p"   # the date column carries the time too
    crime_type = "Primary Type"
    id = "ID"

    [incidents.categories]
    "ROBBERY" = "violent"
    "WEAPONS VIOLATION" = "other"
    default = "other"                      # crime types not listed

    [schools]
    name = "short_name"
    id = "school_id"

    [files."old_export.csv"]               # this file only: over the [incidents] keys
    date_format = "%Y-%m-%d"

Sections are the kinds :data:`KINDS` and ``files``; the keys of each kind are in
:data:`COLUMN_KEYS` (a column name each) and :data:`SETTING_KEYS`. ``x``/``y`` are other
names of ``lon``/``lat`` for projected columns read with ``crs``; ``enrolment`` and
``enrollment`` are one key. A file section (its key is the file's name, without folder)
takes the keys of the kind the file is given as, and its keys replace the kind's (its
``categories`` entries are added over the kind's). Unknown sections and keys are refused,
naming the known ones. :func:`read_mapping` reads and checks a file; :func:`as_mapping`
takes a path, an :class:`InputMapping` or an already-parsed dict (the same keys from
Python); :meth:`InputMapping.for_file` gives what applies to one file as a
:class:`FileMapping`, which the incident and place readers take.
"""

from __future__ import annotations

import datetime
import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from passages._errors import InputError
from passages._inputs import check_text_file

__all__ = [
    "COLUMN_KEYS",
    "KINDS",
    "SETTING_KEYS",
    "FileMapping",
    "InputMapping",
    "as_mapping",
    "closest",
    "read_mapping",
]

#: Kinds of input a mapping file has a section for (the ``--incidents``, ``--schools`` ... options).
KINDS = ("incidents", "schools", "transit", "parks", "libraries")

#: Keys naming a column, by kind, and the reader role each fills.
COLUMN_KEYS: dict[str, dict[str, str]] = {
    "incidents": {
        "lat": "lat", "lon": "lon", "y": "lat", "x": "lon", "id": "id", "date": "date", "time": "time",
        "hour": "hour", "weight": "weight", "crime_type": "crime_type", "category": "category",
        "code": "code",
    },
    "schools": {"lat": "lat", "lon": "lon", "y": "lat", "x": "lon", "id": "id", "name": "name",
                "enrolment": "enrollment", "enrollment": "enrollment", "level": "level"},
    "transit": {"lat": "lat", "lon": "lon", "y": "lat", "x": "lon", "id": "id", "name": "name"},
    "parks": {"lat": "lat", "lon": "lon", "y": "lat", "x": "lon", "id": "id", "name": "name"},
    "libraries": {"lat": "lat", "lon": "lon", "y": "lat", "x": "lon", "id": "id", "name": "name"},
}

#: Keys that are not column names, by kind: ``date_format``/``time_format`` (strptime
#: formats), ``crs`` (the CRS of the ``lon``/``lat`` or ``x``/``y`` columns, such as
#: ``"EPSG:3435"``), ``categories`` (a table of crime type to category).
SETTING_KEYS: dict[str, tuple[str, ...]] = {
    "incidents": ("date_format", "time_format", "crs", "categories"),
    **{kind: ("crs",) for kind in KINDS if kind != "incidents"},
}

#: Categories a crime type may be mapped to (those of :data:`passages.incidents.CATEGORIES`;
#: repeated here so this module imports nothing heavy).
CATEGORY_NAMES = ("violent", "property", "other", "unknown")

#: The key of a categories table that gives the category of crime types not listed.
DEFAULT_KEY = "default"

#: Largest mapping file read (bytes): a mapping is a few dozen lines.
MAX_MAPPING_BYTES = 1_000_000

_CLOCK_DIRECTIVES = re.compile(r"%[HIMp]")
_DATE_DIRECTIVES = re.compile(r"%[dmbBjYyUWcxF]")


@dataclass(frozen=True)
class Section:
    """The keys of one section of a mapping file, checked.

    Attributes
    ----------
    name
        How the section is written in the file: ``[incidents]``, ``[files."a.csv"]``.
    columns
        (key as written, column name) pairs, in file order.
    date_format, time_format, crs
        The settings, ``None`` when not given.
    categories
        (crime type, category) pairs of the section's categories table, without its default.
    default_category
        The table's ``default``, ``None`` when not given.
    """

    name: str
    columns: tuple[tuple[str, str], ...] = ()
    date_format: str | None = None
    time_format: str | None = None
    crs: str | None = None
    categories: tuple[tuple[str, str], ...] = ()
    default_category: str | None = None


@dataclass(frozen=True)
class FileMapping:
    """What a mapping says about one input file: its kind's keys with the file's own over them.

    Attributes
    ----------
    kind
        One of :data:`KINDS`.
    roles
        (reader role, column name) pairs: ``lat``, ``lon``, ``date``, ``name``, ``enrollment`` ...
    keys
        (reader role, where the column was named) pairs, such as ``("lat", "[incidents] y")``,
        for messages.
    date_format, time_format
        strptime formats of the date and time columns, or ``None`` (then the readers'
        own date and time parsing).
    crs
        The CRS of the coordinate columns, or ``None`` for EPSG:4326 degrees.
    categories
        (crime type, category) pairs; crime types are matched as written, then ignoring
        case and surrounding blanks.
    default_category
        The category of a crime type not listed (``"other"`` unless the table says).
    source
        The mapping file, ``None`` for a mapping given from Python.
    """

    kind: str
    roles: tuple[tuple[str, str], ...] = ()
    keys: tuple[tuple[str, str], ...] = ()
    date_format: str | None = None
    time_format: str | None = None
    crs: str | None = None
    categories: tuple[tuple[str, str], ...] = ()
    default_category: str = "other"
    source: Path | None = None

    @property
    def columns(self) -> dict[str, str]:
        """Return the role -> column mapping, as the readers' ``columns=`` take it."""
        return dict(self.roles)

    def key_of(self, role: str) -> str:
        """Return where ``role``'s column is named (``"[incidents] lat"``), or the role itself."""
        return dict(self.keys).get(role, role)

    def setting_key(self, name: str) -> str:
        """Return how to name the setting ``name`` (``date_format`` ...) in a message."""
        return dict(self.keys).get(name, f"[{self.kind}] {name}")

    @property
    def where(self) -> str:
        """Return the mapping file's name for a message (``"the mapping"`` from Python)."""
        return self.source.name if self.source is not None else "the mapping"

    def category_table(self) -> dict[str, str]:
        """Return the crime-type table with keys as written and, for a loose match, upper-cased."""
        table = {str(k).strip().upper(): v for k, v in self.categories}
        table.update(self.categories)
        return table

    @property
    def date_has_clock(self) -> bool:
        """Whether ``date_format`` reads a time of day too (``%H``, ``%I``, ``%M``, ``%p``)."""
        return bool(self.date_format and _CLOCK_DIRECTIVES.search(self.date_format))


@dataclass(frozen=True)
class InputMapping:
    """A mapping file read and checked: its sections by kind and by file name.

    Attributes
    ----------
    kinds
        (kind, section) pairs, for the kinds the file has a section for.
    files
        (file name, section) pairs, from the ``[files."NAME"]`` sections.
    path
        The mapping file, ``None`` when made from a dict in Python.
    """

    kinds: tuple[tuple[str, Section], ...] = ()
    files: tuple[tuple[str, Section], ...] = ()
    path: Path | None = field(default=None, compare=False)

    def for_file(self, kind: str, path: str | Path) -> FileMapping | None:
        """Return what applies to the file ``path`` given as ``kind``, or ``None`` when nothing does.

        Raises
        ------
        InputError
            The file's own section has a key that ``kind`` does not take.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        own = dict(self.kinds).get(kind)
        by_file = dict(self.files).get(Path(path).name)
        if own is None and by_file is None:
            return None
        sections = [s for s in (own, by_file) if s is not None]
        if by_file is not None:
            _check_keys(kind, [key for key, _ in by_file.columns], by_file, self.path, settings=_given(by_file))
        roles: dict[str, str] = {}
        keys: dict[str, str] = {}
        merged: dict[str, Any] = {"date_format": None, "time_format": None, "crs": None, "default_category": None}
        categories: dict[str, str] = {}
        for section in sections:
            named = {COLUMN_KEYS[kind][key] for key, _ in section.columns}
            for group in (("crime_type", "category", "code"), ("time", "hour")):
                if named & set(group):  # a file's own crime-type (time) column replaces its kind's
                    for role in set(group) - named:
                        roles.pop(role, None)
                        keys.pop(role, None)
            for key, column in section.columns:
                role = COLUMN_KEYS[kind][key]
                roles[role] = column
                keys[role] = f"{section.name} {key}"
            for name in merged:
                value = getattr(section, name)
                if value is not None:
                    merged[name] = value
                    keys[name] = f"{section.name} {'categories.default' if name == 'default_category' else name}"
            categories.update(section.categories)
            if section.categories:
                keys["categories"] = f"{section.name} categories"
        return FileMapping(
            kind=kind, roles=tuple(roles.items()), keys=tuple(keys.items()),
            date_format=merged["date_format"], time_format=merged["time_format"], crs=merged["crs"],
            categories=tuple(categories.items()), default_category=merged["default_category"] or "other",
            source=self.path,
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the mapping as plain data (the TOML's tables), in a fixed order."""
        def section(s: Section) -> dict[str, Any]:
            out: dict[str, Any] = dict(s.columns)
            for name in ("date_format", "time_format", "crs"):
                if getattr(s, name) is not None:
                    out[name] = getattr(s, name)
            table = dict(s.categories)
            if s.default_category is not None:
                table[DEFAULT_KEY] = s.default_category
            if table:
                out["categories"] = table
            return out

        data: dict[str, Any] = {kind: section(s) for kind, s in self.kinds}
        if self.files:
            data["files"] = {name: section(s) for name, s in self.files}
        return data

    def digest(self) -> str:
        """Return the SHA-256 (hex) of what the mapping says: the key of cached readings."""
        text = json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- reading


def read_mapping(path: str | Path) -> InputMapping:
    """Read and check a mapping file (TOML).

    Parameters
    ----------
    path
        The mapping file.

    Returns
    -------
    InputMapping
        Its sections, checked.

    Raises
    ------
    InputError
        One line naming the file, the key and the fix: the file is missing, binary,
        too large or not TOML (with the line number); a section or key is unknown (the
        known ones are listed); a column name is not text; a category is not one of
        :data:`CATEGORY_NAMES`; a date or time format reads no date or time, or does not
        read back what it writes; a ``crs`` is unknown.
    """
    path = check_text_file(path, what="mapping file", fix="Give a TOML mapping file, such as "
                                                          "examples/chicago/mapping.toml.")
    if path.stat().st_size > MAX_MAPPING_BYTES:
        raise InputError(f"mapping file is larger than {MAX_MAPPING_BYTES:,} bytes", path=path,
                         fix="A mapping names a few columns per kind of file: give the mapping itself.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("mapping file is not UTF-8 text", path=path,
                         fix="Save the mapping as UTF-8 text.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column (\d+)\)", message)
        reason = re.sub(r"\s*\(at line \d+, column \d+\)|\s*\(at end of document\)", "", message)
        where = (f"line {found.group(1)}, column {found.group(2)}" if found
                 else "the end of the file" if "end of document" in message else "an unknown place")
        raise InputError(f"not valid TOML at {where}: {reason}", path=path, field=None,
                         fix='Write each key as key = "value" in a [section] (strings in double quotes); '
                             "see examples/chicago/mapping.toml.") from None
    return mapping_from_dict(data, path=path)


def mapping_from_dict(data: Mapping[str, Any], *, path: str | Path | None = None) -> InputMapping:
    """Return the mapping of already-parsed TOML data (the keys of a mapping file), checked.

    Parameters
    ----------
    data
        Sections by name (:data:`KINDS` and ``files``), as :func:`tomllib.loads` gives them.
    path
        The file the data came from, for messages.

    Raises
    ------
    InputError
        As :func:`read_mapping`.
    """
    origin = Path(path) if path is not None else None
    if not isinstance(data, Mapping):
        raise InputError(f"a mapping must be a table of sections, got a {type(data).__name__}", path=origin,
                         fix="Give sections such as [incidents] and [schools].")
    known = (*KINDS, "files")
    kinds: list[tuple[str, Section]] = []
    files: list[tuple[str, Section]] = []
    for name, body in data.items():
        if name not in known:
            raise InputError(f"unknown section [{name}]{_closest_hint(name, known)}", path=origin,
                             field=f"[{name}]", fix="Sections: " + ", ".join(f"[{k}]" for k in known) + ".")
        if name == "files":
            if not isinstance(body, Mapping):
                raise InputError("[files] must hold one table per file", path=origin, field="[files]",
                                 fix='Write [files."the_file.csv"] followed by its keys.')
            for file_name, keys in body.items():
                label = f"[files.{json.dumps(str(file_name), ensure_ascii=False)}]"
                if not isinstance(keys, Mapping):
                    raise InputError(f"{label} must be a table of keys", path=origin, field=label,
                                     fix=f"Write {label} on its own line, then its keys below it.")
                if not str(file_name).strip() or "/" in str(file_name) or "\\" in str(file_name):
                    raise InputError(f"{label} must name a file, without its folder", path=origin,
                                     field=label, fix='Give the file name only, such as [files."crimes.csv"].')
                files.append((str(file_name), _section(None, label, keys, origin)))
            continue
        if not isinstance(body, Mapping):
            raise InputError(f"[{name}] must be a table of keys, got a single value", path=origin,
                             field=f"[{name}]", fix=f"Write [{name}] on its own line, then its keys below it.")
        kinds.append((name, _section(name, f"[{name}]", body, origin)))
    return InputMapping(kinds=tuple(kinds), files=tuple(files), path=origin)


def as_mapping(value: InputMapping | str | Path | Mapping[str, Any] | None) -> InputMapping | None:
    """Return a mapping from a path (read), a dict (checked) or an :class:`InputMapping` (as is).

    ``None`` gives ``None``: no mapping.
    """
    if value is None or isinstance(value, InputMapping):
        return value
    if isinstance(value, str | Path):
        return read_mapping(value)
    if isinstance(value, Mapping):
        return mapping_from_dict(value)
    raise InputError(f"a mapping must be a file path or a table of sections, got a {type(value).__name__}",
                     field="mapping", fix="Give the path of a TOML mapping file.")


def _given(section: Section) -> list[str]:
    names = [n for n in ("date_format", "time_format", "crs") if getattr(section, n) is not None]
    return names + (["categories"] if section.categories or section.default_category is not None else [])


def _section(kind: str | None, label: str, body: Mapping[str, Any], origin: Path | None) -> Section:
    """Check one section's keys; ``kind`` is ``None`` for a file section (any kind's keys)."""
    columns: list[tuple[str, str]] = []
    settings: dict[str, Any] = {}
    for key, value in body.items():
        if key == "categories":
            settings[key] = value
            continue
        if key in ("date_format", "time_format", "crs"):
            settings[key] = _text_value(value, label, key, origin)
            continue
        columns.append((key, _text_value(value, label, key, origin)))
    section = Section(name=label)
    _check_keys(kind, [k for k, _ in columns], section, origin, settings=list(settings))
    categories, default = (_categories(settings["categories"], label, origin) if "categories" in settings
                           else ((), None))
    for name in ("date_format", "time_format"):
        if name in settings:
            _check_format(settings[name], name, label, origin)
    if "crs" in settings:
        _check_crs(settings["crs"], label, origin)
    return Section(name=label, columns=tuple(columns), date_format=settings.get("date_format"),
                   time_format=settings.get("time_format"), crs=settings.get("crs"),
                   categories=categories, default_category=default)


def _check_keys(kind: str | None, columns: Sequence[str], section: Section, origin: Path | None, *,
                settings: Sequence[str]) -> None:
    """Refuse keys the kind (any kind, for ``None``) does not take, and roles named twice."""
    if kind is None:
        allowed_columns = {key for keys in COLUMN_KEYS.values() for key in keys}
        allowed_settings = {key for keys in SETTING_KEYS.values() for key in keys}
        what = "a file section"
    else:
        allowed_columns, allowed_settings = set(COLUMN_KEYS[kind]), set(SETTING_KEYS[kind])
        what = f"{kind} files"
    known = sorted(allowed_columns) + sorted(allowed_settings)
    for key in [*columns, *settings]:
        if key not in allowed_columns and key not in allowed_settings:
            raise InputError(f"unknown key {key!r} in {section.name}{_closest_hint(key, known)}", path=origin,
                             field=f"{section.name} {key}",
                             fix=f"Keys of {what}: " + ", ".join(known) + ".")
    if kind is None:
        return
    roles: dict[str, str] = {}
    for key in columns:
        role = COLUMN_KEYS[kind][key]
        if role in roles:
            raise InputError(f"{section.name} names the {role} column twice ({roles[role]} and {key})",
                             path=origin, field=f"{section.name} {key}",
                             fix=f"Keep one of {roles[role]} and {key}.")
        roles[role] = key
    if "time" in roles and "hour" in roles:
        raise InputError(f"{section.name} maps both time and hour", path=origin, field=f"{section.name} hour",
                         fix="Map either the clock time or the hour of day, not both.")
    typed = [key for key in columns if COLUMN_KEYS[kind][key] in ("crime_type", "category", "code")]
    if len(typed) > 1:
        raise InputError(f"{section.name} maps {' and '.join(typed)}: one crime-type column is read",
                         path=origin, field=f"{section.name} {typed[1]}",
                         fix="Keep crime_type (with a [categories] table), category (values violent, property, "
                             "other) or code (LAPD crime codes), one of them.")


def _text_value(value: Any, label: str, key: str, origin: Path | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{label} {key} must be text naming a column or a setting, got {value!r}"[:200],
                         path=origin, field=f"{label} {key}",
                         fix=f'Write it in double quotes, such as {key} = "Latitude".')
    return value


def _categories(table: Any, label: str, origin: Path | None) -> tuple[tuple[tuple[str, str], ...], str | None]:
    """Check a categories table: crime type -> one of :data:`CATEGORY_NAMES`; split off its default."""
    key = f"{label} categories"
    if not isinstance(table, Mapping):
        raise InputError(f"{key} must be a table of crime type = category", path=origin, field=key,
                         fix=f'Write [{label.strip("[]")}.categories] and below it lines such as '
                             '"ROBBERY" = "violent".')
    pairs: list[tuple[str, str]] = []
    default: str | None = None
    for crime_type, category in table.items():
        if not isinstance(category, str) or category.strip().lower() not in CATEGORY_NAMES:
            shown = category if isinstance(category, str) else type(category).__name__
            raise InputError(
                f"{key}: crime type {crime_type!r} is mapped to {shown!r}, not a category"
                f"{_closest_hint(str(shown).lower(), CATEGORY_NAMES)}",
                path=origin, field=f"{key}.{crime_type}",
                fix="Categories: " + ", ".join(CATEGORY_NAMES) + " (severity weights in passages.settings).")
        if crime_type == DEFAULT_KEY:
            default = category.strip().lower()
        else:
            pairs.append((str(crime_type), category.strip().lower()))
    return tuple(pairs), default


def _check_format(fmt: str, name: str, label: str, origin: Path | None) -> None:
    """Refuse a strptime format that reads no date (time) or cannot read back what it writes."""
    sample = datetime.datetime(2016, 11, 23, 19, 45, 0)
    wanted = _DATE_DIRECTIVES if name == "date_format" else _CLOCK_DIRECTIVES
    what = "a date (such as %m/%d/%Y)" if name == "date_format" else "a time (such as %H:%M)"
    problem = None
    if not wanted.search(fmt):
        problem = f"reads no {what.split(' (')[0].split(' ')[-1]}"
    else:
        try:
            back = datetime.datetime.strptime(sample.strftime(fmt), fmt)
        except ValueError as exc:
            problem = f"cannot read back what it writes ({exc})"
        else:
            if name == "date_format" and back.date() != sample.date() and "%y" not in fmt:
                problem = "does not read the day, month and year"
    if problem:
        raise InputError(f"{label} {name} {fmt!r} {problem}", path=origin, field=f"{label} {name}",
                         fix=f"Give a strptime format of {what}, such as "
                             + ('"%m/%d/%Y %I:%M:%S %p" for 01/31/2016 10:13:00 PM.' if name == "date_format"
                                else '"%H%M" for 2230 or "%I:%M %p" for 10:30 PM.'))


def _check_crs(crs: str, label: str, origin: Path | None) -> None:
    import pyproj

    try:
        pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise InputError(f"{label} crs {crs!r} is not a coordinate reference system", path=origin,
                         field=f"{label} crs",
                         fix='Give an EPSG code such as crs = "EPSG:3435" (Illinois East State Plane, US feet), '
                             "or leave crs out for longitude/latitude degrees.") from None


# --------------------------------------------------------------------------- messages


def closest(name: str, choices: Sequence[str], *, cutoff: float = 0.6) -> str | None:
    """Return the choice nearest to ``name`` (case and blanks aside), or ``None`` when none is close.

    ``cutoff`` is the least :class:`difflib.SequenceMatcher` ratio of a match (0-1).
    """
    folded = {re.sub(r"[\s_]+", " ", str(c)).strip().casefold(): str(c) for c in reversed(list(choices))}
    found = difflib.get_close_matches(re.sub(r"[\s_]+", " ", name).strip().casefold(), list(folded), n=1,
                                      cutoff=cutoff)
    return folded[found[0]] if found else None


def _closest_hint(name: str, choices: Sequence[str]) -> str:
    near = closest(name, choices, cutoff=0.5)  # keys are short: "latitude" is nearest "lat"
    return f" (did you mean {near!r}?)" if near is not None and near != name else ""


def missing_column(spec: FileMapping | None, role: str, column: str, data_path: Path,
                   found: Sequence[str]) -> InputError:
    """Return the error of a mapped column that the data file does not have.

    One line naming the mapping file and its key (the data file when there is no mapping
    file), the columns the file has and the closest of them.
    """
    names = [str(c) for c in found if str(c).strip()]
    shown = ", ".join(names[:25]) + (f" ... ({len(names)} columns)" if len(names) > 25 else "")
    near = closest(column, names)
    near_text = f"; closest: {near!r}" if near is not None else ""
    if spec is None or spec.source is None:
        key = spec.key_of(role) if spec is not None else role
        return InputError(f"column {column!r} (role {role!r}) is not in the file (columns found: {shown}{near_text})",
                          path=data_path, field=column,
                          fix=(f"Map {role} to {near!r}." if near else "Map the role to one of the columns found.")
                          + " Or rename the column in the file's first line.")
    key = spec.key_of(role)
    section, _, name = key.rpartition(" ")
    return InputError(
        f"{key} names column {column!r}, which {data_path.name} does not have (its columns: {shown}{near_text})",
        path=spec.source, field=key,
        fix=(f'Write {name} = "{near}" in {section} of {spec.where}' if near
             else f"Name one of the file's columns in {key}, or remove the key") + ".")

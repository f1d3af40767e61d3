"""Street conditions on the Safe Passages: open city requests on the passage segments, worst first.

A *conditions file* lists requests made to the city about the state of a street: a
streetlight out, graffiti, illegal dumping, a damaged sidewalk. :func:`read_conditions`
reads

* the MyLA311 export with its official columns (``SRNumber, CreatedDate, RequestType,
  Status, ClosedDate, Latitude, Longitude, ...``), also with the headers lower-cased;
* a JSON list of requests such as ``open_requests.json`` (``srnumber, requesttype,
  latitude, longitude``);
* the shared data's derived table ``la311_points_study_areas.csv`` (``srnumber,
  request_type, latitude, longitude, all_source_files, ...``);
* a plain CSV or GeoJSON with ``type, lat, lon`` and, optionally, ``status, date, id``.

Headers match without regard to case, underscores or spaces (``Request_Type`` is
``requesttype``). A file with no column for the request type or the coordinates is not a
conditions file: one :class:`~passages._errors.InputError` names it, the missing field and
the fix. Rows with missing or impossible coordinates are counted and reported in one note.

**Open requests only.** A request is open unless the file says otherwise: its ``Status``
is closed (``Closed``, ``Cancelled``, ``Referred Out``...), or, without a status, it has a
``ClosedDate``. The derived table carries no status: it names the file each request came
from (``all_source_files``), and the status is read there when that file can be found (a
request closed in any of its files is closed). A file that cannot tell (no status, no
closed date) is taken as a list of open requests, and the run says so in a note; a file
named as one (``open_requests.json``, the requests open in about August 2020) is one.

**Physical conditions** (:data:`CONDITIONS`): each request type maps to one condition
of the street and the department a request goes to. Requests about people
(``Homeless Encampment``), about services (``Report Water Waste``, ``Feedback``) or of
unknown nature (``Other``) are not conditions of the street: they are counted apart and
never listed. Scheduled pickups of bulky items, appliances and electronic waste are
listed (they stand on the sidewalk until collected) but weigh least.

**Severity** (:func:`severities`): a weight per open request, for the order of the work
list. A streetlight out weighs most, 3, when the plan has afternoon or evening walks (a
walk window ending after noon: the walk home from school, and after-school programmes
that end near or after dusk, which falls before 17:00 in a Los Angeles winter); with
morning walks only it weighs 2, as a damaged sidewalk does.

**The work list** (:func:`work_list`): every request is snapped to its nearest street
segment within ``max_snap_m`` metres (:meth:`StreetIndex.snap_points`); the passage
segments (those carrying walkers in the plan) holding at least one open physical
condition are listed worst first: the sum of their requests' severities, then the
walkers per day, then the risk per 100 m. :func:`write_conditions` writes it as
``SLUG-conditions.csv`` (no cell starts a formula) and a one-page PDF,
``SLUG-conditions.pdf`` (US Letter: a map of the passages with the listed segments
numbered, and the top rows). The list shows where the Safe Passages run: treat it as the
plan's other outputs, for the partners who act on it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from passages._errors import InputError
from passages._inputs import check_text_file
from passages.street_names import UNNAMED_WAY, abbreviate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from passages._io import OutputSet
    from passages.plan import Plan

__all__ = ["CONDITIONS", "DEFAULT_FILE", "Condition", "ConditionRequests", "WorkList", "classify",
           "conditions_files", "conditions_page", "default_conditions_file", "read_conditions", "severities",
           "work_list", "write_conditions"]

#: A request farther than this from every street segment is on none (metres): about the
#: width of a street and its sidewalks, so a request is put on the street it was made on.
SNAP_M = 30.0

#: The shared data's conditions file, relative to the data folder (SOURCES.md section 8):
#: the MyLA311 samples clipped to the sample areas.
DEFAULT_FILE = "conditions/la311_derived/la311_points_study_areas.csv"

#: A walk window ending after this minute of the day (noon) is an afternoon or evening walk.
AFTERNOON_FROM_MIN = 12 * 60

#: Weight of a streetlight out when the plan has afternoon or evening walks, and when it has not.
STREETLIGHT_EVENING = 3.0
STREETLIGHT_MORNING = 2.0

#: Rows of the work list printed on the PDF page and on the terminal.
PAGE_ROWS = 30
TERMINAL_ROWS = 15

#: Page size (inches): US Letter, portrait.
PAGE_INCHES = (8.5, 11.0)


@dataclass(frozen=True)
class Condition:
    """One physical condition of a street and where a request about it goes.

    Attributes
    ----------
    key
        Short identifier (``"streetlight"``).
    label
        What it is, for tables (``"streetlight out"``).
    word
        What it is in a word or two, for the page's table (``"streetlight"``).
    department
        The City department a request goes to.
    agency
        The department in a few letters, for the page's table (``"BSL"``).
    severity
        Weight of one open request in the order of the work list (the streetlight's
        depends on the plan's walk windows: :func:`severities`).
    """

    key: str
    label: str
    word: str
    department: str
    agency: str
    severity: float


#: The physical conditions, in the order tables list them.
CONDITIONS: dict[str, Condition] = {c.key: c for c in (
    Condition("streetlight", "streetlight out", "streetlight", "Bureau of Street Lighting (Public Works)", "BSL",
              STREETLIGHT_EVENING),
    Condition("sidewalk", "damaged sidewalk", "sidewalk", "StreetsLA (Bureau of Street Services)", "StreetsLA", 2.0),
    Condition("dumping", "illegal dumping", "dumping", "LA Sanitation and Environment", "LASAN", 1.5),
    Condition("pavement", "pothole or pavement", "pavement", "StreetsLA (Bureau of Street Services)", "StreetsLA",
              1.0),
    Condition("graffiti", "graffiti", "graffiti", "Office of Community Beautification (Public Works)", "OCB", 1.0),
    Condition("bulky", "bulky items", "bulky items", "LA Sanitation and Environment", "LASAN", 0.5),
    Condition("animal", "dead animal", "dead animal", "LA Sanitation and Environment", "LASAN", 0.5),
)}

# Request type words -> condition, first match wins on the type lower-cased with its spaces
# made single: the MyLA311 names ("Single Streetlight Issue", "Graffiti Removal", "Illegal
# Dumping Pickup", "Metal/Household Appliances") and Hack for LA's short ones ("Multiple
# Streetlights", "Metal/Appliances", "Animal Remains"), and plain words of a planner's file.
_TYPE_RULES: tuple[tuple[str, str], ...] = (
    ("streetlight", "streetlight"), ("street light", "streetlight"), ("lighting", "streetlight"),
    ("sidewalk", "sidewalk"),
    ("illegal dumping", "dumping"), ("dumping", "dumping"),
    ("pothole", "pavement"), ("street surface", "pavement"), ("resurfac", "pavement"),
    ("graffiti", "graffiti"),
    ("bulky", "bulky"), ("appliance", "bulky"), ("electronic waste", "bulky"), ("e-waste", "bulky"),
    ("dead animal", "animal"), ("animal remains", "animal"),
)

# Status words of a request that is no longer open (lower case).
_CLOSED_STATUSES = frozenset({"closed", "cancelled", "canceled", "referred out", "resolved", "completed",
                              "complete", "duplicate", "void", "rejected"})

# Header candidates by role, after :func:`_header_key` (first match wins).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("srnumber", "srno", "servicerequestnumber", "requestnumber", "requestid", "id", "caseid"),
    "type": ("requesttype", "type", "typename", "condition", "category", "problem", "issue"),
    "lat": ("latitude", "lat", "y"),
    "lon": ("longitude", "lon", "lng", "long", "x"),
    "status": ("status", "state"),
    "closed": ("closeddate", "dateclosed", "closed", "closedat"),
    "created": ("createddate", "created", "date", "datecreated", "createdat", "reporteddate", "opened"),
    "sources": ("allsourcefiles", "sourcefile", "sourcefiles"),
}

# Columns of :attr:`ConditionRequests.requests`.
_REQUEST_COLUMNS = ("id", "request_type", "condition", "lat", "lon", "status", "created", "file")

_FIX = ("Give a conditions file: a CSV or GeoJSON with columns type, lat, lon (and, if known, status, date, id), "
        "or a MyLA311 export (RequestType, Latitude, Longitude, Status).")


def _header_key(name: object) -> str:
    """Return a header as it is matched: lower case, without spaces, underscores or other signs."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _find_columns(headers: Iterable[object]) -> dict[str, str]:
    """Return the header of each role found among ``headers`` (see :data:`_COLUMNS`)."""
    by_key: dict[str, str] = {}
    for header in headers:
        by_key.setdefault(_header_key(header), str(header))
    found = {}
    for role, candidates in _COLUMNS.items():
        for candidate in candidates:
            if candidate in by_key:
                found[role] = by_key[candidate]
                break
    return found


def classify(request_type: object) -> str:
    """Return the key of the physical condition a request type names, or ``""`` for none.

    >>> classify("Single Streetlight Issue"), classify("Graffiti"), classify("Homeless Encampment")
    ('streetlight', 'graffiti', '')
    """
    text = " ".join(str(request_type).lower().split())
    for words, key in _TYPE_RULES:
        if words in text:
            return key
    return ""


def severities(windows: Sequence[str]) -> dict[str, float]:
    """Return the weight of one open request of each condition, for a plan's walk windows.

    Parameters
    ----------
    windows
        The plan's walk windows, ``"HH:MM-HH:MM"`` local time.

    Returns
    -------
    dict
        Condition key to weight: :data:`CONDITIONS`' own, the streetlight's
        :data:`STREETLIGHT_EVENING` when a window ends after noon (an afternoon or evening
        walk), else :data:`STREETLIGHT_MORNING`.
    """
    from passages.incidents import parse_window

    evening = any(parse_window(window)[1] > AFTERNOON_FROM_MIN for window in windows)
    weights = {key: condition.severity for key, condition in CONDITIONS.items()}
    weights["streetlight"] = STREETLIGHT_EVENING if evening else STREETLIGHT_MORNING
    return weights


# ------------------------------------------------------------------------------- reading


@dataclass
class ConditionRequests:
    """Requests read from conditions files.

    Attributes
    ----------
    requests
        One row per request with usable coordinates: ``id`` (the file's, else
        ``FILE:ROW``), ``request_type`` (as written), ``condition`` (a key of
        :data:`CONDITIONS`, ``""`` when not a physical condition), ``lat``, ``lon``
        (degrees, EPSG:4326), ``status`` (``"open"``, ``"closed"``; ``"unknown"`` where
        the file cannot tell, kept as open), ``created`` (as written, ``""`` if none),
        ``file``.
    rows
        Rows read, every file together.
    bad_coordinates
        Rows without usable coordinates (missing, not numbers, outside -90..90 / -180..180,
        or 0, 0), left out.
    duplicates
        Rows whose id an earlier row of the files had already given, left out.
    notes
        What the reading could not tell or left out, one line each.
    files
        The files read.
    """

    requests: pd.DataFrame
    rows: int = 0
    bad_coordinates: int = 0
    duplicates: int = 0
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def _read_json(path: Path) -> pd.DataFrame:
    """Return a GeoJSON FeatureCollection or a JSON list of objects as a table of text columns."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", path=path, fix=_FIX) from None
    if isinstance(data, dict) and isinstance(data.get("features"), list):
        records = []
        for feature in data["features"]:
            feature = feature if isinstance(feature, dict) else {}
            properties = feature.get("properties")
            record = {str(k): v for k, v in properties.items()} if isinstance(properties, dict) else {}
            geometry = feature.get("geometry")
            coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
            is_point = isinstance(geometry, dict) and geometry.get("type") == "Point"
            point = coords if is_point and isinstance(coords, list) and len(coords) >= 2 else [None, None]
            record["lon"], record["lat"] = point[0], point[1]
            records.append(record)
        return pd.DataFrame(records, columns=None if records else ["type", "lat", "lon"])
    if isinstance(data, list) and all(isinstance(item, dict) for item in data):
        return pd.DataFrame(data)
    raise InputError("JSON that is neither a GeoJSON FeatureCollection nor a list of requests", path=path,
                     fix=_FIX)


def _read_csv(path: Path, **options: Any) -> pd.DataFrame:
    """Return a CSV as a table of text columns (UTF-8, else Windows-1252); no value read as missing."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding, low_memory=False,
                               **options)
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            raise InputError("not a conditions file: no header row", path=path, field="type, lat, lon",
                             fix=_FIX) from None
        except pd.errors.ParserError as exc:
            header = pd.read_csv(path, dtype=str, nrows=0, encoding=encoding).columns
            _check_columns(path, header)  # a file of another kind says so first
            raise InputError(f"cannot be read as CSV ({str(exc).strip()})", path=path, fix=_FIX) from None
    raise InputError("is neither UTF-8 nor Windows-1252 text", path=path, fix="Save the file as UTF-8 CSV.")


def _read_table(path: Path) -> pd.DataFrame:
    path = check_text_file(path, what="conditions file", fix=_FIX)
    if path.suffix.lower() in (".json", ".geojson"):
        return _read_json(path)
    return _read_csv(path)


def _text(frame: pd.DataFrame, column: str | None) -> pd.Series:
    """Return a column as stripped text ("" where missing), or a column of "" when absent."""
    if column is None:
        return pd.Series("", index=frame.index, dtype=object)
    values = frame[column]
    return values.where(values.notna(), "").astype(str).str.strip()


def _coordinates(frame: pd.DataFrame, columns: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Return latitude and longitude (degrees), NaN where missing or impossible."""
    lat = pd.to_numeric(_text(frame, columns["lat"]), errors="coerce").to_numpy(dtype=float, copy=True)
    lon = pd.to_numeric(_text(frame, columns["lon"]), errors="coerce").to_numpy(dtype=float, copy=True)
    bad = ~(np.isfinite(lat) & np.isfinite(lon)) | (np.abs(lat) > 90) | (np.abs(lon) > 180) | (
        (lat == 0) & (lon == 0))
    lat[bad] = np.nan
    lon[bad] = np.nan
    return lat, lon


def _status(frame: pd.DataFrame, columns: Mapping[str, str]) -> pd.Series:
    """Return each row's status as the file tells it: "open", "closed" or "unknown"."""
    status = pd.Series("unknown", index=frame.index, dtype=object)
    if "closed" in columns:
        closed_date = _text(frame, columns["closed"])
        status[:] = np.where(closed_date != "", "closed", "open")
    if "status" in columns:
        words = _text(frame, columns["status"]).str.lower().map(lambda s: " ".join(s.split()))
        told = words != ""
        status[told] = np.where(words[told].isin(_CLOSED_STATUSES), "closed", "open")
    return status


def _source_path(path: Path, source: str) -> Path | None:
    """Return the file a derived table names as a source (relative to a folder above it), if found."""
    if not source or Path(source).is_absolute() or ".." in Path(source).parts:
        return None
    for folder in path.resolve().parents:
        candidate = folder / source
        if candidate.is_file():
            return candidate
    return None


def _statuses_of(path: Path) -> dict[str, str]:
    """Return id -> status of a source file's requests, where the file tells it (or its name does)."""
    table = _read_table(path)
    columns = _find_columns(table.columns)
    if "id" not in columns:
        return {}
    if {"status", "closed"} & set(columns):
        return dict(zip(_text(table, columns["id"]), _status(table, columns), strict=True))
    return dict.fromkeys(_text(table, columns["id"]), "open") if _open_by_name(path) else {}


def _status_from_sources(path: Path, sources: pd.Series, ids: pd.Series, status: pd.Series,
                         notes: list[str]) -> pd.Series:
    """Return the status of a derived table's requests, read in the files it names where they tell it."""
    status = status.copy()
    lists = sources.str.split(";")
    named = sorted({s.strip() for parts in lists for s in parts if s.strip()})
    closed: set[str] = set()
    opened: set[str] = set()
    missing = []
    for source in named:
        found = _source_path(path, source)
        if found is None:
            missing.append(source)
            continue
        for request, value in _statuses_of(found).items():
            (closed if value == "closed" else opened).add(request)
    # a request closed in any of its files is closed: a closed request is seldom opened again
    unknown = status == "unknown"
    status[unknown & ids.isin(opened)] = "open"
    status[unknown & ids.isin(closed)] = "closed"
    notes.append(f"{path.name}: no status column; the status of its requests read in the {len(named) - len(missing)} "
                 f"files it was made from ({int((status == 'open').sum()):,} open, "
                 f"{int((status == 'closed').sum()):,} closed)")
    if missing:
        notes.append(f"{path.name}: {len(missing)} of the files it was made from not found beside it "
                     f"({', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}); their requests are "
                     "taken as open")
    return status


def _open_by_name(path: Path) -> bool:
    """Whether a file's name says it lists open requests only (``open_requests.json``)."""
    return re.search(r"(^|[^a-z])open", path.stem.lower()) is not None


def _check_columns(path: Path, headers: Iterable[object]) -> dict[str, str]:
    """Return the columns of each role found; raise if the type or a coordinate has none."""
    headers = list(headers)
    columns = _find_columns(headers)
    missing = [role for role in ("type", "lat", "lon") if role not in columns]
    if missing:
        shown = ", ".join(repr(str(c)) for c in headers[:6]) + (", ..." if len(headers) > 6 else "")
        words = {"type": "request type", "lat": "latitude", "lon": "longitude"}
        raise InputError(f"not a conditions file: no column for the {' or '.join(words[m] for m in missing)} "
                         f"(its columns: {shown or 'none'})", path=path, field=", ".join(missing), fix=_FIX)
    return columns


def _read_one(path: Path, notes: list[str]) -> tuple[pd.DataFrame, int, int]:
    """Return one file's requests with usable coordinates, its rows and its rows with bad coordinates."""
    table = _read_table(path)
    columns = _check_columns(path, table.columns)
    lat, lon = _coordinates(table, columns)
    ids = _text(table, columns.get("id"))
    ids = ids.where(ids != "", [f"{path.name}:{row}" for row in range(1, len(table) + 1)])
    status = _status(table, columns)
    if "sources" in columns and (status == "unknown").any():
        status = _status_from_sources(path, _text(table, columns["sources"]), ids, status, notes)
    if (status == "unknown").any() and _open_by_name(path):
        status[status == "unknown"] = "open"
        notes.append(f"{path.name}: no status column; its name says it lists open requests, taken as such")
    elif (status == "unknown").all() and len(table):
        notes.append(f"{path.name}: no status or closed date: cannot tell open from closed, every request "
                     "taken as open")
    types = _text(table, columns["type"])
    frame = pd.DataFrame({"id": ids, "request_type": types, "condition": types.map(classify), "lat": lat,
                          "lon": lon, "status": status, "created": _text(table, columns.get("created")),
                          "file": str(path)})
    usable = np.isfinite(lat)
    return frame[usable].reset_index(drop=True), len(table), int((~usable).sum())


def read_conditions(paths: Sequence[str | Path]) -> ConditionRequests:
    """Read conditions files; return their requests with usable coordinates.

    Parameters
    ----------
    paths
        Conditions files (see the module's description of the formats).

    Returns
    -------
    ConditionRequests
        The requests (coordinates in degrees, EPSG:4326), rows read, rows without usable
        coordinates, duplicates across the files, notes.

    Raises
    ------
    InputError
        A file is missing, unreadable, binary, or not a conditions file (no column for the
        request type, latitude or longitude).
    """
    notes: list[str] = []
    frames, rows, bad = [], 0, 0
    files = [Path(p) for p in paths]
    for path in files:
        frame, read, unusable = _read_one(path, notes)
        frames.append(frame)
        rows += read
        bad += unusable
    requests = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(_REQUEST_COLUMNS))
    repeated = requests["id"].duplicated()
    requests = requests[~repeated].reset_index(drop=True)
    if bad:
        notes.append(f"{bad:,} of {rows:,} rows without usable coordinates (missing, not numbers or impossible), "
                     "left out")
    return ConditionRequests(requests, rows=rows, bad_coordinates=bad, duplicates=int(repeated.sum()), notes=notes,
                             files=files)


def default_conditions_file(data_dir: str | Path | None = None) -> Path | None:
    """Return the shared data's conditions file (:data:`DEFAULT_FILE`) if it is there."""
    from passages import settings

    folder = Path(data_dir) if data_dir is not None else settings.shared_data_dir()
    path = folder / DEFAULT_FILE
    return path if path.is_file() else None


# ------------------------------------------------------------------------------- the work list


@dataclass
class WorkList:
    """The passage segments with open physical conditions, worst first.

    Attributes
    ----------
    area_slug, area_name
        The plan's area.
    table
        One row per listed segment, worst first: ``rank``, ``street`` (with its cross
        streets), ``segment`` (index in the plan's segment table), ``u``, ``v`` (OSM node
        ids), ``score`` (sum of the requests' severities), ``conditions`` ("streetlight
        out 2; graffiti 1"), ``requests`` (count), ``request_ids``, ``departments``,
        ``walkers_per_day``, ``risk_per_100m``, ``length_m`` (metres), ``oldest_request``
        (the earliest creation date given, "" if none), ``lat``, ``lon`` (the segment's
        middle, degrees).
    requests
        Every open physical request on a passage: ``id``, ``condition``, ``segment``,
        ``distance_m`` (metres from the segment), ``lat``, ``lon``.
    counts
        Requests at each step, every condition together: ``rows``, ``bad_coordinates``,
        ``duplicates``, ``usable``, ``open``, ``closed``, ``physical`` (open, of a
        condition of :data:`CONDITIONS`), ``not_street`` (open, of another kind, in the area),
        ``in_area`` (physical, inside the area's study polygon), ``on_a_street`` (of those,
        within the snapping distance of a segment), ``on_a_passage`` (of those, on a
        passage segment); and ``segments`` listed.
    by_condition
        The same steps by condition (``open``, ``in_area``, ``on_a_street``,
        ``on_a_passage``), with its department and weight.
    not_street
        Open requests in the area that are not street conditions, by request type.
    severity
        The weight of one request of each condition used for the order.
    max_snap_m
        Snapping distance (metres).
    notes
        What the reading and snapping could not tell or left out.
    files
        The conditions files read.
    """

    area_slug: str
    area_name: str
    table: pd.DataFrame
    requests: pd.DataFrame
    counts: dict[str, int]
    by_condition: pd.DataFrame
    not_street: dict[str, int]
    severity: dict[str, float]
    max_snap_m: float
    notes: list[str]
    files: list[Path]

    def summary(self) -> dict[str, Any]:
        """Return the figures of the list as JSON-ready values."""
        return {"area": self.area_slug, "area_name": self.area_name, "files": [str(p) for p in self.files],
                "max_snap_m": self.max_snap_m, "counts": self.counts,
                "by_condition": self.by_condition.to_dict("records"), "not_street": self.not_street,
                "severity": self.severity, "notes": self.notes}


def _project(plan: Plan, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Return (n, 2) coordinates of points (degrees, EPSG:4326) in the plan's CRS (metres)."""
    import pyproj

    from passages import settings

    to_plan = pyproj.Transformer.from_crs(settings.input_crs, plan.index.crs, always_xy=True)
    x, y = to_plan.transform(lon, lat)
    return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])


def _street_parts(name: str) -> list[str]:
    """Return the street names a way's name holds: "A / B" both, "across X at Y" X, "alley off X" none."""
    crossed = re.fullmatch(r"across (.+?)(?: at .+)?", name)
    if crossed:
        return [crossed.group(1)]
    if " off " in name:
        return []
    return [part for part in name.split(" / ") if part]


def _same_street(part: str, name: str) -> bool:
    """Whether one street name holds the other, in full or in short form ("South Main Street", "S Main St")."""
    short_part, short_name = abbreviate(part), abbreviate(name)
    return part in name or name in part or short_part in short_name or short_name in short_part


def street_label(plan: Plan, segment: int, *, short: bool = False) -> str:
    """Return a segment's street and the cross streets at its ends: ``"Main Street, 5th Street to 6th Street"``.

    As the briefing sheets place a segment (:func:`passages.briefing.street_label`, in
    English), without loading what the sheets need: the street to walk by
    (:attr:`StreetIndex.segment_name`, ``"unnamed way"`` when it has none); at each end, the
    first (alphabetically) OSM street name of the other segments meeting there that the
    street's own name does not hold; a crossing or a way named off a street alone. With
    ``short`` the names are abbreviated: ``"Main St, 5th St to 6th St"``.
    """
    index = plan.index
    name = str(index.segment_name[segment]) or UNNAMED_WAY
    if str(index.segment_name_source[segment]) in ("crossing", "near"):
        return abbreviate(name) if short else name
    ends = []
    for node in (index.segment_u[segment], index.segment_v[segment]):
        meeting = [int(other) for other in index.node_segments(np.array([node], dtype=np.int64)).tolist()
                   if int(other) != segment]
        # OSM street names first; where mapped sidewalks and crossings meet (downtown), the
        # streets they run beside or cross
        for names_of in (index.segment_osm_name, index.segment_name):
            names = sorted({part for other in meeting for part in _street_parts(str(names_of[other]))
                            if not _same_street(part, name)})
            if names:
                break
        ends.append(names[0] if names else "")
    first, second = (abbreviate(end) for end in ends) if short else ends
    name = abbreviate(name) if short else name
    if first and second and first != second:
        return f"{name}, {first} to {second}"
    return f"{name} at {first or second}" if first or second else name


def _segment_rows(plan: Plan, on_passage: pd.DataFrame, severity: Mapping[str, float]) -> pd.DataFrame:
    """Return one row per segment holding requests, unordered (see :attr:`WorkList.table`)."""
    import pyproj
    import shapely

    from passages import settings

    index = plan.index
    demand = np.asarray(plan.route_set.segment_demand, dtype=float)
    risk = np.asarray(plan.risk.risk_per_100m, dtype=float)
    order = list(CONDITIONS)
    to_wgs = pyproj.Transformer.from_crs(index.crs, settings.input_crs, always_xy=True)
    rows = []
    for seg in sorted(set(on_passage["segment"].tolist())):
        group = on_passage[on_passage["segment"] == seg]
        counts = group["condition"].value_counts()
        present = sorted(counts.index, key=order.index)
        middle = shapely.line_interpolate_point(index.segment_geometry[seg], 0.5, normalized=True)
        lon, lat = to_wgs.transform(shapely.get_x(middle), shapely.get_y(middle))
        dates = sorted(d for d in group["created"] if d)
        rows.append({
            "street": street_label(plan, seg), "street_short": street_label(plan, seg, short=True), "segment": seg,
            "u": int(index.node_ids[index.segment_u[seg]]), "v": int(index.node_ids[index.segment_v[seg]]),
            "score": float(sum(severity[key] * int(counts[key]) for key in present)),
            "conditions": "; ".join(f"{CONDITIONS[key].label} {int(counts[key])}" for key in present),
            "brief": ", ".join(f"{CONDITIONS[key].word} {int(counts[key])}" for key in present),
            "requests": len(group),
            "request_ids": " ".join(group.sort_values(["condition", "id"])["id"]),
            "departments": "; ".join(dict.fromkeys(CONDITIONS[key].department for key in present)),
            "agencies": ", ".join(dict.fromkeys(CONDITIONS[key].agency for key in present)),
            "walkers_per_day": round(float(demand[seg]), 1), "risk_per_100m": round(float(risk[seg]), 3),
            "length_m": round(float(index.segment_length[seg]), 1), "oldest_request": dates[0] if dates else "",
            "lat": round(float(lat), 6), "lon": round(float(lon), 6),
        })
    return pd.DataFrame(rows)


def work_list(plan: Plan, read: ConditionRequests, *, max_snap_m: float = SNAP_M) -> WorkList:
    """Return the plan's passage segments with open physical conditions, worst first.

    Parameters
    ----------
    plan
        The plan (its street index, passages, walkers per segment, risk and windows).
    read
        Requests from :func:`read_conditions`.
    max_snap_m
        A request farther than this from every street segment is on none (metres).

    Returns
    -------
    WorkList
        The listed segments ordered by score (sum of the severities of their open
        requests), then walkers per day, then risk per 100 m (all descending), then
        segment index; the counts at each step.
    """
    if not max_snap_m > 0 or not math.isfinite(max_snap_m):
        raise InputError(f"snapping distance must be a positive number of metres, got {max_snap_m}",
                         field="--max-snap-m", fix="Give a distance such as 30.")
    import shapely

    severity = severities(plan.params.windows)
    requests = read.requests
    open_ = requests[requests["status"] != "closed"].reset_index(drop=True)
    xy = _project(plan, open_["lat"].to_numpy(float), open_["lon"].to_numpy(float))
    inside = shapely.contains_xy(plan.area.study_polygon_utm, xy[:, 0], xy[:, 1])
    is_physical = (open_["condition"] != "").to_numpy()
    physical = open_[is_physical]
    in_area = open_[is_physical & inside].reset_index(drop=True)
    segment, distance, _offset = plan.index.snap_points(xy[is_physical & inside], max_distance_m=max_snap_m)
    in_area = in_area.assign(segment=segment, distance_m=np.round(distance, 1))
    passage = np.asarray(plan.route_set.segment_demand, dtype=float) > 0
    on_street = in_area[in_area["segment"] >= 0]
    on_passage = on_street[passage[on_street["segment"].to_numpy(dtype=np.int64)]]
    table = _segment_rows(plan, on_passage, severity)
    if len(table):
        table = table.sort_values(["score", "walkers_per_day", "risk_per_100m", "segment"],
                                  ascending=[False, False, False, True]).reset_index(drop=True)
        table.insert(0, "rank", np.arange(1, len(table) + 1))
    not_street = open_[~is_physical & inside]["request_type"].replace("", "(no type)").value_counts()
    by_condition = pd.DataFrame([{
        "condition": condition.label, "department": condition.department, "severity": severity[key],
        "open": int((physical["condition"] == key).sum()), "in_area": int((in_area["condition"] == key).sum()),
        "on_a_street": int((on_street["condition"] == key).sum()),
        "on_a_passage": int((on_passage["condition"] == key).sum())} for key, condition in CONDITIONS.items()])
    counts = {"rows": read.rows, "bad_coordinates": read.bad_coordinates, "duplicates": read.duplicates,
              "usable": len(requests), "open": len(open_), "closed": len(requests) - len(open_),
              "physical": len(physical), "not_street": int(not_street.sum()), "in_area": len(in_area),
              "on_a_street": len(on_street),
              "on_a_passage": len(on_passage), "segments": len(table)}
    notes = list(read.notes)
    if len(physical) and not len(in_area):
        notes.append(f"no open street condition of the file lies in {plan.area.name}: the file may not cover "
                     "this area")
    return WorkList(plan.area.slug, plan.area.name, table,
                    on_passage[["id", "condition", "segment", "distance_m", "lat", "lon"]].reset_index(drop=True),
                    counts, by_condition, {str(k): int(v) for k, v in not_street.items()}, severity, max_snap_m,
                    notes, list(read.files))


# ------------------------------------------------------------------------------- outputs


#: Columns of the written CSV, in order.
CSV_COLUMNS = ("rank", "street", "conditions", "requests", "request_ids", "departments", "score", "walkers_per_day",
               "risk_per_100m", "length_m", "oldest_request", "segment", "u", "v", "lat", "lon")


def conditions_files(area: str) -> tuple[str, str]:
    """Return the names of an area's work list files: the CSV and the PDF (the area's name made a slug)."""
    from passages._names import slug

    name = slug(area, field="--area")
    return f"{name}-conditions.csv", f"{name}-conditions.pdf"


# Styles of the page's map: every street, the passages, the listed segments (as the briefing sheets').
_STREET_STYLE = {"fill": False, "edgecolor": "#bdbdbd", "linewidth": 0.6, "capstyle": "butt", "joinstyle": "round",
                 "zorder": 2}
_PASSAGE_STYLE = {**_STREET_STYLE, "edgecolor": "#1f6feb", "linewidth": 2.2, "alpha": 0.8}
_LISTED_STYLE = {**_STREET_STYLE, "edgecolor": "#e66101", "linewidth": 3.2, "zorder": 3}
_RANK_COLOR = "#b35806"


def _draw_map(ax: Any, plan: Plan, listed: pd.DataFrame) -> None:
    """Draw the streets near the passages, the passages and the listed segments, numbered by rank."""
    import shapely
    from matplotlib.patches import PathPatch

    from passages._figures import street_path

    index = plan.index
    passage = np.flatnonzero(np.asarray(plan.route_set.segment_demand, dtype=float) > 0)
    chosen = passage if len(passage) else np.arange(index.n_segments)
    xmin, ymin, xmax, ymax = shapely.total_bounds(index.segment_geometry[chosen])
    pad = 0.04 * max(xmax - xmin, ymax - ymin, 200.0)
    xmin, ymin, xmax, ymax = xmin - pad, ymin - pad, xmax + pad, ymax + pad
    shown = np.sort(index.segment_tree.query(shapely.box(xmin, ymin, xmax, ymax)))
    marked = listed["segment"].to_numpy(dtype=np.int64)
    for segments, style in ((shown, _STREET_STYLE), (passage, _PASSAGE_STYLE), (marked, _LISTED_STYLE)):
        if len(segments):
            ax.add_artist(PathPatch(street_path(index.segment_geometry[segments]), **style))
    top = listed.head(PAGE_ROWS)
    for rank, seg in zip(top["rank"].tolist()[::-1], top["segment"].tolist()[::-1], strict=True):  # worst on top
        middle = shapely.line_interpolate_point(index.segment_geometry[seg], 0.5, normalized=True)
        ax.annotate(str(rank), (shapely.get_x(middle), shapely.get_y(middle)), ha="center", va="center",
                    fontsize=6.5, fontweight="bold", color="white", zorder=4,
                    bbox={"boxstyle": "circle,pad=0.2", "fc": _RANK_COLOR, "ec": "white", "lw": 0.6})
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.plot([xmin + pad, xmin + pad + 500], [ymin + pad / 2] * 2, color="black", linewidth=2)
    ax.text(xmin + pad + 250, ymin + pad / 2 + 25, "500 m", ha="center", fontsize=7)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _page_lines(work: WorkList) -> list[str]:
    """Return the page's table: the top :data:`PAGE_ROWS` rows in fixed-width columns."""
    lines = [f"{'#':>3}  {'street':<52}  {'open requests':<38}  {'department':<15}  {'walkers':>7}"]
    for row in work.table.head(PAGE_ROWS).itertuples():
        lines.append(f"{row.rank:>3}  {_cut(str(row.street_short), 52):<52}  {_cut(str(row.brief), 38):<38}  "
                     f"{_cut(str(row.agencies), 15):<15}  {row.walkers_per_day:>7,.0f}")
    more = len(work.table) - PAGE_ROWS
    if more > 0:
        lines.append(f"     ... and {more} more segment{'s' if more > 1 else ''} in the CSV")
    if not len(work.table):
        lines.append("     no passage segment has an open physical condition in the file")
    return lines


def conditions_page(plan: Plan, work: WorkList) -> Figure:
    """Return the work list's one page (US Letter, portrait) as a matplotlib Figure.

    A title and the figures of the run; a map of the passages (blue) with the listed
    segments (orange) numbered by rank; the top :data:`PAGE_ROWS` rows; a footer with the
    sources, departments and weights.
    """
    from matplotlib.figure import Figure

    counts = work.counts
    fig = Figure(figsize=PAGE_INCHES)
    title = f"Street conditions on the Safe Passages · {work.area_name}"
    fig.text(0.06, 0.965, title, fontsize=_fit_size(title, 14.0, width_in=0.88 * PAGE_INCHES[0]), fontweight="bold",
             va="top")
    sources = ", ".join(p.name for p in work.files)
    head = (f"{counts['on_a_passage']:,} open requests on {counts['segments']:,} passage segments, worst first "
            f"(of {counts['physical']:,} open street conditions in {sources}; within {work.max_snap_m:g} m of the "
            f"street). Blue: Safe Passages; orange: segments with open requests, numbered as listed.")
    fig.text(0.06, 0.94, "\n".join(_wrap_words(head, 118)), fontsize=8, va="top")
    ax = fig.add_axes((0.06, 0.50, 0.88, 0.405))
    _draw_map(ax, plan, work.table)
    fig.text(0.06, 0.485, "\n".join(_page_lines(work)), fontsize=7, va="top", family="DejaVu Sans Mono")
    departments = "; ".join(f"{c.agency}: {c.department}" for c in dict(
        (c.agency, c) for c in CONDITIONS.values()).values())
    weights = ", ".join(f"{CONDITIONS[k].label} {w:g}" for k, w in work.severity.items())
    footer = (f"Order: sum of weights of the open requests ({weights}), then walkers per day. {departments}. "
              "Requests open as their file says (status or closed date; see the CSV for ids and dates). "
              "Homeless encampment and other requests about people or services are not street conditions "
              "and are not listed. Streets © OpenStreetMap contributors (ODbL); requests: MyLA311 (City of "
              "Los Angeles) or the file given. Shows the Safe Passages: share with the partners who act on it.")
    fig.text(0.06, 0.012, "\n".join(_wrap_words(footer, 150)), fontsize=6, color="#4d4d4d", va="bottom")
    return fig


def _fit_size(text: str, size: float, *, width_in: float) -> float:
    """Return the largest font size up to ``size`` (points) at which a bold line fits ``width_in`` inches."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    width_pt, _height, _descent = TextToPath().get_text_width_height_descent(
        text, FontProperties(size=size, weight="bold"), ismath=False)
    return size if width_pt <= width_in * 72 else max(7.0, size * width_in * 72 / width_pt)


def _wrap_words(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False) or [""]


def _pdf_bytes(page: Figure) -> bytes:
    """Return one page as a PDF with no creation date (the same page gives the same bytes)."""
    import io

    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Creator": "passages", "Producer": "passages", "CreationDate": None}) as pdf:
        pdf.savefig(page)
    return buffer.getvalue()


def write_conditions(plan: Plan, work: WorkList, out: OutputSet) -> dict[str, Path]:
    """Write the work list as CSV and a one-page PDF into an output set; return kind -> final path.

    The files are ``SLUG-conditions.csv`` (:data:`CSV_COLUMNS`; no cell starts a
    formula) and ``SLUG-conditions.pdf`` (:func:`conditions_page`; no creation date, so
    the same plan and file give the same bytes). They appear together when the set is
    committed (:func:`passages._io.output_set`).
    """
    from passages._figures import literal_text
    from passages._names import csv_bytes

    csv_name, pdf_name = conditions_files(work.area_slug)
    table = work.table.reindex(columns=list(CSV_COLUMNS))
    written = {"csv": out.write(csv_name, csv_bytes(table))}
    with literal_text():
        page = conditions_page(plan, work)
        written["pdf"] = out.write(pdf_name, _pdf_bytes(page))
    return written

"""The community's own voice: places and street stretches residents named as a concern.

Residents "act as equal partners in evaluating and creating responses to crime trends and
quality of life issues". A *concerns file* holds what they named at meetings, in surveys or
through the service's community form (after a planner accepted it): a point or a street
stretch, a category and a date. No name, address of the person or account is read or kept.

Files (:func:`read_concerns`)
-----------------------------
* CSV: ``lat``, ``lon`` (or ``latitude``/``longitude``), ``category`` and optionally
  ``date`` (``YYYY-MM-DD``), ``id`` and ``note``; every other column is ignored.
* GeoJSON: Point or LineString features (EPSG:4326) with properties ``category`` and
  optionally ``date``, ``id`` and ``note``.

In a plan (:func:`segment_concerns`)
------------------------------------
A point lies on its nearest street segment within :data:`passages.settings.concern_snap_m`
metres; a stretch on every segment that lies within that distance of it for most of its
length. Each segment counts the concerns on it. The plan's map shows the concerns as a layer
beside the risk; with ``concern_weight`` above 0 (default 0: shown only) the safer paths also
avoid them: a segment's routing weight is ``length x (1 + lambda x relative risk +
concern_weight x concerns on it)`` (:func:`passages.routes.plan_routes`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from passages import settings
from passages._errors import InputError
from passages._inputs import check_text_file, read_text_csv
from passages._names import clean_name
from passages.areas import Area
from passages.streetindex import StreetIndex

#: Categories the community form offers (a file may name others; they are kept as written).
CATEGORIES = (
    "dark at night",
    "people hang out here",
    "no safe crossing",
    "fast traffic",
    "broken sidewalk",
    "dogs",
    "other",
)

#: Columns of a concerns frame, in order.
COLUMNS = ("concern_id", "category", "date", "note", "geometry")

#: Longest category or note kept (characters); longer text is cut.
MAX_TEXT = 120

_WGS84 = "EPSG:4326"
_GEOMETRIES = ("Point", "LineString", "MultiLineString")


def _key(column: str) -> str:
    return re.sub(r"[\s_]+", "", str(column)).lower()


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return clean_name(str(value))[:MAX_TEXT]


def _date(value: Any, path: Path, row: int) -> str:
    text = _text(value)
    if not text:
        return ""
    try:
        return pd.Timestamp(text).date().isoformat()
    except (ValueError, OverflowError):
        raise InputError(f"date {text!r} does not parse", path=path, row=row, field="date",
                         fix="Write dates as YYYY-MM-DD, or leave the cell empty.") from None


def read_concerns(path: str | Path, *, area: Area | None = None) -> gpd.GeoDataFrame:
    """Read a concerns file (EPSG:4326).

    Parameters
    ----------
    path
        A CSV or GeoJSON file (see the module's notes).
    area
        When given, only concerns touching its study polygon are kept.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`COLUMNS`: ``concern_id`` (the file's id, else the row number),
        ``category`` (lower case), ``date`` (ISO, or empty), ``note`` and the geometry.

    Raises
    ------
    InputError
        A missing file, a missing ``category`` or coordinate column, a row with no
        category, a date that does not parse, coordinates not in degrees, an unsupported
        geometry. Each names the file, the row and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path, field="--concerns", fix="Give an existing concerns file.")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = _read_csv(path)
    elif suffix in (".geojson", ".json"):
        frame = _read_geojson(path)
    else:
        raise InputError(f"unknown file type {suffix or '(no suffix)'!r}", path=path, field="--concerns",
                         fix="Give the concerns as CSV (lat, lon, category, date) or GeoJSON.")
    if area is not None and len(frame):
        frame = frame[shapely.intersects(frame.geometry.array, area.study_polygon)].reset_index(drop=True)
    return frame


def _read_csv(path: Path) -> gpd.GeoDataFrame:
    table = read_text_csv(path, what="concerns file", field="--concerns",
                          fix="Give a comma-separated file with a header row (lat, lon, category, date), in UTF-8.")
    keys = {_key(c): c for c in table.columns}
    lat = next((keys[k] for k in ("lat", "latitude") if k in keys), None)
    lon = next((keys[k] for k in ("lon", "lng", "long", "longitude") if k in keys), None)
    if lat is None or lon is None:
        raise InputError("no lat and lon columns", path=path, field="lat",
                         fix="Name the coordinate columns lat and lon (degrees, EPSG:4326).")
    if "category" not in keys:
        raise InputError("no category column", path=path, field="category",
                         fix="Add a column category, such as \"dark at night\".")
    y = pd.to_numeric(table[lat], errors="coerce").to_numpy(dtype=float)
    x = pd.to_numeric(table[lon], errors="coerce").to_numpy(dtype=float)
    for i in range(len(table)):
        row = i + 2  # the header is line 1
        if not (np.isfinite(x[i]) and np.isfinite(y[i])):
            raise InputError("no coordinates", path=path, row=row, field="lat",
                             fix="Give lat and lon in degrees on every row, or drop the row.")
        if abs(x[i]) > 180 or abs(y[i]) > 90:
            raise InputError(f"coordinates {y[i]:.7g}, {x[i]:.7g} are not degrees", path=path, row=row, field="lat",
                             fix="Give latitude and longitude in degrees (EPSG:4326), not projected feet or metres.")
    categories = [_text(v).lower() for v in table[keys["category"]]]
    for i, category in enumerate(categories):
        if not category:
            raise InputError("no category", path=path, row=i + 2, field="category",
                             fix="Name the concern, such as \"dark at night\", or drop the row.")
    ids = [_text(v) for v in table[keys["id"]]] if "id" in keys else [str(i + 1) for i in range(len(table))]
    dates = [_date(v, path, i + 2) for i, v in enumerate(table[keys["date"]])] if "date" in keys else [""] * len(table)
    notes = [_text(v) for v in table[keys["note"]]] if "note" in keys else [""] * len(table)
    return gpd.GeoDataFrame({"concern_id": ids, "category": categories, "date": dates, "note": notes},
                            geometry=gpd.points_from_xy(x, y), crs=_WGS84)


def _read_geojson(path: Path) -> gpd.GeoDataFrame:
    check_text_file(path, what="concerns file", fix="Give a GeoJSON FeatureCollection in UTF-8.")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not readable JSON ({type(exc).__name__})", path=path, field="--concerns",
                         fix="Give a GeoJSON FeatureCollection in UTF-8.") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise InputError("not a GeoJSON FeatureCollection", path=path, field="features",
                         fix="Give a FeatureCollection of Point or LineString features.")
    rows: list[tuple[str, str, str, str]] = []
    geometries = []
    for i, feature in enumerate(features):
        row = i + 1
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        props = (feature.get("properties") or {}) if isinstance(feature, dict) else {}
        if not isinstance(geometry, dict) or geometry.get("type") not in _GEOMETRIES:
            raise InputError("a feature that is not a point or a line", path=path, row=row, field="geometry",
                             fix="Give each concern as a Point or a LineString.")
        try:
            geom = shape(geometry)
        except (ValueError, TypeError, AttributeError, IndexError):
            raise InputError("a geometry that does not parse", path=path, row=row, field="geometry",
                             fix="Give coordinates as [longitude, latitude] pairs.") from None
        lon, lat = shapely.get_coordinates(geom).T
        if len(lon) == 0 or not (np.isfinite(lon).all() and np.isfinite(lat).all()):
            raise InputError("a geometry without coordinates", path=path, row=row, field="geometry",
                             fix="Give coordinates as [longitude, latitude] pairs.")
        if (np.abs(lon) > 180).any() or (np.abs(lat) > 90).any():
            raise InputError("coordinates are not degrees", path=path, row=row, field="geometry",
                             fix="Give longitude and latitude in degrees (EPSG:4326).")
        category = _text(props.get("category")).lower() if isinstance(props, dict) else ""
        if not category:
            raise InputError("no category", path=path, row=row, field="category",
                             fix="Give each feature a property category, such as \"dark at night\".")
        rows.append((_text(props.get("id")) or str(row), category, _date(props.get("date"), path, row),
                     _text(props.get("note"))))
        geometries.append(geom)
    ids, categories, dates, notes = (list(col) for col in zip(*rows, strict=True)) if rows else ([], [], [], [])
    return gpd.GeoDataFrame({"concern_id": ids, "category": categories, "date": dates, "note": notes},
                            geometry=geometries, crs=_WGS84)


def load_concerns(area: Area, paths: list[Path] | tuple[Path, ...]) -> gpd.GeoDataFrame:
    """Read the concerns of an area from its files, in the area's UTM CRS (ids made unique per file)."""
    frames = []
    for path in paths:
        frame = read_concerns(path, area=area)
        if len(frame):
            frame["concern_id"] = [f"{Path(path).stem}:{i}" for i in frame["concern_id"]]
            frames.append(frame)
    if not frames:
        return gpd.GeoDataFrame({c: [] for c in COLUMNS[:-1]}, geometry=[], crs=area.crs)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=_WGS84).to_crs(area.crs)


@dataclass(frozen=True)
class SegmentConcerns:
    """The concerns of a plan, on its street segments.

    Attributes
    ----------
    concerns
        The concerns read (index CRS), with ``segments``: the segment indices each lies on
        (empty when farther than the snap distance from every street).
    count
        Concerns on each segment.
    """

    concerns: gpd.GeoDataFrame
    count: np.ndarray

    def summary(self, passage: np.ndarray, weight: float) -> dict[str, Any]:
        """Return the figures of the concerns, with those on a passage (``passage``: a mask of segments)."""
        segments = self.concerns["segments"] if len(self.concerns) else []
        on_street = np.array([len(s) > 0 for s in segments], dtype=bool)
        on_passage = np.array([bool(passage[s].any()) if len(s) else False for s in segments], dtype=bool)
        return {
            "read": len(self.concerns),
            "on_streets": int(on_street.sum()),
            "on_passages": int(on_passage.sum()),
            "by_category": ({str(k): int(v) for k, v in self.concerns["category"].value_counts().sort_index().items()}
                            if len(self.concerns) else {}),
            "concern_weight": weight,
        }


def segment_concerns(concerns: gpd.GeoDataFrame, index: StreetIndex, *, snap_m: float | None = None
                     ) -> SegmentConcerns:
    """Put each concern on the street segments it names.

    Parameters
    ----------
    concerns
        From :func:`load_concerns` (index CRS).
    index
        Street index.
    snap_m
        A point lies on its nearest segment within this distance; a stretch on the segments
        lying within it for at least half their length (metres); default
        :data:`passages.settings.concern_snap_m`.
    """
    snap_m = settings.concern_snap_m if snap_m is None else float(snap_m)
    count = np.zeros(index.n_segments)
    frame = concerns.copy()
    on: list[np.ndarray] = []
    geoms = np.asarray(frame.geometry.array, dtype=object)
    points = np.array([g.geom_type == "Point" for g in geoms], dtype=bool) if len(geoms) else np.zeros(0, bool)
    nearest = np.full(len(geoms), -1, dtype=np.int64)
    if points.any():
        seg, _, _ = index.snap_points(shapely.get_coordinates(geoms[points]), max_distance_m=snap_m)
        nearest[points] = seg
    for i, geom in enumerate(geoms):
        if points[i]:
            found = np.array([nearest[i]], dtype=np.int64) if nearest[i] >= 0 else np.empty(0, dtype=np.int64)
        else:
            reach = shapely.buffer(geom, snap_m)
            near = index.segment_tree.query(reach, predicate="intersects")
            inside = shapely.length(shapely.intersection(index.segment_geometry[near], reach))
            total = shapely.length(index.segment_geometry[near])
            found = np.sort(near[inside >= 0.5 * total]).astype(np.int64)
        on.append(found)
        count[found] += 1
    frame["segments"] = on
    return SegmentConcerns(frame, count)

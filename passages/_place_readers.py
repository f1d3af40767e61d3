"""Reading place files: columns, coordinates, ids, OpenStreetMap data and merging.

Plumbing of :mod:`passages.places`: finding the column that plays each role, turning a
table into points in EPSG:4326, assembling the documented columns with unique ids,
reading GTFS feeds, parsing Overpass JSON into geometries, and grouping the stops and
the duplicate places that are one real place.
"""

from __future__ import annotations

import json
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from passages import settings
from passages._errors import InputError
from passages._inputs import check_file, check_text_file, is_binary
from passages._names import clean_name
from passages.areas import Area, utm_crs_for
from passages.mapping import FileMapping, missing_column

_WGS84 = settings.input_crs

# Column candidates by role, first match wins (exact, then case-insensitive).
_SCHOOL_COLUMNS = {
    "id": ("source_id", "cds_code", "cdscode", "OBJECTID", "id"),
    "name": ("name", "school_name", "schoolname", "school"),
    "enrollment": ("enrollment", "enrolment", "enroll_total", "enrolltotal"),
    "level": ("cat2", "level", "school_level"),
}
_PARK_COLUMNS = {
    "id": ("Park_ID", "UNIT_ID", "park_id", "OBJECTID", "id", "fid"),
    "name": ("Name", "PARK_NAME", "name", "park_name"),
}
_LIBRARY_COLUMNS = {
    "id": ("id", "OBJECTID", "library_id"),
    "name": ("name", "library_name", "branch"),
}
_LAT = ("latitude", "lat", "stop_lat", "y")
_LON = ("longitude", "lon", "lng", "long", "stop_lon", "x")

#: A layer none of whose places lies within this distance of the area's centre (km) is
#: refused when read for the area: it covers another region, or its coordinates are in
#: another CRS than it declares (US feet read as Web Mercator metres land in the Indian
#: Ocean).
FAR_FROM_AREA_KM = 500.0


# --------------------------------------------------------------------------- tables and columns

#: Vector file types the place readers open, by suffix, and the first bytes each must
#: start with. GDAL picks its driver by content, not by suffix: without this check a
#: ``.geojson`` holding a GDAL VRT could make GDAL read any local file or a URL.
_VECTOR_MAGIC: dict[str, tuple[bytes, ...]] = {
    ".geojson": (b"{",), ".json": (b"{",),
    ".shp": (b"\x00\x00\x27\x0a",),
    ".gpkg": (b"SQLite format 3\x00",),
    ".zip": (b"PK\x03\x04",),
}
_FORMATS = "a CSV, GeoJSON, GeoPackage, shapefile (.shp or zipped)"

#: Largest ``stops.txt`` read from a zipped GTFS feed (bytes, uncompressed): LA Metro's
#: bus feed holds about 1 MB; this refuses zip bombs.
MAX_ZIPPED_STOPS_BYTES = 200_000_000

#: Exceptions of pandas, pyogrio, pyproj, shapely, zipfile and the codecs that a bad file
#: can raise while it is read; each becomes one InputError naming the file.
_READ_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, OSError,
    RuntimeError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error,
    shapely.errors.ShapelyError,
)


@contextmanager
def _reading(path: Path | None, what: str) -> Iterator[None]:
    """Turn the libraries' exceptions raised inside into one InputError naming ``path``."""
    try:
        yield
    except InputError:
        raise
    except _READ_ERRORS as exc:
        raise InputError(
            f"cannot be read as a {what} file ({type(exc).__name__}: {exc})", path=path,
            fix=f"Give the {what} as {_FORMATS}, in EPSG:4326 or with its CRS declared.",
        ) from None


def _check_file(path: str | Path, what: str) -> Path:
    """Refuse a missing, empty, special or unreadable file (see ``passages._inputs``)."""
    return check_file(path, what="file", fix=f"Give the path of a {what} file with data in it.")


def _check_magic(path: Path, what: str) -> None:
    """Refuse a vector file of an unknown type, or whose first bytes do not match its type."""
    suffix = path.suffix.lower()
    if suffix not in _VECTOR_MAGIC:
        raise InputError(
            f"unknown file type {suffix or '(no suffix)'!r}", path=path,
            fix=f"Give the {what} as {_FORMATS}.",
        )
    with path.open("rb") as handle:
        head = handle.read(64)
    if suffix in (".geojson", ".json"):
        head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(_VECTOR_MAGIC[suffix]):
        kind = is_binary(head)
        found = f"it is {kind}" if kind else "its content does not match"
        raise InputError(
            f"is not a {suffix} file ({found})", path=path,
            fix=f"Give the {what} as {_FORMATS}; check the file's suffix.",
        )


def _zipped_shapefile(path: Path, what: str) -> str:
    """Return the GDAL path of the first shapefile inside a zip, its magic checked."""
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.namelist() if m.lower().endswith(".shp")]
        if not members:
            raise InputError(
                "holds no shapefile (.shp)" + (" and no GTFS stops.txt" if what == "transit stops" else ""),
                path=path, fix=f"Give the {what} as {_FORMATS}.",
            )
        with archive.open(members[0]) as handle:
            head = handle.read(4)
    if head != _VECTOR_MAGIC[".shp"][0]:
        raise InputError(f"{members[0]!r} inside is not a shapefile", path=path,
                         fix=f"Give the {what} as {_FORMATS}.")
    return f"/vsizip/{path.resolve()}/{members[0]}"


def _read_table(path: Path, what: str) -> pd.DataFrame:
    """Read a CSV (text columns) or a GeoJSON, GeoPackage or shapefile (GeoDataFrame)."""
    fix = f"Give the {what} as {_FORMATS}."
    with _reading(path, what):
        if path.suffix.lower() in (".csv", ".txt"):
            check_text_file(path, what=f"{what} CSV", fix=fix)
            try:
                table: pd.DataFrame = pd.read_csv(
                    path, dtype=str, skipinitialspace=True, encoding="utf-8-sig"
                )
            except pd.errors.EmptyDataError:
                raise InputError("has no rows", path=path, fix=f"Give a {what} file with data in it.") from None
        else:
            _check_magic(path, what)
            source = _zipped_shapefile(path, what) if path.suffix.lower() == ".zip" else path
            table = gpd.read_file(source)
    if len(table) == 0:
        raise InputError("has no rows", path=path, fix=f"Give a {what} file with data in it.")
    return table


def _find_column(table: pd.DataFrame, candidates: Sequence[str]) -> str | None:
    for name in candidates:
        if name in table.columns:
            return name
    lower = {str(c).lower(): str(c) for c in table.columns}
    for name in candidates:
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def _column(
    table: pd.DataFrame,
    role: str,
    candidates: Sequence[str],
    columns: Mapping[str, str] | None,
    path: Path,
    *,
    required: bool = True,
    spec: FileMapping | None = None,
    kind: str = "schools",
) -> str | None:
    """Return the column of ``table`` playing ``role``; raise when a required one is absent.

    ``spec`` (what a mapping file says about the file) names the mapping's key in the
    message of a column it names that the file lacks; ``kind`` is the mapping section
    of the file's kind, for the message of a missing column.
    """
    if columns and role in columns:
        chosen = columns[role]
        if chosen not in table.columns:
            names = [clean_name(c) for c in table.columns if str(c) != "geometry"]
            if spec is not None and spec.source is not None and spec.columns.get(role) == chosen:
                raise missing_column(spec, role, chosen, path, names)
            raise InputError(
                f"column {chosen!r} given for {role!r} is not in the file", path=path,
                field=chosen, fix="Columns in the file: " + ", ".join(names) + ".",
            )
        return chosen
    found = _find_column(table, candidates)
    if found is None and required:
        section = spec.kind if spec is not None else kind
        raise InputError(
            "required column missing", path=path, field=candidates[0],
            fix=f"Rename the {role} column to {candidates[0]!r}, or name it in a mapping file given with "
                f"--mapping ([{section}] {role} = \"your column\"), or, from Python, pass "
                f"columns={{{role!r}: 'your column'}}.",
        )
    return found


def _mapped_columns(columns: Mapping[str, str] | None, spec: FileMapping | None) -> dict[str, str] | None:
    """The columns named for a file: a mapping's first, ``columns`` given from Python over them."""
    if spec is None:
        return dict(columns) if columns else None
    return {**spec.columns, **(columns or {})}


def _text(table: pd.DataFrame, column: str | None, default: str) -> pd.Series:
    """Return a column as stripped text, ``default`` where it is missing or blank."""
    if column is None:
        return pd.Series(default, index=table.index, dtype=object)
    values = table[column].astype("string").str.strip()
    # Integer-valued floats (ids read from a GeoJSON as numbers) lose their ".0".
    values = values.str.replace(r"^(-?\d+)\.0$", r"\1", regex=True)
    return values.mask(values.isna() | (values == ""), default).astype(object)


def _ids_or_row_numbers(ids: pd.Series) -> pd.Series:
    """Return the ids with each blank one replaced by its 1-based row number."""
    return ids.mask(ids == "", pd.Series(np.arange(1, len(ids) + 1), index=ids.index).astype(str))


def _points(
    table: pd.DataFrame, path: Path, columns: Mapping[str, str] | None, what: str,
    lat_names: Sequence[str] = _LAT, lon_names: Sequence[str] = _LON, *,
    area: Area | None = None, spec: FileMapping | None = None,
) -> gpd.GeoDataFrame:
    """Return ``table`` as a GeoDataFrame in EPSG:4326, dropping (and counting) unplaced rows.

    A frame that has geometries keeps them (reprojected); a plain table needs latitude
    and longitude columns in degrees. A layer whose coordinates are mostly not
    longitude/latitude (projected metres or feet read as degrees, latitude and longitude
    swapped, a declared CRS that does not fit the numbers) is refused, naming the
    columns; so is, when ``area`` is given, a layer none of whose places lies near it
    (see :func:`_check_near`). A mapping's ``crs`` (``spec``) makes the coordinate
    columns projected x, y in that CRS, converted to degrees; a frame whose own geometry is
    used keeps its declared CRS.
    """
    mapped_xy = bool(columns) and "lat" in (columns or {}) and "lon" in (columns or {})
    if isinstance(table, gpd.GeoDataFrame) and table.geometry.notna().any() and not mapped_xy:
        fields = "geometry"
        frame, bad = _geo_points(table, path)
        swap_fix = "Write each coordinate as [longitude, latitude] (x first), or reproject the layer."
    else:
        section = {"school": "schools", "stop": "transit", "park": "parks", "library": "libraries"}.get(what, what)
        lat_col = _column(table, "lat", lat_names, columns, path, spec=spec, kind=section)
        lon_col = _column(table, "lon", lon_names, columns, path, spec=spec, kind=section)
        assert lat_col is not None and lon_col is not None
        fields = f"{lat_col}, {lon_col}"
        swap_fix = (f"Swap the values of {lat_col!r} and {lon_col!r} (latitude lies within ±90°), "
                    "or, from Python, pass columns={'lat': ..., 'lon': ...}.")
        lat = pd.to_numeric(table[lat_col], errors="coerce")
        lon = pd.to_numeric(table[lon_col], errors="coerce")
        if spec is not None and spec.crs:
            to_degrees = pyproj.Transformer.from_crs(spec.crs, _WGS84, always_xy=True)
            x, y = to_degrees.transform(lon.to_numpy(dtype=float), lat.to_numpy(dtype=float))
            lon = pd.Series(np.where(np.isfinite(x), x, np.nan), index=table.index)
            lat = pd.Series(np.where(np.isfinite(y), y, np.nan), index=table.index)
        if spec is not None and spec.source is not None and "lat" in spec.columns:
            _check_mapped_degrees(lon.to_numpy(dtype=float), lat.to_numpy(dtype=float), path, spec,
                                  [str(c) for c in table.columns], (lat_col, lon_col))
        _check_degrees(lon.to_numpy(dtype=float), lat.to_numpy(dtype=float), path, fields, swap_fix)
        # 0,0 is how several feeds (LAPD among them) write "no location".
        bad = (lat.isna() | lon.isna() | (lat.abs() > 90) | (lon.abs() > 180)
               | ((lat == 0) & (lon == 0))).to_numpy(dtype=bool)
        frame = gpd.GeoDataFrame(
            pd.DataFrame(table).drop(columns="geometry", errors="ignore"),
            geometry=gpd.points_from_xy(np.where(bad, 0.0, lon), np.where(bad, 0.0, lat)),
            crs=_WGS84,
        )
    if bad.any():
        warnings.warn(
            f"{path}: {int(bad.sum())} of {len(frame)} {what} rows have no usable "
            "location and are skipped", stacklevel=3,
        )
        frame = frame.loc[~bad]
    _check_near(frame, path, fields, area, swap_fix)
    return frame


def _geo_points(table: gpd.GeoDataFrame, path: Path) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Return a layer in EPSG:4326 and which of its rows have no usable geometry."""
    if table.crs is None:
        raise InputError(
            "has no coordinate reference system", path=path, field="geometry",
            fix="Add the .prj file of the shapefile, or save the layer with its CRS.",
        )
    crs = pyproj.CRS.from_user_input(table.crs)
    x, y = _extreme_xy(table.geometry)
    if crs.is_geographic:
        _check_degrees(x, y, path, "geometry",
                       "Write each coordinate as [longitude, latitude] (x first), or reproject the layer.")
    else:
        located = np.isfinite(x) & np.isfinite(y)
        if located.any() and (np.abs(x[located]) <= 180).all() and (np.abs(y[located]) <= 90).all():
            raise InputError(
                f"coordinates look like degrees, but the file declares {crs.name} "
                f"({_unit_of(crs)})", path=path, field="geometry",
                fix="Declare EPSG:4326 (fix or remove the .prj), or reproject the layer.",
            )
    try:
        frame = table.to_crs(_WGS84)
    except (pyproj.exceptions.ProjError, ValueError) as exc:
        raise InputError(
            f"its CRS {crs.name!r} cannot be converted to longitude/latitude ({exc})",
            path=path, field="geometry", fix="Reproject the layer to EPSG:4326 (WGS84 degrees).",
        ) from None
    geometry = frame.geometry
    missing = (geometry.isna() | geometry.is_empty).to_numpy()
    cx, cy = _extreme_xy(geometry)
    unplaced = ~missing & ~(np.isfinite(cx) & np.isfinite(cy) & (np.abs(cx) <= 180) & (np.abs(cy) <= 90))
    if unplaced.any() and 2 * unplaced.sum() >= (~missing).sum():
        raise InputError(
            f"{int(unplaced.sum())} of {int((~missing).sum())} places cannot be placed on Earth in "
            f"the declared CRS {crs.name!r}", path=path, field="geometry",
            fix="Declare the CRS the coordinates are really in (the .prj), or reproject the layer "
                "to EPSG:4326.",
        )
    return frame, missing | unplaced


def _unit_of(crs: pyproj.CRS) -> str:
    """Return the unit of a CRS's first axis ("metre", "US survey foot"), or "projected"."""
    axes = crs.axis_info
    return axes[0].unit_name if axes else "projected"


def _extreme_xy(geometry: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return, per geometry, the x and the y farthest from 0 (NaN when missing or empty)."""
    bounds = shapely.bounds(np.asarray(geometry, dtype=object))
    with np.errstate(invalid="ignore"):
        x = np.where(np.abs(bounds[:, 0]) > np.abs(bounds[:, 2]), bounds[:, 0], bounds[:, 2])
        y = np.where(np.abs(bounds[:, 1]) > np.abs(bounds[:, 3]), bounds[:, 1], bounds[:, 3])
    return x, y


def _check_degrees(lon: np.ndarray, lat: np.ndarray, path: Path, fields: str, swap_fix: str) -> None:
    """Refuse coordinates that are mostly not longitude/latitude degrees.

    A few rows beyond ±180°/±90° are typing slips, skipped and counted by the caller;
    when they are half of the located rows or more, the layer is in another CRS (projected
    metres or feet) or has latitude and longitude swapped.
    """
    located = np.isfinite(lon) & np.isfinite(lat) & ~((lon == 0) & (lat == 0))
    lon, lat = lon[located], lat[located]
    outside = (np.abs(lon) > 180) | (np.abs(lat) > 90)
    count = int(outside.sum())
    if count == 0 or 2 * count < len(lon):
        return
    first = f"{lon[outside][0]:.7g}, {lat[outside][0]:.7g}"
    if ((np.abs(lat) <= 180) & (np.abs(lon) <= 90)).all():
        raise InputError(
            f"latitude and longitude look swapped: {count} of {len(lon)} places have a latitude "
            f"beyond ±90° (first longitude, latitude: {first})", path=path, field=fields, fix=swap_fix,
        )
    raise InputError(
        f"coordinates are not longitude/latitude degrees: {count} of {len(lon)} places lie beyond "
        f"±180°/±90° (first x, y: {first}); projected metres or feet?", path=path, field=fields,
        fix="Reproject the layer to EPSG:4326 (WGS84 longitude/latitude), or give it with its CRS "
            "(a GeoPackage, or a shapefile with its .prj).",
    )


def _check_mapped_degrees(lon: np.ndarray, lat: np.ndarray, path: Path, spec: FileMapping,
                          header: Sequence[str], chosen: tuple[str, str]) -> None:
    """Refuse mapped coordinate columns that mostly hold projected numbers, naming the mapping's keys."""
    located = np.isfinite(lon) & np.isfinite(lat) & ~((lon == 0) & (lat == 0))
    projected = located & (np.maximum(np.abs(lon), np.abs(lat)) > 180)
    count = int(projected.sum())
    if count == 0 or 2 * count < int(located.sum()):
        return
    first = int(np.flatnonzero(projected)[0])
    keys = f"{spec.key_of('lat')}, {spec.key_of('lon')}"
    hints = [h for h in header if re.search(r"lat|lon|lng", h, re.IGNORECASE) and h not in chosen]
    suggestion = (f"map lat and lon to the file's latitude and longitude columns ({', '.join(hints[:4])})"
                  if hints else "map lat and lon to the file's latitude and longitude columns")
    raise InputError(
        f"{count} of {int(located.sum())} places of {path.name} have {chosen[0]} {lat[first]:.6g}, {chosen[1]} "
        f"{lon[first]:.6g} and such: they look projected (feet or metres, such as State Plane or UTM), "
        "not degrees", path=path, field=keys,
        fix=f"In {spec.where}, {suggestion}; or, if the file has no degrees, add crs = \"EPSG:...\" (the "
            "projection of these columns, such as EPSG:3435 for Illinois East feet) to read them.")


def _check_near(frame: gpd.GeoDataFrame, path: Path, fields: str, area: Area | None,
                swap_fix: str) -> None:
    """Refuse a layer none of whose places lies near ``area``, naming a swap when it is one.

    Nothing is checked without an area or places. A layer is fine when one place's
    bounds touch the study polygon's bounding box (plus 0.01°); else it is refused when
    swapping x and y would bring places in, or when its nearest place is more than
    :data:`FAR_FROM_AREA_KM` km from the area's centre (another region, or another CRS
    than it declares). Layers merely without a place in the area pass (counted later).
    """
    if area is None or len(frame) == 0:
        return
    bounds = shapely.bounds(np.asarray(frame.geometry, dtype=object))
    west, south, east, north = area.study_polygon.bounds
    margin = 0.01
    west, south, east, north = west - margin, south - margin, east + margin, north + margin
    with np.errstate(invalid="ignore"):
        near = ((bounds[:, 2] >= west) & (bounds[:, 0] <= east)
                & (bounds[:, 3] >= south) & (bounds[:, 1] <= north))
        if near.any():
            return
        swapped = ((bounds[:, 3] >= west) & (bounds[:, 1] <= east)
                   & (bounds[:, 2] >= south) & (bounds[:, 0] <= north))
    if swapped.any():
        raise InputError(
            f"latitude and longitude look swapped: none of the {len(frame)} places lies in area "
            f"{area.slug!r}, but {int(swapped.sum())} would with the two swapped",
            path=path, field=fields, fix=swap_fix,
        )
    lon = np.radians((bounds[:, 0] + bounds[:, 2]) / 2)
    lat = np.radians((bounds[:, 1] + bounds[:, 3]) / 2)
    lon0, lat0 = np.radians(area.lon), np.radians(area.lat)
    # haversine great-circle distance on a sphere of 6371 km
    a = (np.sin((lat - lat0) / 2) ** 2
         + np.cos(lat) * np.cos(lat0) * np.sin((lon - lon0) / 2) ** 2)
    nearest_km = float(np.nanmin(2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))))
    if nearest_km > FAR_FROM_AREA_KM:
        raise InputError(
            f"none of the {len(frame)} places lies within {FAR_FROM_AREA_KM:,.0f} km of area "
            f"{area.slug!r} (the nearest is {nearest_km:,.0f} km away)", path=path, field=fields,
            fix="Give a file that covers the area; if it does, its coordinates are in another CRS "
                "than it declares: reproject it to EPSG:4326.",
        )


def _places_frame(
    frame: pd.DataFrame,
    *,
    kind: str | pd.Series,
    ids: pd.Series,
    names: pd.Series,
    source: str,
    enrollment: pd.Series | None = None,
    geometry: Any = None,
    crs: Any = _WGS84,
) -> gpd.GeoDataFrame:
    """Assemble the documented columns, with unique place ids.

    Names, ids and the source pass :func:`passages._names.clean_name` (no control or
    bidi-override characters, at most 200 characters); a blank name becomes
    ``"unnamed <kind>"``.
    """
    kinds = kind if isinstance(kind, pd.Series) else pd.Series(kind, index=frame.index)
    unnamed = ("unnamed " + kinds.astype(str)).to_numpy()
    names = pd.Series([clean_name(n, default=d) for n, d in zip(names.to_numpy(), unnamed, strict=True)],
                      index=frame.index, dtype=object)
    ids = pd.Series([clean_name(i) for i in ids.to_numpy()], index=frame.index, dtype=object)
    out = gpd.GeoDataFrame(
        {
            "place_id": _unique(kinds.astype(str) + ":" + ids).to_numpy(),
            "kind": kinds.astype(str).to_numpy(),
            "name": names.to_numpy(),
            "source": clean_name(source),
            "enrollment": (np.full(len(frame), np.nan) if enrollment is None
                           else enrollment.to_numpy(dtype=float)),
        },
        geometry=np.asarray(frame.geometry if geometry is None else geometry, dtype=object),
        crs=crs,
    )
    return out


def _empty_places(crs: Any = _WGS84) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {"place_id": pd.Series(dtype=object), "kind": pd.Series(dtype=object),
         "name": pd.Series(dtype=object), "source": pd.Series(dtype=object),
         "enrollment": pd.Series(dtype=float)},
        geometry=gpd.GeoSeries([], crs=crs), crs=crs,
    )
    return frame


def _unique(ids: pd.Series) -> pd.Series:
    """Append ``~2``, ``~3``... to repeated ids, keeping the first one as is."""
    ids = ids.reset_index(drop=True)
    rank = ids.groupby(ids).cumcount()
    if not (rank > 0).any():
        return ids
    return ids.where(rank == 0, ids + "~" + (rank + 1).astype(str))


def _components(count: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Return the connected-component label of each of ``count`` items linked by pairs."""
    links = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(count, count))
    _, labels = connected_components(links, directed=False)
    return np.asarray(labels)


def _local_metres(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Return (x, y) in metres in the UTM zone of the points' median (EPSG:326NN/327NN)."""
    zone = utm_crs_for(float(np.median(lat)), float(np.median(lon)))
    to_utm = pyproj.Transformer.from_crs(_WGS84, zone, always_xy=True)
    x, y = to_utm.transform(lon, lat)
    return np.column_stack([x, y])


def _name_key(names: pd.Series) -> pd.Series:
    """Names compared case-blind and punctuation-blind ("Jordan High" = "JORDAN HIGH.")."""
    return (names.astype(str).str.casefold().str.replace(r"[^\w]+", " ", regex=True)
            .str.strip())


def _read_stops_table(path: Path) -> pd.DataFrame:
    """Read stops.txt, a zipped GTFS feed, or a zipped stop shapefile.

    A zip that is corrupt, holds neither a ``stops.txt`` nor a shapefile, or whose
    ``stops.txt`` is empty, header-only, not UTF-8 or larger than
    :data:`MAX_ZIPPED_STOPS_BYTES` raises one InputError naming the zip.
    """
    if path.suffix.lower() != ".zip":
        return _read_table(path, "transit stops")
    fix = "Give a GTFS stops.txt, a GTFS zip with stops.txt, or a zipped shapefile of stops."
    with _reading(path, "transit stops"):
        _check_magic(path, "transit stops")
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise InputError("is not a readable zip file", path=path, fix=fix) from None
        with archive:
            inside = [i for i in archive.infolist() if i.filename.rsplit("/", 1)[-1] == "stops.txt"]
            if inside:
                info = inside[0]
                if info.file_size == 0:
                    raise InputError("stops.txt in the zip is empty", path=path, field="stops.txt", fix=fix)
                if info.file_size > MAX_ZIPPED_STOPS_BYTES:
                    raise InputError(
                        f"stops.txt in the zip would unpack to {info.file_size:,} bytes, more than "
                        f"{MAX_ZIPPED_STOPS_BYTES:,}", path=path, field="stops.txt", fix=fix)
                with archive.open(info) as handle:
                    head = handle.read(65536)
                kind = is_binary(head)
                if kind is not None:
                    raise InputError(f"stops.txt in the zip is {kind}, not text", path=path,
                                     field="stops.txt", fix=fix)
                with archive.open(info) as handle:
                    try:
                        table = pd.read_csv(handle, dtype=str, skipinitialspace=True,
                                            encoding="utf-8-sig")
                    except pd.errors.EmptyDataError:
                        table = pd.DataFrame()
                if len(table) == 0:
                    raise InputError("stops.txt has no rows", path=path, field="stops.txt",
                                     fix="Give a GTFS feed with stops in it.")
                return table
    return _read_table(path, "transit stops")


def _stations_or_stops(table: pd.DataFrame) -> pd.DataFrame:
    """Return the stations (GTFS ``location_type`` 1) of a stops table, or its stops (0)."""
    type_col = _find_column(table, ("location_type",))
    if type_col is None:
        return table
    location = pd.to_numeric(table[type_col], errors="coerce").fillna(0)
    wanted = 1 if (location == 1).any() else 0
    return table.loc[(location == wanted).to_numpy()]


# --------------------------------------------------------------------------- grouping


def _merge_near_stops(stops: gpd.GeoDataFrame, within_m: float) -> gpd.GeoDataFrame:
    """Merge same-name stops linked by gaps of at most ``within_m`` metres (see ``merge_stops``)."""
    lon = stops.geometry.x.to_numpy()
    lat = stops.geometry.y.to_numpy()
    pairs = cKDTree(_local_metres(lon, lat)).query_pairs(within_m, output_type="ndarray")
    codes = pd.factorize(_name_key(stops["name"]))[0]
    same = pairs[codes[pairs[:, 0]] == codes[pairs[:, 1]]] if len(pairs) else pairs
    if len(same) == 0:
        return stops
    labels = _components(len(stops), same[:, 0], same[:, 1])
    table = pd.DataFrame({"label": labels, "lon": lon, "lat": lat})
    centre = table.groupby("label")[["lon", "lat"]].mean()
    first = ~pd.Series(labels).duplicated().to_numpy()
    merged = stops.loc[first].copy()
    kept = centre.loc[labels[first]]
    merged = merged.set_geometry(
        gpd.points_from_xy(kept["lon"].to_numpy(), kept["lat"].to_numpy()), crs=stops.crs)
    return merged.reset_index(drop=True)


def _drop_near_duplicates(places: gpd.GeoDataFrame, within_m: float) -> gpd.GeoDataFrame:
    """Keep one row of each kind-and-name group of close places (see ``drop_duplicate_places``)."""
    places = places.reset_index(drop=True)
    left, right = places.sindex.query(places.geometry, predicate="dwithin", distance=within_m)
    pair = left < right
    left, right = left[pair], right[pair]
    key = (places["kind"].astype(str) + "|" + _name_key(places["name"])).to_numpy()
    same = key[left] == key[right]
    left, right = left[same], right[same]
    geoms = np.asarray(places.geometry, dtype=object)
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    either_polygon = polygonal[left] | polygonal[right]
    gap = shapely.distance(geoms[left], geoms[right])
    # Two polygons are one park only where they overlap; a point may sit near its polygon.
    close = np.where(polygonal[left] & polygonal[right], gap <= 0,
                     np.where(either_polygon, gap <= within_m, True))
    left, right = left[close], right[close]
    if len(left) == 0:
        return places
    labels = _components(len(places), left, right)
    order = pd.DataFrame({"label": labels, "point": ~polygonal, "row": np.arange(len(places))})
    keep = order.sort_values(["label", "point", "row"]).drop_duplicates("label")["row"]
    return places.loc[np.sort(keep.to_numpy())].reset_index(drop=True)


# --------------------------------------------------------------------------- OpenStreetMap


def _osm_kind(table: pd.DataFrame, park_leisure: Sequence[str]) -> pd.Series:
    """Return the place kind of each OSM feature from its tags (``None``: not a place)."""
    amenity = table["amenity"] if "amenity" in table.columns else pd.Series(None, index=table.index)
    leisure = table["leisure"] if "leisure" in table.columns else pd.Series(None, index=table.index)
    kind = np.select(
        [amenity.eq("school"), amenity.eq("library"),
         leisure.isin(park_leisure) | amenity.eq("community_centre")],
        ["school", "library", "park"], default="",
    )
    return pd.Series(kind, index=table.index).replace("", None)


def _osm_features_to_places(features: gpd.GeoDataFrame, park_leisure: Sequence[str]
                            ) -> gpd.GeoDataFrame:
    """Turn osmnx-style features (``element``, ``id``, tag columns, geometry) into places.

    ``park_leisure`` holds the ``leisure`` values of a park (``OSM_TAGS["park"]["leisure"]``).
    """
    if len(features) == 0:
        return _empty_places()
    kinds = _osm_kind(features, park_leisure)
    keep = kinds.notna() & features.geometry.notna() & ~features.geometry.is_empty
    # Lines (an unclosed school way) are not destinations one can stand at.
    keep &= features.geometry.geom_type.isin(["Point", "Polygon", "MultiPolygon"])
    features, kinds = features.loc[keep], kinds.loc[keep]
    if len(features) == 0:
        return _empty_places()
    ids = "osm:" + features["element"].astype(str) + "/" + features["id"].astype(str)
    names = features["name"] if "name" in features.columns else pd.Series("", index=features.index)
    return _places_frame(features, kind=kinds, ids=ids,
                         names=names.fillna("").astype(str).str.strip(),
                         source="OpenStreetMap", crs=features.crs)


def _overpass_elements(path_or_json: str | Path | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the ``elements`` of an Overpass JSON response (a file or the parsed dict)."""
    if isinstance(path_or_json, Mapping):
        data: Any = path_or_json
        origin: Path | None = None
    else:
        origin = _check_file(path_or_json, "Overpass JSON")
        check_text_file(origin, what="Overpass JSON file", fix="Give an Overpass API response saved as JSON.")
        try:
            data = json.loads(origin.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise InputError(f"not valid JSON ({exc})", path=origin,
                             fix="Give an Overpass API response saved as JSON.") from None
    elements = data.get("elements") if isinstance(data, Mapping) else None
    if not isinstance(elements, list):
        raise InputError("has no 'elements' list", path=origin, field="elements",
                         fix="Give an Overpass API JSON response ([out:json]).")
    return [element for element in elements if isinstance(element, dict)]


def _ring(coords: list[tuple[float, float]]) -> BaseGeometry | None:
    """Return the polygon of a closed way's (lon, lat) coordinates, or ``None`` if open."""
    if len(coords) >= 4 and coords[0] == coords[-1]:
        return shapely.make_valid(shapely.Polygon(coords), method="structure",
                                  keep_collapsed=False)
    return None


def _relation_polygon(members: list[dict[str, Any]],
                      way_coords: dict[int, list[tuple[float, float]]]) -> BaseGeometry | None:
    """Build a multipolygon relation from its outer and inner member ways."""
    lines: dict[str, list[BaseGeometry]] = {"outer": [], "inner": []}
    for member in members:
        if member.get("type") != "way":
            continue
        coords = ([(p["lon"], p["lat"]) for p in member["geometry"]] if "geometry" in member
                  else way_coords.get(member.get("ref", -1), []))
        if len(coords) >= 2:
            lines["inner" if member.get("role") == "inner" else "outer"].append(
                shapely.LineString(coords))
    if not lines["outer"]:
        return None
    outer = shapely.union_all(shapely.get_parts(shapely.polygonize(lines["outer"])))
    if lines["inner"]:
        inner = shapely.union_all(shapely.get_parts(shapely.polygonize(lines["inner"])))
        outer = outer.difference(inner)
    return None if outer.is_empty else outer


def _overpass_rows(elements: list[dict[str, Any]], park_leisure: Sequence[str]
                   ) -> list[dict[str, Any]]:
    """Return one row (element, id, amenity, leisure, name, geometry) per destination element.

    Elements whose tags name no destination kind are skipped before any geometry is built;
    ``park_leisure`` holds the ``leisure`` values of a park.
    """
    node_xy = {e["id"]: (e["lon"], e["lat"]) for e in elements
               if e.get("type") == "node" and "lon" in e and "lat" in e}
    way_coords: dict[int, list[tuple[float, float]]] = {}
    for element in elements:
        if element.get("type") == "way":
            if "geometry" in element:
                way_coords[element["id"]] = [(p["lon"], p["lat"]) for p in element["geometry"]]
            else:
                way_coords[element["id"]] = [node_xy[n] for n in element.get("nodes", [])
                                             if n in node_xy]
    rows: list[dict[str, Any]] = []
    for element in elements:
        tags = element.get("tags") or {}
        if not (tags.get("amenity") in ("school", "library", "community_centre")
                or tags.get("leisure") in park_leisure):
            continue
        kind = element.get("type")
        geometry: BaseGeometry | None = None
        if kind == "node" and element["id"] in node_xy:
            geometry = shapely.Point(node_xy[element["id"]])
        elif kind == "way":
            geometry = _ring(way_coords.get(element["id"], []))
        elif kind == "relation" and tags.get("type") == "multipolygon":
            geometry = _relation_polygon(element.get("members", []), way_coords)
        if geometry is None and "center" in element:
            geometry = shapely.Point(element["center"]["lon"], element["center"]["lat"])
        if geometry is not None:
            rows.append({"element": kind, "id": element["id"], "amenity": tags.get("amenity"),
                         "leisure": tags.get("leisure"), "name": tags.get("name", ""),
                         "geometry": geometry})
    return rows


def _overpass_places(path_or_json: str | Path | Mapping[str, Any], park_leisure: Sequence[str]
                     ) -> gpd.GeoDataFrame:
    """Return the places of an Overpass JSON response (see ``read_osm_places``)."""
    rows = _overpass_rows(_overpass_elements(path_or_json), park_leisure)
    if not rows:
        return _empty_places()
    return _osm_features_to_places(gpd.GeoDataFrame(rows, geometry="geometry", crs=_WGS84),
                                   park_leisure)


def _sniff_overpass(path: Path) -> bool:
    """Return whether a ``.json`` file looks like an Overpass response (has ``"elements"``)."""
    if path.suffix.lower() != ".json":
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return b'"elements"' in head


def _osmnx_tags(osm_tags: Mapping[str, Mapping[str, Sequence[str]]]
                ) -> dict[str, bool | str | list[str]]:
    """Return the tags of all kinds merged by key, as :func:`osmnx.features_from_polygon` wants."""
    tags: dict[str, bool | str | list[str]] = {}
    for kind_tags in osm_tags.values():
        for key, values in kind_tags.items():
            existing = tags.get(key, [])
            tags[key] = [*(existing if isinstance(existing, list) else []), *values]
    return tags

"""Destinations people walk to: schools, transit stops, parks and libraries.

Every reader returns one GeoDataFrame in EPSG:4326 with the columns of :data:`COLUMNS`;
:func:`load_places` gathers the files of an area, reprojects them to the area's UTM zone
(metres), keeps what touches the study polygon and removes duplicates; :func:`snap_places`
ties each place to its nearest street node and flags the places too far from the network.

Columns of a places frame:

``place_id``
    Unique text id, ``"<kind>:<source id>"``: ``"school:19101990106880"`` (CDE code),
    ``"transit:80211"`` (GTFS ``stop_id``), ``"park:RAP:123"`` (layer and park id),
    ``"library:osm:node/368169838"`` (OpenStreetMap element).
``kind``
    One of :data:`PLACE_KINDS`.
``name``
    Name shown on maps (``"unnamed <kind>"`` when the source has none).
``source``
    File name the place came from, or ``"OpenStreetMap"``.
``enrollment``
    Students (schools; ``NaN`` when unknown and for other kinds).
``geometry``
    A Point, or the whole park Polygon/MultiPolygon: the router reaches a park at its
    nearest street node, not at its centroid.
"""

from __future__ import annotations

import json
import re
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

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
from passages._errors import EmptyResultError, InputError
from passages.areas import Area, utm_crs_for

#: Kinds of destination, in the order maps list them.
PLACE_KINDS = ("school", "transit", "park", "library")

#: Columns of every places frame, in order.
COLUMNS = ("place_id", "kind", "name", "source", "enrollment", "geometry")

#: Values of the LA County schools layer's ``cat2`` field that are K-12 schools children
#: walk to. "Colleges, Universities, and Professional Schools" and "Adult Education
#: Schools" are left out: their students do not walk to them from home in school windows.
K12_LEVELS = (
    "Elementary Schools",
    "Intermediate/Middle/Junior High Schools",
    "High Schools",
    "Elementary-High Combination Schools",
)

#: Level values (in any schools file) that mark a school as not K-12.
_NOT_K12 = re.compile(r"college|universit|adult", re.IGNORECASE)

#: Stops of one name closer than this (metres) are one place (the corners of a junction).
STOP_MERGE_M = 100.0

#: Places of one kind and name closer than this (metres) are one place; polygons must
#: overlap or touch.
DUPLICATE_M = 100.0

#: OpenStreetMap tags of the destinations, by kind (the query of :func:`osm_places_online`).
OSM_TAGS: dict[str, dict[str, list[str]]] = {
    "school": {"amenity": ["school"]},
    "library": {"amenity": ["library"]},
    "park": {"leisure": ["park", "playground", "recreation_ground"],
             "amenity": ["community_centre"]},
}

# load_places accepts the kinds as named in areas.json (plural) and in PLACE_KINDS.
_SOURCE_KINDS = {
    "school": "school", "schools": "school",
    "transit": "transit", "stops": "transit",
    "park": "park", "parks": "park",
    "library": "library", "libraries": "library",
    "osm": "osm",
}
# Other stages' inputs that may sit in the same mapping (an area's ``sources``).
_NOT_PLACES = ("network", "incidents")

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


class NodeIndex(Protocol):
    """What :func:`snap_places` needs of a street index (:class:`passages.network.StreetIndex`)."""

    def street_access(
        self, geoms: Sequence[BaseGeometry] | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (node ids, distances in metres to the nearest street) of each geometry."""
        ...


# --------------------------------------------------------------------------- helpers


def _check_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path, fix=f"Check the path of the {what} file.")
    if path.stat().st_size == 0:
        raise InputError("file is empty", path=path, fix=f"Give a {what} file with data in it.")
    return path


def _read_table(path: Path, what: str) -> pd.DataFrame:
    """Read a CSV (text columns) or any vector file pyogrio opens (GeoDataFrame)."""
    try:
        if path.suffix.lower() in (".csv", ".txt"):
            table: pd.DataFrame = pd.read_csv(
                path, dtype=str, skipinitialspace=True, encoding="utf-8-sig"
            )
        else:
            table = gpd.read_file(path)
    except Exception as exc:
        raise InputError(
            f"cannot be read ({type(exc).__name__}: {exc})", path=path,
            fix=f"Give the {what} as a CSV, GeoJSON, GeoPackage or shapefile.",
        ) from None
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
) -> str | None:
    """Return the column of ``table`` playing ``role``; raise when a required one is absent."""
    if columns and role in columns:
        chosen = columns[role]
        if chosen not in table.columns:
            raise InputError(
                f"column {chosen!r} given for {role!r} is not in the file", path=path,
                field=chosen, fix="Columns in the file: " + ", ".join(map(str, table.columns)) + ".",
            )
        return chosen
    found = _find_column(table, candidates)
    if found is None and required:
        raise InputError(
            "required column missing", path=path, field=candidates[0],
            fix=f"Rename the {role} column to {candidates[0]!r}, or pass "
                f"columns={{{role!r}: 'your column'}}.",
        )
    return found


def _text(table: pd.DataFrame, column: str | None, default: str) -> pd.Series:
    """Return a column as stripped text, ``default`` where it is missing or blank."""
    if column is None:
        return pd.Series(default, index=table.index, dtype=object)
    values = table[column].astype("string").str.strip()
    # Integer-valued floats (ids read from a GeoJSON as numbers) lose their ".0".
    values = values.str.replace(r"^(-?\d+)\.0$", r"\1", regex=True)
    return values.mask(values.isna() | (values == ""), default).astype(object)


def _points(
    table: pd.DataFrame, path: Path, columns: Mapping[str, str] | None, what: str,
    lat_names: Sequence[str] = _LAT, lon_names: Sequence[str] = _LON,
) -> gpd.GeoDataFrame:
    """Return ``table`` as a GeoDataFrame in EPSG:4326, dropping (and counting) unplaced rows.

    A frame that has geometries keeps them (reprojected); a plain table needs latitude
    and longitude columns in degrees.
    """
    if isinstance(table, gpd.GeoDataFrame) and table.geometry.notna().any():
        if table.crs is None:
            raise InputError(
                "has no coordinate reference system", path=path,
                fix="Add the .prj file of the shapefile, or save the layer with its CRS.",
            )
        frame = table.to_crs(_WGS84)
        geometry = frame.geometry
        bad = geometry.isna() | geometry.is_empty
    else:
        lat_col = _column(table, "lat", lat_names, columns, path)
        lon_col = _column(table, "lon", lon_names, columns, path)
        lat = pd.to_numeric(table[lat_col], errors="coerce")
        lon = pd.to_numeric(table[lon_col], errors="coerce")
        # 0,0 is how several feeds (LAPD among them) write "no location".
        bad = (lat.isna() | lon.isna() | (lat.abs() > 90) | (lon.abs() > 180)
               | ((lat == 0) & (lon == 0)))
        frame = gpd.GeoDataFrame(
            pd.DataFrame(table).drop(columns="geometry", errors="ignore"),
            geometry=gpd.points_from_xy(lon.fillna(0), lat.fillna(0)), crs=_WGS84,
        )
    if bad.any():
        warnings.warn(
            f"{path}: {int(bad.sum())} of {len(frame)} {what} rows have no usable "
            "location and are skipped", stacklevel=3,
        )
        frame = frame.loc[~bad.to_numpy()]
    return frame


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
    """Assemble the documented columns, with unique place ids."""
    kinds = kind if isinstance(kind, pd.Series) else pd.Series(kind, index=frame.index)
    names = names.where(names.notna() & (names.astype(str) != ""), "unnamed " + kinds.astype(str))
    out = gpd.GeoDataFrame(
        {
            "place_id": _unique(kinds.astype(str) + ":" + ids.astype(str)).to_numpy(),
            "kind": kinds.astype(str).to_numpy(),
            "name": names.astype(str).to_numpy(),
            "source": source,
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


# --------------------------------------------------------------------------- readers


def read_schools(path: str | Path, *, columns: Mapping[str, str] | None = None
                 ) -> gpd.GeoDataFrame:
    """Return the K-12 schools of a schools layer, in EPSG:4326.

    Reads the LA County "Schools, Colleges and Universities" layer as it comes (GeoJSON
    with ``cat2``, ``name``, ``source_id``, ``enrollment``, ``OBJECTID``) or any CSV,
    GeoJSON, GeoPackage or shapefile of school points. Colleges, universities and
    professional schools and adult-education schools are dropped (``cat2`` values, or a
    level column whose value names a college, university or adult school): children
    do not walk to them. Negative enrollments (the layer writes -999 for unknown)
    become ``NaN``.

    Parameters
    ----------
    path
        The schools file. A CSV needs latitude/longitude columns in EPSG:4326 degrees.
    columns
        Which file column plays each role, when the names differ from the LA County
        layer: ``"id"`` (default ``source_id``, the CDE code, else ``OBJECTID``),
        ``"name"``, ``"enrollment"``, ``"level"`` (``cat2``), ``"lat"``, ``"lon"``.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`COLUMNS`, kind ``"school"``, point geometry in EPSG:4326.

    Raises
    ------
    InputError
        The file is missing, empty or unreadable, or lacks a name or coordinate column.
    """
    path = _check_file(path, "schools")
    table = _read_table(path, "schools")
    name_col = _column(table, "name", _SCHOOL_COLUMNS["name"], columns, path)
    id_col = _column(table, "id", _SCHOOL_COLUMNS["id"], columns, path, required=False)
    enroll_col = _column(table, "enrollment", _SCHOOL_COLUMNS["enrollment"], columns, path,
                         required=False)
    level_col = _column(table, "level", _SCHOOL_COLUMNS["level"], columns, path, required=False)
    if level_col is not None:
        table = table.loc[~table[level_col].astype(str).str.contains(_NOT_K12, na=False)]
        if len(table) == 0:
            return _empty_places()
    frame = _points(table, path, columns, "school")
    ids = _text(frame, id_col, "")
    if "OBJECTID" in frame.columns and id_col != "OBJECTID":
        ids = ids.mask(ids == "", _text(frame, "OBJECTID", ""))
    ids = ids.mask(ids == "", pd.Series(np.arange(1, len(frame) + 1), index=frame.index)
                   .astype(str))
    enrollment = (pd.to_numeric(frame[enroll_col], errors="coerce") if enroll_col
                  else pd.Series(np.nan, index=frame.index))
    enrollment = enrollment.where(enrollment >= 0)
    return _places_frame(frame, kind="school", ids=ids, names=_text(frame, name_col, ""),
                         source=path.name, enrollment=enrollment)


def _read_stops_table(path: Path) -> pd.DataFrame:
    """Read stops.txt, a zipped GTFS feed, or a zipped stop shapefile."""
    if path.suffix.lower() != ".zip":
        return _read_table(path, "transit stops")
    try:
        with zipfile.ZipFile(path) as archive:
            inside = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "stops.txt"]
            if inside:
                with archive.open(inside[0]) as handle:
                    table = pd.read_csv(handle, dtype=str, skipinitialspace=True,
                                        encoding="utf-8-sig")
                if len(table) == 0:
                    raise InputError("stops.txt has no rows", path=path,
                                     fix="Give a GTFS feed with stops in it.")
                return table
    except zipfile.BadZipFile:
        raise InputError("is not a readable zip file", path=path,
                         fix="Give a GTFS stops.txt, a GTFS zip or a zipped shapefile.") from None
    return _read_table(path, "transit stops")


def merge_stops(stops: gpd.GeoDataFrame, *, within_m: float | None = None) -> gpd.GeoDataFrame:
    """Return the stops with same-name stops near each other merged into one place.

    A bus stop is one pole per direction or corner of a junction; a walker goes to the
    junction. Stops sharing a name and linked by gaps of at most ``within_m`` become
    one place at their mean position, keeping the first stop's id (file order).

    Parameters
    ----------
    stops
        A places frame of points in EPSG:4326.
    within_m
        Greatest gap between stops of one place, in metres (default :data:`STOP_MERGE_M`).
    """
    within_m = STOP_MERGE_M if within_m is None else within_m
    if len(stops) < 2:
        return stops
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


def read_transit_stops(path: str | Path) -> gpd.GeoDataFrame:
    """Return the transit stops of a GTFS ``stops.txt`` or a stop shapefile, in EPSG:4326.

    Rail feeds list stations (``location_type`` 1) and their platforms (0): the stations
    are kept when there are any, else the stops; entrances (2), generic nodes (3) and
    boarding areas (4) are never places. Stops of one name within :data:`STOP_MERGE_M`
    metres are merged (see :func:`merge_stops`).

    Parameters
    ----------
    path
        A GTFS ``stops.txt`` (or any CSV with its columns), a zipped GTFS feed, or a zipped
        shapefile of stops such as LA Metro's ``230711_All_MetroRail_Stations.zip``
        (``STOP_ID``, ``STOP_NAME``; column names are matched case-blind).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`COLUMNS`, kind ``"transit"``, ``place_id`` ``"transit:<stop_id>"``,
        point geometry in EPSG:4326.

    Raises
    ------
    InputError
        The file is missing, empty or unreadable, or lacks ``stop_id``, ``stop_name``,
        ``stop_lat`` or ``stop_lon`` (coordinates are not needed when the file has
        geometries).
    """
    path = _check_file(path, "transit stops")
    table = _read_stops_table(path)
    id_col = _column(table, "stop_id", ("stop_id", "stopnum"), None, path)
    name_col = _column(table, "stop_name", ("stop_name", "stopname"), None, path)
    type_col = _find_column(table, ("location_type",))
    if type_col is not None:
        location = pd.to_numeric(table[type_col], errors="coerce").fillna(0)
        wanted = 1 if (location == 1).any() else 0
        table = table.loc[(location == wanted).to_numpy()]
    frame = _points(table, path, None, "stop", ("stop_lat", "lat", "latitude"),
                    ("stop_lon", "lon", "long", "longitude"))
    stops = _places_frame(frame, kind="transit", ids=_text(frame, id_col, ""),
                          names=_text(frame, name_col, ""), source=path.name)
    return merge_stops(stops)


def read_parks(path: str | Path, *, columns: Mapping[str, str] | None = None
               ) -> gpd.GeoDataFrame:
    """Return the parks and recreation centres of a park layer, polygons kept whole.

    Knows the LA City Recreation and Parks boundaries (RAP: ``Name``, ``Park_ID``;
    EPSG:3857) and the LA County DPR parks (``PARK_NAME``, ``UNIT_ID``; EPSG:2229, US
    feet); any polygon GeoJSON, GeoPackage or shapefile with a name column works too.
    Invalid polygons are repaired.

    Parameters
    ----------
    path
        The park layer, in any CRS it declares (it is reprojected to EPSG:4326).
    columns
        Which file column plays each role: ``"name"``, ``"id"`` (and ``"lat"``/``"lon"``
        for a CSV of park points).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`COLUMNS`, kind ``"park"``, ``place_id`` ``"park:RAP:<Park_ID>"``,
        ``"park:DPR:<UNIT_ID>"`` or ``"park:<file stem>:<id>"``; Polygon/MultiPolygon
        (or Point) geometry in EPSG:4326.

    Raises
    ------
    InputError
        The file is missing, empty, unreadable or without CRS, or lacks a name column.
    """
    path = _check_file(path, "parks")
    table = _read_table(path, "parks")
    name_col = _column(table, "name", _PARK_COLUMNS["name"], columns, path)
    id_col = _column(table, "id", _PARK_COLUMNS["id"], columns, path, required=False)
    if "Park_ID" in table.columns and name_col == "Name":
        layer = "RAP"
    elif "PARK_NAME" in table.columns and name_col == "PARK_NAME":
        layer = "DPR"
    else:
        layer = path.stem
    frame = _points(table, path, columns, "park")
    geometry = shapely.make_valid(np.asarray(frame.geometry, dtype=object),
                                  method="structure", keep_collapsed=False)
    ids = _text(frame, id_col, "")
    ids = ids.mask(ids == "", pd.Series(np.arange(1, len(frame) + 1), index=frame.index)
                   .astype(str))
    parks = _places_frame(frame, kind="park", ids=layer + ":" + ids,
                          names=_text(frame, name_col, ""), source=path.name,
                          geometry=geometry)
    return parks.loc[~parks.geometry.is_empty].reset_index(drop=True)


def read_libraries(path: str | Path, *, columns: Mapping[str, str] | None = None
                   ) -> gpd.GeoDataFrame:
    """Return the libraries of a file, in EPSG:4326.

    Knows the TrojanMap ``data.csv`` (``id`` = OSM node id, ``lat``, ``lon``, ``name``,
    ``attributes`` = a set of OSM amenity values): only rows whose ``attributes`` hold
    ``library`` are kept. Any other CSV, GeoJSON, GeoPackage or shapefile is read as a
    layer of libraries.

    Parameters
    ----------
    path
        The file; a CSV needs latitude/longitude columns in EPSG:4326 degrees.
    columns
        Which file column plays each role: ``"name"``, ``"id"``, ``"lat"``, ``"lon"``.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`COLUMNS`, kind ``"library"``, point geometry in EPSG:4326.

    Raises
    ------
    InputError
        The file is missing, empty or unreadable, or lacks a name or coordinate column.
    """
    path = _check_file(path, "libraries")
    table = _read_table(path, "libraries")
    name_col = _column(table, "name", _LIBRARY_COLUMNS["name"], columns, path)
    id_col = _column(table, "id", _LIBRARY_COLUMNS["id"], columns, path, required=False)
    trojanmap = "attributes" in table.columns and not isinstance(table, gpd.GeoDataFrame)
    if trojanmap:
        table = table.loc[table["attributes"].str.contains(r"\blibrary\b", na=False).to_numpy()]
        if len(table) == 0:
            return _empty_places()
    frame = _points(table, path, columns, "library")
    ids = _text(frame, id_col, "")
    ids = ids.mask(ids == "", pd.Series(np.arange(1, len(frame) + 1), index=frame.index)
                   .astype(str))
    prefix = "osm:node/" if trojanmap and id_col == "id" else f"{path.stem}:"
    return _places_frame(frame, kind="library", ids=prefix + ids,
                         names=_text(frame, name_col, ""), source=path.name)


# --------------------------------------------------------------------------- OpenStreetMap


def _osm_kind(table: pd.DataFrame) -> pd.Series:
    """Return the place kind of each OSM feature from its tags (``None``: not a place)."""
    amenity = table["amenity"] if "amenity" in table.columns else pd.Series(None, index=table.index)
    leisure = table["leisure"] if "leisure" in table.columns else pd.Series(None, index=table.index)
    park_leisure = OSM_TAGS["park"]["leisure"]
    kind = np.select(
        [amenity.eq("school"), amenity.eq("library"),
         leisure.isin(park_leisure) | amenity.eq("community_centre")],
        ["school", "library", "park"], default="",
    )
    return pd.Series(kind, index=table.index).replace("", None)


def _osm_features_to_places(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Turn osmnx-style features (``element``, ``id``, tag columns, geometry) into places."""
    if len(features) == 0:
        return _empty_places()
    kinds = _osm_kind(features)
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
    if isinstance(path_or_json, Mapping):
        data: Any = path_or_json
        origin: Path | None = None
    else:
        origin = _check_file(path_or_json, "Overpass JSON")
        try:
            data = json.loads(origin.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid JSON ({exc})", path=origin,
                             fix="Give an Overpass API response saved as JSON.") from None
    elements = data.get("elements") if isinstance(data, Mapping) else None
    if not isinstance(elements, list):
        raise InputError("has no 'elements' list", path=origin, field="elements",
                         fix="Give an Overpass API JSON response ([out:json]).")
    return elements


def _ring(coords: list[tuple[float, float]]) -> BaseGeometry | None:
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


def read_osm_places(path_or_json: str | Path | Mapping[str, Any]) -> gpd.GeoDataFrame:
    """Return the destinations of an Overpass API JSON response, in EPSG:4326.

    Tagged nodes become points; closed ways become polygons built from their nodes'
    coordinates (or from their ``geometry`` when the query used ``out geom``);
    ``type=multipolygon`` relations become (multi)polygons. Kinds come from the tags of
    :data:`OSM_TAGS`: ``amenity=school`` is a school, ``amenity=library`` a library,
    ``leisure=park|playground|recreation_ground`` and ``amenity=community_centre`` a
    park. Other elements (street ways, untagged nodes) are ignored.

    Parameters
    ----------
    path_or_json
        An Overpass JSON file, or the response already parsed (a dict with ``elements``).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`COLUMNS`, ``source`` ``"OpenStreetMap"``, ``place_id``
        ``"<kind>:osm:<node|way|relation>/<id>"``; may be empty.

    Raises
    ------
    InputError
        The file is missing, empty or not an Overpass JSON response.
    """
    elements = _overpass_elements(path_or_json)
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
                or tags.get("leisure") in OSM_TAGS["park"]["leisure"]):
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
    if not rows:
        return _empty_places()
    return _osm_features_to_places(gpd.GeoDataFrame(rows, geometry="geometry", crs=_WGS84))


def osm_places_online(area: Area, *, cache_dir: Path) -> gpd.GeoDataFrame:
    """Return the OpenStreetMap destinations of an area, queried from Overpass via osmnx.

    Uses :func:`osmnx.features_from_polygon` over ``area.study_polygon`` with the tags
    of :data:`OSM_TAGS`; responses are cached in ``cache_dir`` (osmnx's HTTP cache) so a
    second run works offline.

    Parameters
    ----------
    area
        The area; its study polygon (EPSG:4326) bounds the query.
    cache_dir
        Folder of osmnx's HTTP cache.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`COLUMNS` in EPSG:4326 (not yet clipped or reprojected: pass the
        result through :func:`load_places` with ``sources={"osm": ...}`` or clip it).
    """
    import osmnx as ox  # imported here: osmnx is slow to import and only this needs it

    tags: dict[str, bool | str | list[str]] = {}
    for kind_tags in OSM_TAGS.values():
        for key, values in kind_tags.items():
            existing = tags.get(key, [])
            tags[key] = [*(existing if isinstance(existing, list) else []), *values]
    previous = (ox.settings.cache_folder, ox.settings.use_cache)
    ox.settings.cache_folder, ox.settings.use_cache = str(cache_dir), True
    try:
        features = ox.features_from_polygon(area.study_polygon, tags)
    except ox._errors.InsufficientResponseError:
        return _empty_places()
    finally:
        ox.settings.cache_folder, ox.settings.use_cache = previous
    features = features.reset_index()
    return _osm_features_to_places(features.to_crs(_WGS84))


# --------------------------------------------------------------------------- gathering


def _sniff_overpass(path: Path) -> bool:
    if path.suffix.lower() != ".json":
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return b'"elements"' in head


def _read_source(kind: str, path: Path) -> gpd.GeoDataFrame:
    """Read one file given for ``kind``, choosing the reader by its type."""
    _check_file(path, kind if kind != "osm" else "OpenStreetMap")
    if kind == "osm" or _sniff_overpass(path):
        places = read_osm_places(path)
        return places if kind == "osm" else places.loc[places["kind"] == kind]
    if kind == "school":
        return read_schools(path)
    if kind == "transit":
        return read_transit_stops(path)
    if kind == "park":
        return read_parks(path)
    return read_libraries(path)


def drop_duplicate_places(places: gpd.GeoDataFrame, *, within_m: float | None = None
                          ) -> gpd.GeoDataFrame:
    """Return the places with duplicates removed: one row per real place.

    Two places are one when they have the same kind and name (case and punctuation
    aside) and are close: points within ``within_m`` metres of each other or of a
    polygon, polygons overlapping or touching. The polygon is kept over the point, then
    the earlier row (sources in the order given).

    Parameters
    ----------
    places
        A places frame in a metric CRS (the area's UTM zone).
    within_m
        Greatest distance between two points of one place, in metres (default
        :data:`DUPLICATE_M`).
    """
    within_m = DUPLICATE_M if within_m is None else within_m
    if len(places) < 2:
        return places
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


def load_places(area: Area, *, sources: Mapping[str, Sequence[str | Path]]) -> gpd.GeoDataFrame:
    """Return the destinations of an area, in its UTM CRS, one row per place.

    Each file is read by the reader of its kind and type (an Overpass ``.json`` by
    :func:`read_osm_places`, whatever kind it is listed under), reprojected to
    ``area.crs``, kept when it intersects ``area.study_polygon_utm``, and de-duplicated
    across files (:func:`drop_duplicate_places`; bus stops at one junction are merged by
    :func:`read_transit_stops`).

    Parameters
    ----------
    area
        The area; places are clipped to its study polygon.
    sources
        Files by kind: ``"schools"``, ``"transit"``, ``"parks"``, ``"libraries"`` (or the
        singular :data:`PLACE_KINDS`), and ``"osm"`` for Overpass JSON holding any kind.
        ``"network"`` and ``"incidents"`` are ignored, so an area's resolved
        ``sources`` can be passed whole.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`COLUMNS`, geometry in ``area.crs`` (e.g. EPSG:32611, metres),
        sorted by (kind, name, place_id), with a fresh RangeIndex.

    Raises
    ------
    InputError
        An unknown kind, or a file that cannot be read (see the readers).
    EmptyResultError
        No place of any kind lies in the study area.
    """
    frames: list[gpd.GeoDataFrame] = []
    wanted: list[str] = []
    for key, paths in sources.items():
        if key in _NOT_PLACES:
            continue
        if key not in _SOURCE_KINDS:
            raise InputError(
                f"unknown kind of place {key!r}", field=key,
                fix="Kinds: schools, transit, parks, libraries, osm.",
            )
        kind = _SOURCE_KINDS[key]
        wanted.append(kind)
        if isinstance(paths, str | Path):
            paths = [paths]
        frames.extend(_read_source(kind, Path(path)) for path in paths)
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        raise EmptyResultError(f"no places were read for area {area.slug!r}; give place files")
    places = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=_WGS84)
    # A coarse box in degrees first: county-wide layers are mostly far away.
    west, south, east, north = area.study_polygon.bounds
    margin = 0.01
    places = places.cx[west - margin:east + margin, south - margin:north + margin]
    places = places.to_crs(area.crs)
    inside = places.sindex.query(area.study_polygon_utm, predicate="intersects")
    places = places.iloc[np.sort(inside)]
    if len(places) == 0:
        raise EmptyResultError(f"no place lies within area {area.slug!r}")
    places = drop_duplicate_places(places)
    places["place_id"] = _unique(places["place_id"]).to_numpy()
    missing = sorted({k for k in wanted if k != "osm"} - set(places["kind"]))
    if missing:
        warnings.warn(f"area {area.slug!r}: no {', '.join(missing)} within the study area",
                      stacklevel=2)
    places = places.sort_values(["kind", "name", "place_id"], kind="stable")
    return gpd.GeoDataFrame(places[list(COLUMNS)].reset_index(drop=True), crs=area.crs)


# --------------------------------------------------------------------------- snapping


def snap_places(places: gpd.GeoDataFrame, index: NodeIndex, *,
                max_snap_m: float | None = None) -> gpd.GeoDataFrame:
    """Return the places with their nearest street node, its distance and usability.

    Adds ``node`` (int64 graph node id where walks to and from the place start: the
    nearer end of the nearest street segment), ``snap_m`` (metres from the place to that
    street; 0 when a street touches a park polygon) and ``usable``
    (``snap_m <= max_snap_m``).
    Places too far from the network stay in the frame, flagged, and a warning counts
    them; :func:`snap_report` tallies them by kind.

    Parameters
    ----------
    places
        A places frame in the graph's CRS (the area's UTM zone; places in another CRS
        are reprojected for the query when the index declares its ``crs``).
    index
        The street index of the graph (:class:`passages.network.StreetIndex`), whose
        ``street_access(geoms)`` returns node ids and distances in metres.
    max_snap_m
        Farthest usable place from the street network, in metres (default
        :data:`passages.settings.place_snap_m`).

    Raises
    ------
    InputError
        ``max_snap_m`` is negative, or the places are in degrees and the index has no CRS.
    """
    max_snap_m = settings.place_snap_m if max_snap_m is None else float(max_snap_m)
    if not max_snap_m >= 0:
        raise InputError(f"max_snap_m must be zero or more, got {max_snap_m}",
                         field="max_snap_m", fix="Give a distance in metres, such as 150.")
    out = places.copy()
    if len(out) == 0:
        out["node"] = np.array([], dtype=np.int64)
        out["snap_m"] = np.array([], dtype=float)
        out["usable"] = np.array([], dtype=bool)
        return out
    geometry = out.geometry
    index_crs = getattr(index, "crs", None)
    if index_crs is not None and out.crs is not None and not pyproj.CRS.from_user_input(
            index_crs).equals(out.crs):
        geometry = geometry.to_crs(index_crs)
    elif index_crs is None and out.crs is not None and out.crs.is_geographic:
        raise InputError(
            f"places are in {out.crs.to_string()} (degrees), distances would be meaningless",
            field="places", fix="Reproject the places to the graph's UTM CRS (load_places does).",
        )
    nodes, distances = index.street_access(np.asarray(geometry, dtype=object))
    out["node"] = np.asarray(nodes, dtype=np.int64)
    out["snap_m"] = np.asarray(distances, dtype=float)
    out["usable"] = out["snap_m"].to_numpy() <= max_snap_m
    too_far = int((~out["usable"]).sum())
    if too_far:
        kinds = out.loc[~out["usable"], "kind"].value_counts()
        detail = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
        warnings.warn(
            f"{too_far} of {len(out)} places lie more than {max_snap_m:g} m from the street "
            f"network and are left out of routing ({detail})", stacklevel=2,
        )
    return out


def snap_report(places: gpd.GeoDataFrame) -> dict[str, dict[str, int]]:
    """Return, per kind, how many snapped places are usable and how many are too far.

    Parameters
    ----------
    places
        The output of :func:`snap_places`.

    Returns
    -------
    dict
        ``{kind: {"usable": n, "too_far": m}}`` for every kind of :data:`PLACE_KINDS`
        (zeros where absent) and any other kind present.
    """
    if "usable" not in places.columns:
        raise InputError("places have no 'usable' column", field="usable",
                         fix="Run snap_places(places, index) first.")
    usable = places["usable"].astype(bool).to_numpy()
    kind_of = places["kind"].astype(str).to_numpy()
    kinds = list(PLACE_KINDS) + sorted(set(kind_of) - set(PLACE_KINDS))
    report: dict[str, dict[str, int]] = {}
    for kind in kinds:
        mine = kind_of == kind
        report[kind] = {"usable": int(np.sum(mine & usable)),
                        "too_far": int(np.sum(mine & ~usable))}
    return report

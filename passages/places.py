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

import hashlib
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from passages import _frame_cache, settings
from passages._errors import EmptyResultError, InputError
from passages._names import slug
from passages._place_readers import (
    _LIBRARY_COLUMNS,
    _PARK_COLUMNS,
    _SCHOOL_COLUMNS,
    _WGS84,
    _check_file,
    _column,
    _drop_near_duplicates,
    _empty_places,
    _ids_or_row_numbers,
    _mapped_columns,
    _merge_near_stops,
    _osm_features_to_places,
    _osmnx_tags,
    _overpass_places,
    _places_frame,
    _points,
    _read_stops_table,
    _read_table,
    _reading,
    _sniff_overpass,
    _stations_or_stops,
    _text,
    _unique,
)
from passages.areas import Area
from passages.mapping import FileMapping, InputMapping, as_mapping

#: Kinds of destination, in the order maps list them.
PLACE_KINDS = ("school", "transit", "park", "library", "business")

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

#: Enrollments above this (students) are taken as unknown: the largest US schools have
#: about 10,000 students; a bigger number is a typing slip or a hostile file.
MAX_ENROLLMENT = 50_000

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
_NOT_PLACES = ("network", "incidents", "businesses", "concerns")


class NodeIndex(Protocol):
    """What :func:`snap_places` needs of a street index (:class:`passages.network.StreetIndex`)."""

    def street_access(
        self, geoms: Sequence[BaseGeometry] | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (node ids, distances in metres to the nearest street) of each geometry."""
        ...


# --------------------------------------------------------------------------- readers


def read_schools(path: str | Path, *, columns: Mapping[str, str] | None = None,
                 area: Area | None = None, mapping: FileMapping | None = None) -> gpd.GeoDataFrame:
    """Return the K-12 schools of a schools layer, in EPSG:4326.

    Reads the LA County "Schools, Colleges and Universities" layer as it comes (GeoJSON
    with ``cat2``, ``name``, ``source_id``, ``enrollment``, ``OBJECTID``) or any CSV,
    GeoJSON, GeoPackage or shapefile of school points. Colleges, universities and
    professional schools and adult-education schools are dropped (``cat2`` values, or a
    level column whose value names a college, university or adult school): children
    do not walk to them. Negative enrollments (the layer writes -999 for unknown)
    become ``NaN``, and so do enrollments above :data:`MAX_ENROLLMENT`, infinite or
    not numbers.

    Parameters
    ----------
    path
        The schools file. A CSV needs latitude/longitude columns in EPSG:4326 degrees.
    columns
        Which file column plays each role, when the names differ from the LA County
        layer: ``"id"`` (default ``source_id``, the CDE code, else ``OBJECTID``),
        ``"name"``, ``"enrollment"``, ``"level"`` (``cat2``), ``"lat"``, ``"lon"``.
    area
        When given, a layer none of whose schools lies near the area is refused (see
        :func:`load_places`).
    mapping
        What a mapping file says about this file (:meth:`passages.mapping.InputMapping.for_file`
        with kind ``"schools"``): its columns (``columns`` given too win), and ``crs``, the
        CRS of its coordinate columns when they are not degrees.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`COLUMNS`, kind ``"school"``, point geometry in EPSG:4326.

    Raises
    ------
    InputError
        The file is missing, empty, unreadable or of an unknown type, lacks a name or
        coordinate column, or its coordinates are not longitude/latitude (see
        :func:`load_places`). Every library error while reading becomes one InputError
        naming the file.
    """
    path = _check_file(path, "schools")
    with _reading(path, "schools"):
        return _read_schools(path, _mapped_columns(columns, mapping), area, mapping)


def _read_schools(path: Path, columns: Mapping[str, str] | None, area: Area | None,
                  spec: FileMapping | None = None) -> gpd.GeoDataFrame:
    table = _read_table(path, "schools")
    name_col = _column(table, "name", _SCHOOL_COLUMNS["name"], columns, path, spec=spec)
    id_col = _column(table, "id", _SCHOOL_COLUMNS["id"], columns, path, required=False, spec=spec)
    enroll_col = _column(table, "enrollment", _SCHOOL_COLUMNS["enrollment"], columns, path,
                         required=False, spec=spec)
    level_col = _column(table, "level", _SCHOOL_COLUMNS["level"], columns, path, required=False, spec=spec)
    if level_col is not None:
        table = table.loc[~table[level_col].astype(str).str.contains(_NOT_K12, na=False)]
        if len(table) == 0:
            return _empty_places()
    frame = _points(table, path, columns, "school", area=area, spec=spec)
    ids = _text(frame, id_col, "")
    if "OBJECTID" in frame.columns and id_col != "OBJECTID":
        ids = ids.mask(ids == "", _text(frame, "OBJECTID", ""))
    ids = _ids_or_row_numbers(ids)
    enrollment = (pd.to_numeric(frame[enroll_col], errors="coerce").astype(float) if enroll_col
                  else pd.Series(np.nan, index=frame.index))
    enrollment = enrollment.where((enrollment >= 0) & (enrollment <= MAX_ENROLLMENT))
    return _places_frame(frame, kind="school", ids=ids, names=_text(frame, name_col, ""),
                         source=path.name, enrollment=enrollment)


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
    return _merge_near_stops(stops, within_m)


def read_transit_stops(path: str | Path, *, area: Area | None = None, columns: Mapping[str, str] | None = None,
                       mapping: FileMapping | None = None) -> gpd.GeoDataFrame:
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
    area
        When given, a layer none of whose stops lies near the area is refused (see
        :func:`load_places`).
    columns
        Which file column plays each role, when the names differ from GTFS: ``"id"``
        (``stop_id``), ``"name"`` (``stop_name``), ``"lat"``, ``"lon"``.
    mapping
        What a mapping file says about this file (kind ``"transit"``): its columns
        (``columns`` given too win) and ``crs``.

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
        geometries); a header-only ``stops.txt``, a zip without ``stops.txt`` or
        shapefile, a corrupt zip; coordinates that are not longitude/latitude. Every
        library error while reading becomes one InputError naming the file.
    """
    path = _check_file(path, "transit stops")
    with _reading(path, "transit stops"):
        return _read_transit_stops(path, area, _mapped_columns(columns, mapping), mapping)


def _read_transit_stops(path: Path, area: Area | None, columns: Mapping[str, str] | None = None,
                        spec: FileMapping | None = None) -> gpd.GeoDataFrame:
    table = _read_stops_table(path)
    id_col = _column(table, "id", ("stop_id", "stopnum"), columns, path, spec=spec, kind="transit")
    name_col = _column(table, "name", ("stop_name", "stopname"), columns, path, spec=spec, kind="transit")
    table = _stations_or_stops(table)
    frame = _points(table, path, columns, "stop", ("stop_lat", "lat", "latitude"),
                    ("stop_lon", "lon", "long", "longitude"), area=area, spec=spec)
    stops = _places_frame(frame, kind="transit", ids=_text(frame, id_col, ""),
                          names=_text(frame, name_col, ""), source=path.name)
    return merge_stops(stops)


def read_parks(path: str | Path, *, columns: Mapping[str, str] | None = None,
               area: Area | None = None, mapping: FileMapping | None = None) -> gpd.GeoDataFrame:
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
    area
        When given, a layer none of whose parks lies near the area is refused (see
        :func:`load_places`).
    mapping
        What a mapping file says about this file (kind ``"parks"``): its columns
        (``columns`` given too win) and ``crs``.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`COLUMNS`, kind ``"park"``, ``place_id`` ``"park:RAP:<Park_ID>"``,
        ``"park:DPR:<UNIT_ID>"`` or ``"park:<file stem>:<id>"``; Polygon/MultiPolygon
        (or Point) geometry in EPSG:4326.

    Raises
    ------
    InputError
        The file is missing, empty, unreadable or without CRS, lacks a name column, or
        its coordinates do not fit its CRS (see :func:`load_places`). Every library error
        while reading becomes one InputError naming the file.
    """
    path = _check_file(path, "parks")
    with _reading(path, "parks"):
        return _read_parks(path, _mapped_columns(columns, mapping), area, mapping)


def _read_parks(path: Path, columns: Mapping[str, str] | None, area: Area | None,
                spec: FileMapping | None = None) -> gpd.GeoDataFrame:
    table = _read_table(path, "parks")
    name_col = _column(table, "name", _PARK_COLUMNS["name"], columns, path, spec=spec, kind="parks")
    id_col = _column(table, "id", _PARK_COLUMNS["id"], columns, path, required=False, spec=spec)
    if "Park_ID" in table.columns and name_col == "Name":
        layer = "RAP"
    elif "PARK_NAME" in table.columns and name_col == "PARK_NAME":
        layer = "DPR"
    else:
        layer = path.stem
    frame = _points(table, path, columns, "park", area=area, spec=spec)
    geometry = shapely.make_valid(np.asarray(frame.geometry, dtype=object),
                                  method="structure", keep_collapsed=False)
    ids = _text(frame, id_col, "")
    ids = _ids_or_row_numbers(ids)
    parks = _places_frame(frame, kind="park", ids=layer + ":" + ids,
                          names=_text(frame, name_col, ""), source=path.name,
                          geometry=geometry)
    return parks.loc[~parks.geometry.is_empty].reset_index(drop=True)


def read_libraries(path: str | Path, *, columns: Mapping[str, str] | None = None,
                   area: Area | None = None, mapping: FileMapping | None = None) -> gpd.GeoDataFrame:
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
    area
        When given, a layer none of whose libraries lies near the area is refused (see
        :func:`load_places`).
    mapping
        What a mapping file says about this file (kind ``"libraries"``): its columns
        (``columns`` given too win) and ``crs``.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`COLUMNS`, kind ``"library"``, point geometry in EPSG:4326.

    Raises
    ------
    InputError
        The file is missing, empty, unreadable or of an unknown type, lacks a name or
        coordinate column, or its coordinates are not longitude/latitude (see
        :func:`load_places`). Every library error while reading becomes one InputError
        naming the file.
    """
    path = _check_file(path, "libraries")
    with _reading(path, "libraries"):
        return _read_libraries(path, _mapped_columns(columns, mapping), area, mapping)


def _read_libraries(path: Path, columns: Mapping[str, str] | None, area: Area | None,
                    spec: FileMapping | None = None) -> gpd.GeoDataFrame:
    table = _read_table(path, "libraries")
    name_col = _column(table, "name", _LIBRARY_COLUMNS["name"], columns, path, spec=spec, kind="libraries")
    id_col = _column(table, "id", _LIBRARY_COLUMNS["id"], columns, path, required=False, spec=spec)
    trojanmap = "attributes" in table.columns and not isinstance(table, gpd.GeoDataFrame)
    if trojanmap:
        attributes = table["attributes"].astype("string")
        table = table.loc[attributes.str.contains(r"\blibrary\b", na=False).to_numpy(dtype=bool)]
        if len(table) == 0:
            return _empty_places()
    frame = _points(table, path, columns, "library", area=area, spec=spec)
    ids = _text(frame, id_col, "")
    ids = _ids_or_row_numbers(ids)
    prefix = "osm:node/" if trojanmap and id_col == "id" else f"{path.stem}:"
    return _places_frame(frame, kind="library", ids=prefix + ids,
                         names=_text(frame, name_col, ""), source=path.name)


# --------------------------------------------------------------------------- OpenStreetMap


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
        The file is missing, empty or not an Overpass JSON response (any error while
        reading it becomes one InputError naming the file).
    """
    origin = None if isinstance(path_or_json, Mapping) else Path(path_or_json)
    with _reading(origin, "Overpass JSON"):
        return _overpass_places(path_or_json, OSM_TAGS["park"]["leisure"])


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

    previous = (ox.settings.cache_folder, ox.settings.use_cache)
    ox.settings.cache_folder, ox.settings.use_cache = str(cache_dir), True
    try:
        features = ox.features_from_polygon(area.study_polygon, _osmnx_tags(OSM_TAGS))
    except ox._errors.InsufficientResponseError:
        return _empty_places()
    finally:
        ox.settings.cache_folder, ox.settings.use_cache = previous
    features = features.reset_index()
    return _osm_features_to_places(features.to_crs(_WGS84), OSM_TAGS["park"]["leisure"])


# --------------------------------------------------------------------------- gathering


#: The mapping-file section of each kind of place (:mod:`passages.mapping`).
_MAPPING_SECTIONS = {"school": "schools", "transit": "transit", "park": "parks", "library": "libraries"}


def _read_source(kind: str, path: Path, area: Area, mapping: InputMapping | None = None) -> gpd.GeoDataFrame:
    """Read one file given for ``kind`` for ``area``, choosing the reader by its type.

    The mapping's section of the kind (and the file's own section) names its columns; an
    OpenStreetMap file has tags, not columns: a mapping for it is not used, with a warning.
    """
    _check_file(path, kind if kind != "osm" else "OpenStreetMap")
    spec = (mapping.for_file(_MAPPING_SECTIONS[kind], path)
            if mapping is not None and kind in _MAPPING_SECTIONS else None)
    if kind == "osm" or _sniff_overpass(path):
        if spec is not None and spec.roles:
            warnings.warn(f"{path.name} is OpenStreetMap (Overpass JSON) data, read by its tags: the columns "
                          f"{spec.where} names for {_MAPPING_SECTIONS.get(kind, kind)} are not used for it",
                          stacklevel=2)
        places = read_osm_places(path)
        return places if kind == "osm" else places.loc[places["kind"] == kind]
    if kind == "school":
        return read_schools(path, area=area, mapping=spec)
    if kind == "transit":
        return read_transit_stops(path, area=area, mapping=spec)
    if kind == "park":
        return read_parks(path, area=area, mapping=spec)
    return read_libraries(path, area=area, mapping=spec)


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
    return _drop_near_duplicates(places, within_m)


def load_places(area: Area, *, sources: Mapping[str, Sequence[str | Path]],
                mapping: InputMapping | str | Path | Mapping[str, Any] | None = None) -> gpd.GeoDataFrame:
    """Return the destinations of an area, in its UTM CRS, one row per place.

    Each file is read by the reader of its kind and type (an Overpass ``.json`` by
    :func:`read_osm_places`, whatever kind it is listed under), reprojected to
    ``area.crs``, kept when it intersects ``area.study_polygon_utm``, and de-duplicated
    across files (:func:`drop_duplicate_places`; bus stops at one junction are merged by
    :func:`read_transit_stops`).

    The result is kept under ``settings.processed_dir / "places"`` (unless
    ``settings.input_cache`` is False), keyed by the files' bytes, the readers' code, the
    area and the mapping, with the readers' warnings; the next call with the same files reads it back in a
    few milliseconds and gives the same warnings (:mod:`passages._frame_cache`).

    Parameters
    ----------
    area
        The area; places are clipped to its study polygon.
    sources
        Files by kind: ``"schools"``, ``"transit"``, ``"parks"``, ``"libraries"`` (or the
        singular :data:`PLACE_KINDS`), and ``"osm"`` for Overpass JSON holding any kind.
        ``"network"`` and ``"incidents"`` are ignored, so an area's resolved
        ``sources`` can be passed whole.
    mapping
        A mapping file (path), :class:`passages.mapping.InputMapping` or dict: its
        ``[schools]``, ``[transit]``, ``[parks]`` and ``[libraries]`` sections (and
        ``[files."NAME"]``) name the columns of each file and the CRS of its coordinate
        columns.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`COLUMNS`, geometry in ``area.crs`` (e.g. EPSG:32611, metres),
        sorted by (kind, name, place_id), with a fresh RangeIndex.

    Raises
    ------
    InputError
        An unknown kind, or a file that cannot be read (see the readers). A layer whose
        coordinates are not longitude/latitude is refused naming the file and its
        coordinate columns (or ``geometry``): most points beyond ±180°/±90° (projected
        metres or feet read as degrees, or latitude and longitude swapped), a projected
        CRS declared for numbers that are degrees, a declared CRS that puts the points
        off the Earth; and so is a layer none of whose places lies near the area while,
        with x and y swapped, some would, or whose nearest place is more than
        ``FAR_FROM_AREA_KM`` (500) km from the area (another region, or another CRS
        than it declares).
    EmptyResultError
        No place of any kind lies in the study area.
    """
    chosen: list[tuple[str, list[Path]]] = []
    for key, paths in sources.items():
        if key in _NOT_PLACES:
            continue
        if key not in _SOURCE_KINDS:
            raise InputError(
                f"unknown kind of place {key!r}", field=key,
                fix="Kinds: schools, transit, parks, libraries, osm.",
            )
        if isinstance(paths, str | Path):
            paths = [paths]
        chosen.append((_SOURCE_KINDS[key], [Path(path) for path in paths]))
    rules = as_mapping(mapping)
    if not settings.input_cache:
        return _read_places(area, chosen, rules)
    digest = hashlib.sha256(_cache_context(area).encode())
    # a changed mapping reads the files otherwise: it is part of the key
    digest.update(f"|mapping|{rules.digest() if rules is not None else '-'}".encode())
    for kind, paths in chosen:
        for path in paths:
            _check_file(path, kind if kind != "osm" else "OpenStreetMap")
            # a file's own mapping section goes by its name: the name is part of the key too
            digest.update(f"|{kind}|{path.name}|{_frame_cache.file_digest(path)}".encode())
    return _frame_cache.cached_frame(settings.processed_dir / "places", slug(area.slug, field="area"),
                                     digest.hexdigest(), lambda: _read_places(area, chosen, rules))


def _cache_context(area: Area) -> str:
    """Return what the places of ``area`` depend on besides the files' bytes, as text."""
    from passages import _inputs, _names, _place_readers, mapping

    code = _frame_cache.code_digest([sys.modules[__name__], _place_readers, _names, _inputs, mapping])
    limits = (STOP_MERGE_M, DUPLICATE_M, MAX_ENROLLMENT, _place_readers.FAR_FROM_AREA_KM)
    return f"places|{code}|{area.slug}|{area.crs}|{area.study_polygon.wkt}|{settings.input_crs}|{limits}"


def _read_places(area: Area, chosen: Sequence[tuple[str, Sequence[Path]]],
                 mapping: InputMapping | None = None) -> gpd.GeoDataFrame:
    """Read, clip and de-duplicate the places of ``area`` (:func:`load_places` without its cache)."""
    frames: list[gpd.GeoDataFrame] = []
    wanted = [kind for kind, _ in chosen]
    for kind, paths in chosen:
        frames.extend(_read_source(kind, path, area, mapping) for path in paths)
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

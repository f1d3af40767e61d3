"""Local business corridors: storefronts read from business files, grouped into runs of street.

The Safe Passages program runs walks "within or near local business and mass transit
locations". A plan with business files gets *corridors* as destinations, not one point
per shop:

1. **Storefronts** are read from a business listing or OSM points of interest
   (:func:`read_storefronts`): the City of Los Angeles "Listing of All Businesses"
   (``LOCATION`` as ``"(lat, lon)"``; rows with a ``LOCATION END DATE`` are closed and left
   out), its grocery-store subset (a shapefile, zipped or not, whose end date column is
   ``LOCATION E``), Geofabrik's ``gis_osm_pois`` table (``fclass, name, lon, lat``; only
   the shop and food-and-drink classes of :data:`STOREFRONT_CLASSES`), or any CSV/GeoJSON
   with latitude and longitude (every row a storefront).
2. Each storefront is snapped to its nearest street segment within
   :data:`passages.settings.storefront_snap_m` metres (:func:`group_corridors`).
3. A **corridor** is a run of segments of one named street that carry storefronts,
   touching end to end; a segment without storefronts between two that have some joins
   them (a corridor survives one block without a shop). A run with at least
   :data:`passages.settings.corridor_min_storefronts` storefronts is a corridor; lone shops
   are not.
4. Each corridor is a place of kind ``"business"`` at the corridor node nearest its
   storefronts' centre, named after its street and its number of storefronts.

Walks to the corridors (:func:`business_pairs`): every walk origin (the site, a home
block) to its nearest corridor along the network within the home walking limit, and every
transit stop the plan's schools link to, to its nearest corridor within the link radius;
each carries ``business_share`` of its origin's walkers (purposes ``"home-business"`` and
``"transit-business"``).
"""

from __future__ import annotations

import hashlib
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from passages import settings
from passages._errors import InputError
from passages._inputs import read_text_csv
from passages._place_readers import _read_table
from passages.areas import Area
from passages.streetindex import StreetIndex

#: Geofabrik ``fclass`` values taken as storefronts: shops, food and drink, and the
#: services people walk to on a shopping street.
STOREFRONT_CLASSES = frozenset({
    "supermarket", "convenience", "bakery", "butcher", "greengrocer", "kiosk", "beverages", "general",
    "department_store", "mall", "clothes", "shoe_shop", "jeweller", "florist", "gift_shop", "bookshop",
    "stationery", "newsagent", "mobile_phone_shop", "computer_shop", "video_shop", "toy_shop", "sports_shop",
    "outdoor_shop", "bicycle_shop", "furniture_shop", "garden_centre", "doityourself", "hardware",
    "chemist", "pharmacy", "optician", "hairdresser", "beauty_shop", "laundry", "travel_agent",
    "restaurant", "fast_food", "cafe", "bar", "pub", "food_court", "biergarten", "ice_cream",
    "bank", "post_office", "cinema", "theatre", "nightclub", "car_rental",
})

#: Columns of a storefronts frame, in order.
STOREFRONT_COLUMNS = ("storefront_id", "name", "source", "geometry")

_WGS84 = "EPSG:4326"
_VECTOR_SUFFIXES = (".zip", ".shp", ".gpkg", ".geojson", ".json")


def _key(column: str) -> str:
    return re.sub(r"[\s_#]+", "", column).lower()


def _find(columns: Sequence[str], *candidates: str) -> str | None:
    keys = {_key(c): c for c in columns}
    for candidate in candidates:
        if _key(candidate) in keys:
            return keys[_key(candidate)]
    return None


def read_storefronts(path: str | Path, *, area: Area | None = None) -> gpd.GeoDataFrame:
    """Read the storefronts of one business file (EPSG:4326 points).

    Parameters
    ----------
    path
        A business listing CSV, a Geofabrik POI CSV, a CSV with latitude and longitude
        columns, or a vector file (zipped shapefile, shapefile, GeoPackage, GeoJSON).
    area
        When given, only storefronts inside its study polygon are kept.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`STOREFRONT_COLUMNS`; closed businesses, rows without coordinates and
        points of interest that are not storefronts are left out.

    Raises
    ------
    InputError
        The file is missing, has no coordinates, or its coordinates are not degrees.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path, field="--businesses",
                         fix="Give an existing business listing or POI file.")
    suffix = path.suffix.lower()
    if suffix in _VECTOR_SUFFIXES:
        frame = _read_vector(path)
    elif suffix in (".csv", ".txt"):
        frame = _read_csv(path)
    else:
        raise InputError(f"unknown file type {suffix or '(no suffix)'!r}", path=path, field="--businesses",
                         fix="Give a CSV, a zipped shapefile, a GeoPackage or a GeoJSON file.")
    x, y = shapely.get_x(frame.geometry.array), shapely.get_y(frame.geometry.array)
    located = np.isfinite(x) & np.isfinite(y) & ~((x == 0) & (y == 0))
    outside = located & ((np.abs(x) > 180) | (np.abs(y) > 90))
    if outside.sum() * 2 >= max(located.sum(), 1) and outside.any():
        raise InputError(f"coordinates are not longitude/latitude degrees: {int(outside.sum())} of "
                         f"{int(located.sum())} storefronts lie beyond ±180°/±90°", path=path, field="latitude",
                         fix="Give longitude/latitude in degrees (EPSG:4326), or a vector file with its CRS.")
    frame = frame[located & ~outside].reset_index(drop=True)
    if area is not None and len(frame):
        inside = shapely.contains_xy(area.study_polygon, shapely.get_x(frame.geometry.array),
                                     shapely.get_y(frame.geometry.array))
        frame = frame[inside].reset_index(drop=True)
    return frame


def _frame(ids: Sequence[str] | np.ndarray, names: Sequence[str] | np.ndarray, source: str, lon: np.ndarray,
           lat: np.ndarray) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"storefront_id": list(ids), "name": list(names), "source": source},
                            geometry=gpd.points_from_xy(lon, lat), crs=_WGS84)


def _open(end: pd.Series) -> np.ndarray:
    """Rows whose end date is empty: businesses still open."""
    text = end.astype("string").str.strip()
    return (text.isna() | (text == "") | (text.str.lower().isin(["none", "nan"]))).to_numpy(dtype=bool)


def _read_csv(path: Path) -> gpd.GeoDataFrame:
    table = read_text_csv(path, what="business file", field="--businesses",
                          fix="Give a comma-separated file with a header row, in UTF-8.")
    columns = list(table.columns)
    ids = _find(columns, "LOCATION ACCOUNT #", "osm_id", "id", "FID")
    name = _find(columns, "DBA NAME", "BUSINESS NAME", "name")
    row_ids = table[ids].tolist() if ids else [str(i + 1) for i in range(len(table))]
    names = _names(table, name, _find(columns, "BUSINESS NAME"))
    location = _find(columns, "LOCATION")
    if location is not None and _find(columns, "LOCATION END DATE") is not None:
        pairs = table[location].str.extract(r"\(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*\)")
        lat = pd.to_numeric(pairs[0], errors="coerce").to_numpy(dtype=float)
        lon = pd.to_numeric(pairs[1], errors="coerce").to_numpy(dtype=float)
        keep = _open(table[_find(columns, "LOCATION END DATE") or ""])
        return _frame(np.asarray(row_ids)[keep], np.asarray(names)[keep], "business listing", lon[keep], lat[keep])
    lat_col = _find(columns, "lat", "latitude", "Y_Coor", "stop_lat")
    lon_col = _find(columns, "lon", "long", "longitude", "X_Coor", "stop_lon")
    if lat_col is None or lon_col is None:
        raise InputError("no latitude and longitude columns", path=path, field="latitude",
                         fix="Give columns named lat and lon (or latitude and longitude), or the City's business "
                             "listing with its LOCATION column.")
    lat = pd.to_numeric(table[lat_col], errors="coerce").to_numpy(dtype=float)
    lon = pd.to_numeric(table[lon_col], errors="coerce").to_numpy(dtype=float)
    keep = np.ones(len(table), dtype=bool)
    source = "businesses"
    if (fclass := _find(columns, "fclass")) is not None:
        keep = table[fclass].str.strip().str.lower().isin(STOREFRONT_CLASSES).to_numpy(dtype=bool)
        source = "OpenStreetMap points of interest"
    return _frame(np.asarray(row_ids)[keep], np.asarray(names)[keep], source, lon[keep], lat[keep])


def _names(table: pd.DataFrame, first: str | None, second: str | None) -> list[str]:
    """Trading name, else business name, else empty."""
    names = table[first].astype(str).str.strip() if first else pd.Series([""] * len(table))
    if second and second != first:
        names = names.where(names != "", table[second].astype(str).str.strip())
    return names.tolist()


def _read_vector(path: Path) -> gpd.GeoDataFrame:
    # the place readers' checked opening: the suffix, the first bytes (GDAL picks its driver by
    # content) and the one shapefile inside a zip
    read = _read_table(path, "business")
    if not isinstance(read, gpd.GeoDataFrame):
        raise InputError("holds no geometry", path=path, field="--businesses",
                         fix="Give a GeoPackage, GeoJSON or shapefile of points, or a CSV with lat and lon.")
    table = read
    if table.crs is not None and not table.crs.equals(_WGS84):
        table = table.to_crs(_WGS84)
    columns = [c for c in table.columns if c != "geometry"]
    ids = _find(columns, "LOCATION A", "LOCATION ACCOUNT #", "osm_id", "id")
    end = _find(columns, "LOCATION E", "LOCATION END DATE")
    keep = _open(table[end]) if end else np.ones(len(table), dtype=bool)
    points = table.geometry.representative_point()
    row_ids = table[ids].astype(str).tolist() if ids else [str(i + 1) for i in range(len(table))]
    names = _names(table, _find(columns, "DBA NAME", "name"), _find(columns, "BUSINESS N", "BUSINESS NAME"))
    return _frame(np.asarray(row_ids)[keep], np.asarray(names)[keep], "business listing",
                  shapely.get_x(points.array)[keep], shapely.get_y(points.array)[keep])


def group_corridors(storefronts: gpd.GeoDataFrame, index: StreetIndex, *, snap_m: float | None = None,
                    min_storefronts: int | None = None) -> gpd.GeoDataFrame:
    """Group storefronts into corridors: runs of one named street with many of them.

    Parameters
    ----------
    storefronts
        Points in the index CRS (metres).
    index
        Street index of the projected graph.
    snap_m
        Storefronts farther than this from every street are left out (metres); default
        :data:`passages.settings.storefront_snap_m`.
    min_storefronts
        Fewest storefronts a corridor has; default
        :data:`passages.settings.corridor_min_storefronts`.

    Returns
    -------
    geopandas.GeoDataFrame
        One place per corridor, in the places columns (``place_id`` ``"business:1"``...,
        ``kind`` ``"business"``, ``name``, ``source``, ``enrollment`` empty), with
        ``storefronts`` (count), ``length_m`` (metres of street), ``node`` (OSM id of the
        corridor node nearest its storefronts' centre) and ``segments`` (segment indices);
        geometry the point of that node. Largest corridors first.
    """
    snap_m = settings.storefront_snap_m if snap_m is None else float(snap_m)
    min_storefronts = settings.corridor_min_storefronts if min_storefronts is None else int(min_storefronts)
    empty = gpd.GeoDataFrame({"place_id": [], "kind": [], "name": [], "source": [], "enrollment": [],
                              "storefronts": [], "length_m": [], "node": [], "segments": []},
                             geometry=[], crs=index.crs)
    if len(storefronts) == 0 or index.n_segments == 0:
        return empty
    xy = shapely.get_coordinates(storefronts.geometry.array)
    segment, _, _ = index.snap_points(xy, max_distance_m=snap_m)
    on_street = segment >= 0
    count = np.bincount(segment[on_street], minlength=index.n_segments)
    names = index.segment_name
    named = names != ""
    shops = (count > 0) & named
    # a shopless segment between two shop segments of the same street joins them
    touching = _same_street_neighbours(index, shops, names)
    gap = ~shops & named & (touching >= 2)
    member = shops | gap
    rows = np.flatnonzero(member)
    if len(rows) == 0:
        return empty
    # segments of one street touching end to end are one run
    u, v = index.segment_u[rows], index.segment_v[rows]
    ends = np.concatenate([u, v])
    seg_of_end = np.concatenate([rows, rows])
    _, street_rank = np.unique(names[seg_of_end].astype(str), return_inverse=True)
    # ends sorted by node, then street: the segments of one street at one node sit side by side
    order = np.lexsort((seg_of_end, street_rank, ends))
    ends, seg_of_end, street_rank = ends[order], seg_of_end[order], street_rank[order]
    link = (ends[1:] == ends[:-1]) & (street_rank[1:] == street_rank[:-1])
    a, b = seg_of_end[:-1], seg_of_end[1:]
    position = np.full(index.n_segments, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    graph = coo_matrix((np.ones(int(link.sum())), (position[a[link]], position[b[link]])),
                       shape=(len(rows), len(rows)))
    _, run = connected_components(graph, directed=False)
    run_count = np.bincount(run, weights=count[rows])
    keep_runs = np.flatnonzero(run_count >= min_storefronts)
    if len(keep_runs) == 0:
        return empty
    store_seg = segment[on_street]
    store_xy = xy[on_street]
    records = []
    for r in keep_runs.tolist():
        segs = rows[run == r]
        in_run = np.isin(store_seg, segs)
        centre = store_xy[in_run].mean(axis=0)
        nodes = np.unique(np.concatenate([index.segment_u[segs], index.segment_v[segs]]))
        gaps = np.linalg.norm(index.node_xy[nodes] - centre, axis=1)
        best = nodes[np.lexsort((index.node_ids[nodes], gaps))[0]]
        street = str(names[segs[np.argmax(count[segs])]])
        records.append((street, int(in_run.sum()), float(index.segment_length[segs].sum()),
                        int(index.node_ids[best]), index.node_xy[best], np.sort(segs)))
    records.sort(key=lambda rec: (-rec[1], rec[0], rec[3]))
    return gpd.GeoDataFrame(
        {
            "place_id": [f"business:{i + 1}" for i in range(len(records))],
            "kind": "business",
            "name": [f"{street} ({stores} storefronts)" for street, stores, *_ in records],
            "source": "business corridor",
            "enrollment": np.nan,
            "storefronts": [rec[1] for rec in records],
            "length_m": [round(rec[2], 1) for rec in records],
            "node": np.array([rec[3] for rec in records], dtype=np.int64),
            "segments": [rec[5] for rec in records],
        },
        geometry=shapely.points(np.array([rec[4] for rec in records])), crs=index.crs)


def _same_street_neighbours(index: StreetIndex, shops: np.ndarray, names: np.ndarray) -> np.ndarray:
    """For each segment, at how many of its two ends a shop segment of the same street meets it."""
    _, street = np.unique(names.astype(str), return_inverse=True)
    streets = int(street.max(initial=0)) + 1
    # (node, street) of either end of every shop segment, as one integer key
    shop_ends = np.concatenate([index.segment_u[shops], index.segment_v[shops]]) * streets + np.tile(
        street[shops], 2)
    return (np.isin(index.segment_u * streets + street, shop_ends).astype(np.int64)
            + np.isin(index.segment_v * streets + street, shop_ends))


def business_pairs(corridors: gpd.GeoDataFrame, walks: pd.DataFrame, index: StreetIndex, *,
                   share: float | None = None, walk_limit_m: float | None = None,
                   link_radius_m: float | None = None) -> pd.DataFrame:
    """Return the walks to the business corridors.

    Parameters
    ----------
    corridors
        From :func:`group_corridors` (usable ones).
    walks
        The plan's other pairs (:func:`passages.routes.od_pairs` columns): the walks to
        school give each origin's walkers, the school-transit links each stop's.
    index
        Street index.
    share
        Share of an origin's walkers who also walk to a corridor; default
        :data:`passages.settings.business_share`.
    walk_limit_m
        Longest walk from a home origin to a corridor (metres); default
        :data:`passages.settings.home_walk_m`.
    link_radius_m
        Longest walk from a stop to a corridor (metres); default
        :data:`passages.settings.link_radius_m`.

    Returns
    -------
    pandas.DataFrame
        Pairs in :func:`passages.routes.od_pairs`'s columns but ``pair_id``.
    """
    share = settings.business_share if share is None else float(share)
    walk_limit_m = settings.home_walk_m if walk_limit_m is None else float(walk_limit_m)
    link_radius_m = settings.link_radius_m if link_radius_m is None else float(link_radius_m)
    columns = ["purpose", "origin_id", "origin_name", "origin_node", "dest_id", "dest_name", "dest_kind",
               "dest_node", "demand"]
    if len(corridors) == 0 or len(walks) == 0 or share <= 0:
        return pd.DataFrame({c: [] for c in columns})
    # origins: the starts of the walks to school, with their walkers; the stops schools link to, with theirs
    to_school = walks[walks["purpose"] == "home-school"]
    homes = to_school.groupby(["origin_id", "origin_name", "origin_node"], sort=True)["demand"].sum().reset_index()
    stops = walks[walks["dest_kind"] == "transit"].groupby(["dest_id", "dest_name", "dest_node"], sort=True)[
        "demand"].sum().reset_index()
    stops.columns = ["origin_id", "origin_name", "origin_node", "demand"]
    corridor_pos = index.node_positions(corridors["node"].to_numpy(dtype=np.int64))
    sources, first = np.unique(corridor_pos, return_index=True)
    dist, _, nearest = dijkstra(index.weighted(index.segment_length).matrix, indices=sources, min_only=True,
                                return_predecessors=True, limit=max(walk_limit_m, link_radius_m))
    # the corridor at each source node (the first of several at one node)
    corridor_at = np.full(index.n_nodes, -1, dtype=np.int64)
    corridor_at[sources] = first
    parts = []
    for purpose, origins, limit in (("home-business", homes, walk_limit_m), ("transit-business", stops, link_radius_m)):
        if len(origins) == 0:
            continue
        pos = index.node_positions(origins["origin_node"].to_numpy(dtype=np.int64))
        reach = np.isfinite(dist[pos]) & (dist[pos] <= limit)
        chosen = origins[reach]
        to = corridor_at[nearest[pos[reach]]]
        parts.append(pd.DataFrame({
            "purpose": purpose,
            "origin_id": chosen["origin_id"].astype(str).to_numpy(),
            "origin_name": chosen["origin_name"].astype(str).to_numpy(),
            "origin_node": chosen["origin_node"].to_numpy(dtype=np.int64),
            "dest_id": corridors["place_id"].astype(str).to_numpy()[to],
            "dest_name": corridors["name"].astype(str).to_numpy()[to],
            "dest_kind": "business",
            "dest_node": corridors["node"].to_numpy(dtype=np.int64)[to],
            "demand": share * chosen["demand"].to_numpy(dtype=float),
        }, columns=columns))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({c: [] for c in columns})
    return frame.astype({"origin_node": np.int64, "dest_node": np.int64, "demand": float})


def load_storefronts(area: Area, paths: Sequence[Path]) -> gpd.GeoDataFrame:
    """Read the storefronts of an area from its business files (area UTM CRS).

    Parsed files are cached under ``data/processed/businesses`` (keyed by the files' bytes
    and this module's code, as places are: :mod:`passages._frame_cache`) when
    :data:`passages.settings.input_cache` is on.

    Parameters
    ----------
    area
        The area; only storefronts inside its study polygon are kept.
    paths
        Business files (:func:`read_storefronts`); none gives an empty frame and a note.
    """
    from passages import _frame_cache
    from passages._names import slug

    if not paths:
        warnings.warn(f"area {area.slug!r}: no business file, so no business corridor is planned "
                      "(give one with --businesses)", UserWarning, stacklevel=2)
        return gpd.GeoDataFrame({c: [] for c in STOREFRONT_COLUMNS[:-1]}, geometry=[], crs=area.crs)

    def read() -> gpd.GeoDataFrame:
        frames = [read_storefronts(path, area=area) for path in paths]
        frames = [frame for frame in frames if len(frame)]
        if not frames:
            return gpd.GeoDataFrame({c: [] for c in STOREFRONT_COLUMNS[:-1]}, geometry=[], crs=area.crs)
        return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=_WGS84).to_crs(area.crs)

    if not settings.input_cache:
        return read()
    digest = hashlib.sha256(f"businesses|{_frame_cache.code_digest([sys.modules[__name__]])}|{area.slug}|"
                            f"{area.crs}|{area.study_polygon.wkt}".encode())
    for path in paths:
        if not Path(path).is_file():
            raise InputError("file not found", path=path, field="--businesses",
                             fix="Give an existing business listing or POI file.")
        digest.update(f"|{Path(path).name}|{_frame_cache.file_digest(Path(path))}".encode())
    return _frame_cache.cached_frame(settings.processed_dir / "businesses", slug(area.slug, field="area"),
                                     digest.hexdigest(), read)


def corridor_places(corridors: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return corridors as snapped places (``usable``, ``snap_m`` 0: they lie on the street)."""
    places = corridors.drop(columns=["segments"]).copy()
    places["snap_m"] = 0.0
    places["usable"] = True
    return places

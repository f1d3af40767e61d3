"""The walking network of an area, from OpenStreetMap.

:func:`load_network` reads the street network from one of five sources, keeps the walkable
ways, clips it to the area's study polygon, keeps the largest connected component,
simplifies it and projects it to the area's UTM zone. The result is cached under
``data/processed/networks`` keyed on the source and the polygon, so a second run reads it
back instead of rebuilding it.

Sources
-------
* ``None``: the Overpass API through osmnx (``graph_from_polygon``, ``network_type="walk"``),
  with osmnx's HTTP cache under ``data/raw/osmnx-cache``: the path a planner with internet
  takes for the CSP sites.
* ``.osm`` / ``.osm.bz2`` / ``.xml``: OpenStreetMap XML.
* ``.json``: an Overpass JSON response (what Overpass Turbo exports and osmnx caches).
* ``.osm.pbf``: a PBF extract, read with pyrosm (the ``pbf`` extra).
* ``.graphml``: a graph saved by osmnx (``ox.save_graphml``), assumed to be walkable already.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import pickle
import re
from pathlib import Path
from typing import Any

import networkx as nx
import osmnx as ox
import pyproj
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from passages import settings
from passages._errors import EmptyResultError, InputError, PassagesError
from passages._io import write_atomic
from passages.areas import Area
from passages.streetindex import StreetIndex

__all__ = ["StreetIndex", "is_walkable", "load_network", "network_source_kind"]

#: Bumped whenever the way filter or the cleaning steps change, to invalidate caches.
CACHE_VERSION = 2

# The walking filter of osmnx (``network_type="walk"``), applied to local files so they give
# the same network as a live Overpass query: no motorways, cycleways, private or
# foot=no ways, and no sidewalks mapped separately on the street they belong to.
_EXCLUDED_HIGHWAY = re.compile(
    "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|proposed|"
    "raceway|razed|rest_area|services"
)
_SEPARATE_SIDEWALK_TAGS = ("sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right")


def is_walkable(tags: dict[str, str]) -> bool:
    """Return whether an OSM way with these tags belongs to the walking network.

    Mirrors osmnx's ``walk`` filter: a ``highway`` that is not a motorway, cycleway,
    construction or similar; not an area; not ``access=private``, ``foot=no`` or
    ``service=private``; not a street whose sidewalks are mapped as separate ways.
    """
    highway = tags.get("highway")
    if not highway or _EXCLUDED_HIGHWAY.search(highway):
        return False
    if re.search("yes", tags.get("area", "")):
        return False
    if re.search("private", tags.get("access", "")):
        return False
    if re.search("no", tags.get("foot", "")):
        return False
    if re.search("private", tags.get("service", "")):
        return False
    return not any(re.search("separate", tags.get(k, "")) for k in _SEPARATE_SIDEWALK_TAGS)


def network_source_kind(source: str | Path | None) -> str:
    """Return the kind of a network source: ``overpass``, ``xml``, ``json``, ``pbf`` or ``graphml``.

    Raises
    ------
    InputError
        If the file name has none of the known endings.
    """
    if source is None:
        return "overpass"
    name = Path(source).name.lower()
    for ending, kind in (
        (".osm.pbf", "pbf"), (".pbf", "pbf"), (".osm.bz2", "xml"), (".osm", "xml"),
        (".xml", "xml"), (".json", "json"), (".graphml", "graphml"),
    ):
        if name.endswith(ending):
            return kind
    raise InputError(
        "unknown street network format", path=source,
        fix="Give an .osm, .osm.bz2, .osm.pbf, Overpass .json or .graphml file.",
    )


def _read_overpass_json(path: Path) -> dict[str, Any]:
    try:
        opener = bz2.open if path.name.endswith(".bz2") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise InputError(f"not a readable Overpass JSON response ({exc})", path=path,
                         fix="Export the data from Overpass as JSON ([out:json]).") from None
    if not isinstance(data, dict) or "elements" not in data:
        raise InputError("no 'elements' list", path=path, field="elements",
                         fix="Give an Overpass JSON response ([out:json]; out body; >; out skel qt;).")
    return data


def _read_osm_xml(path: Path) -> dict[str, Any]:
    from osmnx import _osm_xml  # the XML -> Overpass-JSON converter behind graph_from_xml

    try:
        return dict(_osm_xml._overpass_json_from_xml(path, "utf-8"))
    except Exception as exc:  # the SAX parser raises several types
        raise InputError(f"not readable OpenStreetMap XML ({exc})", path=path,
                         fix="Give an .osm or .osm.bz2 file exported from OpenStreetMap.") from None


def _walkable_elements(data: dict[str, Any]) -> dict[str, Any]:
    """Keep every node and the walkable ways of an Overpass response."""
    elements = [
        e for e in data["elements"]
        if e.get("type") == "node" or (e.get("type") == "way" and is_walkable(e.get("tags", {})))
    ]
    return {**data, "elements": elements}


def _graph_from_elements(data: dict[str, Any], path: Path) -> nx.MultiDiGraph:
    from osmnx import graph as ox_graph  # builds the graph exactly as graph_from_xml does

    data = _walkable_elements(data)
    if not any(e.get("type") == "way" for e in data["elements"]):
        raise InputError("no walkable streets in the file", path=path,
                         fix="Check that the extract holds highway ways for the area.")
    return ox_graph._create_graph([data], bidirectional=True)


def _graph_from_pbf(path: Path, polygon: BaseGeometry) -> nx.MultiDiGraph:
    try:
        from pyrosm import OSM
    except ImportError:
        raise PassagesError(
            "reading .osm.pbf needs pyrosm: pip install 'passages[pbf]'"
        ) from None
    osm = OSM(str(path), bounding_box=polygon)
    nodes, edges = osm.get_network(network_type="walking", nodes=True)
    if edges is None or len(edges) == 0:
        raise InputError("no walkable streets inside the area", path=path,
                         fix="Check that the extract covers the area.")
    graph: nx.MultiDiGraph = osm.to_graph(nodes, edges, graph_type="networkx")
    graph.graph["crs"] = settings.input_crs
    graph.graph["simplified"] = False  # pyrosm splits ways at every node: simplify like osmnx
    return graph


def _polygon_in(graph: nx.MultiDiGraph, polygon: Polygon | MultiPolygon) -> Polygon | MultiPolygon:
    """Return ``polygon`` (EPSG:4326) in the CRS of ``graph``."""
    crs = pyproj.CRS.from_user_input(graph.graph.get("crs", settings.input_crs))
    if crs.equals(pyproj.CRS.from_user_input(settings.input_crs)):
        return polygon
    projected = ox.projection.project_geometry(polygon, crs=settings.input_crs, to_crs=crs)[0]
    assert isinstance(projected, Polygon | MultiPolygon)
    return projected


def _clean(graph: nx.MultiDiGraph, area: Area, *, simplify: bool, source: Path | str) -> nx.MultiDiGraph:
    """Clip to the study polygon, keep the largest component, simplify, project to UTM."""
    polygon = _polygon_in(graph, area.study_polygon)
    try:
        graph = ox.truncate.truncate_graph_polygon(graph, polygon, truncate_by_edge=True)
    except ValueError:
        raise EmptyResultError(
            f"{source}: no street of the network lies inside the study area of {area.slug!r} "
            f"(centre {area.lat:.4f}, {area.lon:.4f}, radius {area.radius_m:.0f} m). "
            "Give a network that covers the area."
        ) from None
    graph = ox.truncate.largest_component(graph, strongly=False)
    if simplify:
        graph = ox.simplify_graph(graph)
    graph = ox.project_graph(graph, to_crs=area.crs)
    if graph.number_of_edges() == 0:
        raise EmptyResultError(f"{source}: the network of {area.slug!r} has no street left "
                               "after cleaning. Give a network that covers the area.")
    return graph


def _read_graph(area: Area, source: Path) -> tuple[nx.MultiDiGraph, bool]:
    """Return the raw graph of a local source and whether it still needs simplifying."""
    kind = network_source_kind(source)
    if kind == "graphml":
        try:
            return ox.load_graphml(source), False
        except Exception as exc:
            raise InputError(f"not a readable GraphML graph ({exc})", path=source,
                             fix="Save the graph with osmnx.save_graphml.") from None
    if kind == "pbf":
        return _graph_from_pbf(source, area.study_polygon.buffer(0.002)), True
    data = _read_overpass_json(source) if kind == "json" else _read_osm_xml(source)
    graph = _graph_from_elements(data, source)
    stamp = (data.get("osm3s") or {}).get("timestamp_osm_base")
    if stamp:
        graph.graph["osm_timestamp"] = str(stamp)
    return graph, True


def _overpass_graph(area: Area, raw_dir: Path) -> nx.MultiDiGraph:
    ox.settings.use_cache = True
    ox.settings.cache_folder = str(raw_dir / "osmnx-cache")
    try:
        graph = ox.graph_from_polygon(
            area.study_polygon, network_type="walk", simplify=True, retain_all=False,
            truncate_by_edge=True,
        )
    except Exception as exc:  # requests' and osmnx's own errors
        raise PassagesError(
            f"could not download the street network of {area.slug!r} from Overpass ({exc}). "
            "Check the internet connection, or give a local file with --network."
        ) from None
    return ox.project_graph(graph, to_crs=area.crs)


def _cache_key(area: Area, source: Path | None) -> str:
    digest = hashlib.sha256()
    digest.update(f"v{CACHE_VERSION}|osmnx {ox.__version__}|{area.crs}|".encode())
    digest.update(area.study_polygon_utm.wkb)
    if source is None:
        digest.update(b"overpass")
    else:
        with source.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def load_network(
    area: Area,
    source: str | Path | None = None,
    *,
    offline: bool = False,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> nx.MultiDiGraph:
    """Return the walking network of an area, projected to its UTM zone.

    Parameters
    ----------
    area
        The area; the network is clipped to its study polygon (site + ``radius_m``).
    source
        A local file (``.osm``, ``.osm.bz2``, Overpass ``.json``, ``.osm.pbf``,
        ``.graphml``), or ``None`` to query Overpass through osmnx.
    offline
        Refuse to touch the internet: ``source`` must then be a local file.
    cache_dir
        Folder of the processed-network cache; default ``settings.processed_dir /
        "networks"``. osmnx's HTTP cache goes to ``settings.raw_dir``.
    use_cache
        Read and write the cache.

    Returns
    -------
    networkx.MultiDiGraph
        An osmnx graph in ``area.crs`` (metres): node ``x``/``y``, edge ``length`` (m),
        ``geometry``, ``name``, ``highway``. ``graph.graph["source"]`` names the source and
        ``graph.graph["osm_timestamp"]`` gives the OSM data date when the file states it.

    Raises
    ------
    InputError
        The file is missing or unreadable, or ``offline`` without a local source.
    EmptyResultError
        No walkable street lies inside the study area.
    """
    path = Path(source) if source is not None else None
    if path is None and offline:
        raise InputError(
            f"area {area.slug!r} has no local street network and --offline was given",
            field="--network",
            fix="Give an OSM file with --network, or drop --offline to download from Overpass.",
        )
    if path is not None:
        network_source_kind(path)
        if not path.is_file():
            raise InputError("file not found", path=path,
                             fix="Check the path of the street network file.")
        if path.stat().st_size == 0:
            raise InputError("file is empty", path=path,
                             fix="Give a street network file with data in it.")
    cache_folder = Path(cache_dir) if cache_dir is not None else settings.processed_dir / "networks"
    cache_file = cache_folder / f"{area.slug}-{_cache_key(area, path)}.pickle"
    if use_cache and cache_file.is_file():
        try:
            with cache_file.open("rb") as handle:
                cached: nx.MultiDiGraph = pickle.load(handle)
            return cached
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            cache_file.unlink(missing_ok=True)  # a stale cache is rebuilt, not trusted
    if path is None:
        graph = _overpass_graph(area, settings.raw_dir)
        label = "OpenStreetMap via Overpass"
    else:
        raw, needs_simplify = _read_graph(area, path)
        graph = _clean(raw, area, simplify=needs_simplify, source=path)
        label = str(path)
    graph.graph["source"] = label
    graph.graph.setdefault("osm_timestamp", "")
    graph.graph["area"] = area.slug
    if use_cache:
        write_atomic(cache_file, pickle.dumps(graph, protocol=pickle.HIGHEST_PROTOCOL))
    return graph


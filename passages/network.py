"""The walking network of an area, from OpenStreetMap.

:func:`load_network` reads the street network from one of five sources, keeps the walkable
ways, clips it to the area's study polygon, keeps the largest connected component,
simplifies it and projects it to the area's UTM zone. The result is cached under
``data/processed/networks`` keyed on the source and the polygon, so a second run reads it
back instead of rebuilding it. The cache holds data only (NumPy arrays read without
pickle, JSON attributes, a manifest with the SHA-256 of each file; see
:mod:`passages._network_cache`); a damaged or changed entry is rebuilt with a note, and
``*.pickle`` files left there by older versions are deleted unread.

Sources
-------
* ``None``: the Overpass API through osmnx (``graph_from_polygon``, ``network_type="walk"``),
  with osmnx's HTTP cache under ``data/raw/osmnx-cache``: the path a planner with internet
  takes for the CSP sites.
* ``.osm`` / ``.osm.bz2`` / ``.xml``: OpenStreetMap XML.
* ``.json``: an Overpass JSON response (what Overpass Turbo exports and osmnx caches).
* ``.osm.pbf``: a PBF extract, read with pyrosm (the ``pbf`` extra).
* ``.graphml``: a graph saved by osmnx (``ox.save_graphml``), assumed to be walkable already.

Hostile or damaged files
------------------------
Every local file first passes :func:`passages._inputs.check_file` (missing, a folder, a
device such as ``/dev/zero``, unreadable, empty). After that, each problem ends either in
one :class:`~passages._errors.InputError` naming the file, or in a counted note:

* refused: a file that cannot be parsed at all (garbage or truncated JSON, XML, bzip2,
  GraphML; a ``.pbf`` without the OSM PBF header, or one pyrosm cannot read); JSON that is
  not an object or whose ``elements`` is not a list; a GraphML graph with a node without
  finite ``x``/``y``, an edge without a finite ``length`` (m) or a geometry that is not a
  line, or an unknown CRS; a file left with no walkable street; and, as a last guard, any
  other error while building the graph (named by its type, never with a traceback);
* dropped with one counted note (``UserWarning``): elements that are not JSON objects;
  nodes without an integer ``id`` or without a numeric ``lat`` in [-90, 90] and ``lon`` in
  [-180, 180]; ways without an integer ``id`` or a list of integer node ids; tags that are
  not text; and the references of ways to nodes the file does not hold (the way is cut
  there: its pieces of two nodes or more are kept, as for an extract cut at its edge).
  Raw OSM extracts are often cut like this, so a few bad elements should not cost the run.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from collections import Counter
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import networkx as nx
import pyproj
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from passages import _network_cache, settings
from passages._errors import EmptyResultError, InputError, PassagesError
from passages._inputs import check_file
from passages._io import remove_stale_temporaries
from passages._names import slug
from passages.areas import Area
from passages.streetindex import StreetIndex

__all__ = ["StreetIndex", "is_walkable", "load_network", "network_source_kind"]


def _osmnx() -> ModuleType:
    """Return osmnx, imported on first use.

    Importing osmnx takes about 2 s (it pulls in scikit-learn, scipy.stats and matplotlib);
    a plan whose network is cached never needs it.
    """
    import osmnx

    return osmnx


@cache
def _osmnx_version() -> str:
    """Return the installed osmnx version without importing it (part of the cache key)."""
    return metadata.version("osmnx")


#: Bumped whenever the way filter or the cleaning steps change, to invalidate caches.
CACHE_VERSION = 4

#: The first bytes of an OSM PBF file after the 4-byte length: a BlobHeader of type "OSMHeader".
_PBF_HEADER = b"\x0a\x09OSMHeader"

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
        with path.open("rb") as handle:
            data = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable Overpass JSON response ({type(exc).__name__} at byte "
                         f"{getattr(exc, 'pos', getattr(exc, 'start', '?'))})", path=path,
                         fix="Export the data from Overpass as JSON ([out:json]).") from None
    except (OSError, RecursionError, MemoryError, ValueError) as exc:
        raise InputError(f"not a readable Overpass JSON response ({type(exc).__name__})", path=path,
                         fix="Export the data from Overpass as JSON ([out:json]).") from None
    if not isinstance(data, dict):
        raise InputError(f"the JSON is {_json_kind(data)}, not an Overpass response object", path=path,
                         fix="Give an Overpass JSON response ([out:json]; out body; >; out skel qt;).")
    if "elements" not in data:
        raise InputError("no 'elements' list", path=path, field="elements",
                         fix="Give an Overpass JSON response ([out:json]; out body; >; out skel qt;).")
    return data


def _json_kind(value: object) -> str:
    """Name the JSON type of ``value`` for a message ("a list", "a number", ...)."""
    kinds = ((dict, "an object"), (list, "a list"), (str, "a string"), (bool, "a boolean"),
             (int | float, "a number"))
    return next((name for kind, name in kinds if isinstance(value, kind)), "null")


def _read_osm_xml(path: Path) -> dict[str, Any]:
    from osmnx import _osm_xml  # the XML -> Overpass-JSON converter behind graph_from_xml

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # osmnx's "made by OSMnx" remark
            return dict(_osm_xml._overpass_json_from_xml(path, "utf-8"))
    except Exception as exc:  # the XML parsers and bz2 raise several types
        raise InputError(f"not readable OpenStreetMap XML ({type(exc).__name__})", path=path,
                         fix="Give an .osm or .osm.bz2 file exported from OpenStreetMap.") from None


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _coordinate(value: object, limit: float) -> float | None:
    """Return ``value`` as a float if it is a finite number within ±``limit`` (degrees)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and -limit <= number <= limit else None


def _text_tags(tags: object, skipped: Counter[str]) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        skipped["tag lists that are not objects"] += 1
        return {}
    clean = {k: v for k, v in tags.items() if isinstance(k, str) and isinstance(v, str)}
    if len(clean) != len(tags):
        skipped["tags that are not text"] += len(tags) - len(clean)
    return clean


def _checked_elements(data: dict[str, Any], path: Path) -> tuple[dict[int, dict[str, Any]], list[dict[str, Any]]]:
    """Return the valid nodes (by id) and the walkable ways of an Overpass response.

    Refuses (:class:`InputError`) an ``elements`` that is not a list; drops, with one
    counted note, the elements listed in the module docstring; cuts ways at the nodes the
    file does not hold. Relations and other element types are ignored, as osmnx does.
    """
    elements = data.get("elements")
    if not isinstance(elements, list):
        raise InputError(f"'elements' is {_json_kind(elements)}, not a list", path=path, field="elements",
                         fix="Give an Overpass JSON response ([out:json]; out body; >; out skel qt;).")
    skipped: Counter[str] = Counter()
    nodes: dict[int, dict[str, Any]] = {}
    ways: dict[int, dict[str, Any]] = {}
    for element in elements:
        if not isinstance(element, dict):
            skipped["elements that are not objects"] += 1
            continue
        kind = element.get("type")
        if kind == "node":
            lat, lon = _coordinate(element.get("lat"), 90.0), _coordinate(element.get("lon"), 180.0)
            if not _is_id(element.get("id")):
                skipped["nodes without an integer id"] += 1
            elif lat is None or lon is None:
                skipped["nodes without a valid lat/lon"] += 1
            else:
                nodes[element["id"]] = {"type": "node", "id": element["id"], "lat": lat, "lon": lon,
                                        "tags": _text_tags(element.get("tags"), skipped)}
        elif kind == "way":
            refs = element.get("nodes")
            if not _is_id(element.get("id")) or not isinstance(refs, list) or not all(_is_id(r) for r in refs):
                skipped["ways without an integer id and a list of node ids"] += 1
                continue
            tags = _text_tags(element.get("tags"), skipped)
            if is_walkable(tags):
                ways[element["id"]] = {"type": "way", "id": element["id"], "nodes": refs, "tags": tags}
    pieces: list[dict[str, Any]] = []
    for way in ways.values():
        runs: list[list[int]] = [[]]
        for ref in way["nodes"]:
            if ref in nodes:
                runs[-1].append(ref)
            else:
                skipped["references of ways to missing nodes"] += 1
                runs.append([])
        pieces.extend({**way, "nodes": run} for run in runs if len(run) >= 2)
    if skipped:
        counts = ", ".join(f"{n:,} {what}" for what, n in sorted(skipped.items()))
        warnings.warn(f"{path}: skipped {counts}", UserWarning, stacklevel=2)
    return nodes, pieces


def _graph_from_elements(data: dict[str, Any], path: Path) -> nx.MultiDiGraph:
    """Build the graph of the walkable ways exactly as osmnx's ``_create_graph`` does, but
    from checked elements, and with each piece of a cut way kept."""
    ox = _osmnx()
    from osmnx import graph as ox_graph

    nodes, ways = _checked_elements(data, path)
    if not ways:
        raise InputError("no walkable streets in the file", path=path,
                         fix="Check that the extract holds highway ways for the area.")
    graph = nx.MultiDiGraph(created_date=ox.utils.ts(), created_with=f"OSMnx {ox.__version__}",
                            crs=settings.input_crs)
    graph.add_nodes_from((node_id, ox_graph._convert_node(node)) for node_id, node in nodes.items())
    ox_graph._add_paths(graph, [ox_graph._convert_path(way) for way in ways], True)
    graph.remove_nodes_from([n for n, degree in graph.degree() if degree == 0])
    return ox.distance.add_edge_lengths(graph)


def _check_pbf_header(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(32)
    if len(head) < 15 or head[4:15] != _PBF_HEADER:
        raise InputError("not an OSM PBF file (no OSMHeader block at the start)", path=path,
                         fix="Give an .osm.pbf extract (for example from Geofabrik or osmium extract).")


def _graph_from_pbf(path: Path, polygon: BaseGeometry) -> nx.MultiDiGraph:
    try:
        from pyrosm import OSM
    except ImportError:
        raise PassagesError(
            "reading .osm.pbf needs pyrosm: pip install 'passages[pbf]'"
        ) from None
    _check_pbf_header(path)
    try:
        osm = OSM(str(path), bounding_box=polygon)
        nodes, edges = osm.get_network(network_type="walking", nodes=True)
    except Exception as exc:  # pyrosm's protobuf decoding raises many types
        raise InputError(f"not a readable OSM PBF file ({type(exc).__name__})", path=path,
                         fix="Give an .osm.pbf extract (for example from Geofabrik or osmium extract).") from None
    if edges is None or len(edges) == 0:
        raise InputError("no walkable streets inside the area", path=path,
                         fix="Check that the extract covers the area.")
    graph: nx.MultiDiGraph = osm.to_graph(nodes, edges, graph_type="networkx")
    graph.graph["crs"] = settings.input_crs
    graph.graph["simplified"] = False  # pyrosm splits ways at every node: simplify like osmnx
    return graph


def _check_graph(graph: nx.MultiDiGraph, path: Path) -> None:
    """Refuse a loaded graph (GraphML, Overpass) that the cleaning steps cannot work on."""
    fix = "Save the graph with osmnx.save_graphml from a working osmnx graph."
    if not isinstance(graph, nx.MultiDiGraph):
        raise InputError("the graph is not a directed multigraph as osmnx saves it", path=path, fix=fix)
    try:
        pyproj.CRS.from_user_input(graph.graph.get("crs", settings.input_crs))
    except (pyproj.exceptions.CRSError, TypeError, ValueError):
        raise InputError("the graph's CRS is not one pyproj knows", path=path, field="crs", fix=fix) from None
    for node, data in graph.nodes(data=True):
        x, y = data.get("x"), data.get("y")
        if _coordinate(x, math.inf) is None or _coordinate(y, math.inf) is None:
            raise InputError(f"node {_printable_id(node)} has no finite x/y", path=path, fix=fix)
    for u, v, data in graph.edges(data=True):
        length = _coordinate(data.get("length"), math.inf)
        if length is None or length < 0:
            raise InputError(f"edge {_printable_id(u)}-{_printable_id(v)} has no finite length (m)", path=path, fix=fix)
        geometry = data.get("geometry")
        if geometry is not None and (not isinstance(geometry, LineString) or geometry.is_empty):
            raise InputError(f"edge {_printable_id(u)}-{_printable_id(v)} has a geometry that is not a line",
                             path=path, fix=fix)


def _printable_id(value: object) -> str:
    """A node id as shown in a message: at most 40 characters."""
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _polygon_in(graph: nx.MultiDiGraph, polygon: Polygon | MultiPolygon) -> Polygon | MultiPolygon:
    """Return ``polygon`` (EPSG:4326) in the CRS of ``graph``."""
    ox = _osmnx()
    crs = pyproj.CRS.from_user_input(graph.graph.get("crs", settings.input_crs))
    if crs.equals(pyproj.CRS.from_user_input(settings.input_crs)):
        return polygon
    projected = ox.projection.project_geometry(polygon, crs=settings.input_crs, to_crs=crs)[0]
    assert isinstance(projected, Polygon | MultiPolygon)
    return projected


def _clean(graph: nx.MultiDiGraph, area: Area, *, simplify: bool, source: Path | str) -> nx.MultiDiGraph:
    """Clip to the study polygon, keep the largest component, simplify, project to UTM."""
    ox = _osmnx()
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
    _sort_merged_values(graph)
    return graph


def _sort_merged_values(graph: nx.MultiDiGraph) -> None:
    """Sort the lists osmnx makes when it merges ways (``name``, ``highway``, ``osmid``...).

    osmnx collects the values of merged ways through a set, so their order follows
    Python's string hashing, which changes from process to process: the same file gave
    "W 2nd St / 2nd Street Tunnel" in one build and "2nd Street Tunnel / W 2nd St" in the
    next. Sorted, the same file always gives the same names.
    """
    for _, _, data in graph.edges(data=True):
        for key, value in data.items():
            if isinstance(value, list) and len(value) > 1:
                kinds = {type(item) for item in value}
                if kinds == {str} or kinds <= {int}:
                    data[key] = sorted(value)


def _read_graph(area: Area, source: Path) -> tuple[nx.MultiDiGraph, bool]:
    """Return the raw graph of a local source and whether it still needs simplifying."""
    ox = _osmnx()
    kind = network_source_kind(source)
    if kind == "graphml":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                graph = ox.load_graphml(source)
        except Exception as exc:  # the XML parser and osmnx's type conversions raise many types
            raise InputError(f"not a readable GraphML graph ({type(exc).__name__})", path=source,
                             fix="Save the graph with osmnx.save_graphml.") from None
        _check_graph(graph, source)
        return graph, False
    if kind == "pbf":
        return _graph_from_pbf(source, area.study_polygon.buffer(0.002)), True
    data = _read_overpass_json(source) if kind == "json" else _read_osm_xml(source)
    graph = _graph_from_elements(data, source)
    osm3s = data.get("osm3s")
    stamp = osm3s.get("timestamp_osm_base") if isinstance(osm3s, dict) else None
    if isinstance(stamp, str) and stamp:
        graph.graph["osm_timestamp"] = stamp[:40]
    return graph, True


def _overpass_graph(area: Area, raw_dir: Path) -> nx.MultiDiGraph:
    """Download the walking graph of ``area`` from Overpass (osmnx, with its HTTP cache under
    ``raw_dir / "osmnx-cache"``), checked and projected to the area's UTM zone."""
    ox = _osmnx()
    from passages._overpass import download_graph  # requests and osmnx: only for a download

    graph = download_graph(area.study_polygon, cache_folder=raw_dir / "osmnx-cache",
                           label=f"the street network of {area.slug!r}")
    try:
        _check_graph(graph, Path(settings.overpass_url))
        graph = ox.project_graph(graph, to_crs=area.crs)
        _sort_merged_values(graph)
        return graph
    except InputError as exc:
        raise PassagesError(f"Overpass sent a street network that cannot be used ({exc.problem}). "
                            "Try again later, or give a local street network file with --network FILE.") from None


def _cache_key(area: Area, source: Path | None) -> str:
    digest = hashlib.sha256()
    digest.update(f"v{CACHE_VERSION}|osmnx {_osmnx_version()}|{area.crs}|".encode())
    digest.update(area.study_polygon_utm.wkb)
    if source is None:
        digest.update(f"overpass|{settings.overpass_url}".encode())
    else:
        with source.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def _clear_cache_folder(folder: Path) -> None:
    """Delete, unread, the pickles older versions cached here, and killed writers' temporaries."""
    if not folder.is_dir():
        return
    for old in folder.glob("*.pickle"):
        if old.is_file() or old.is_symlink():
            old.unlink(missing_ok=True)  # never opened: unpickling runs code
    remove_stale_temporaries(folder)


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
        ``.graphml``), or ``None`` to query Overpass through osmnx
        (:data:`passages.settings.overpass_url`).
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
        The file is missing, not a regular file, unreadable, malformed (see the module
        docstring for what is refused and what is dropped with a note), or ``offline``
        without a local source; the area's slug cannot be used in a file name.
    EmptyResultError
        No walkable street lies inside the study area.
    PassagesError
        Overpass could not give the network after a short retry (HTTP 429 or 5xx, a
        timeout, no connection, a malformed answer).
    """
    path = Path(source) if source is not None else None
    if path is None and offline:
        raise InputError(
            f"area {area.slug!r} has no local street network and --offline was given",
            field="--network",
            fix="Give an OSM file with --network, or drop --offline to download from Overpass.",
        )
    if path is not None:
        check_file(path, what="street network file",
                   fix="Give an .osm, .osm.bz2, .osm.pbf, Overpass .json or .graphml file.")
        network_source_kind(path)
    cache_folder = Path(cache_dir) if cache_dir is not None else settings.processed_dir / "networks"
    stem = f"{slug(area.slug, field='area')}-{_cache_key(area, path)}"
    if use_cache:
        _clear_cache_folder(cache_folder)
        cached = _network_cache.load_graph(cache_folder, stem, _cache_key(area, path))
        if cached is not None:
            return cached
    if path is None:
        graph = _overpass_graph(area, settings.raw_dir)
        label = "OpenStreetMap via Overpass"
    else:
        try:
            raw, needs_simplify = _read_graph(area, path)
            graph = _clean(raw, area, simplify=needs_simplify, source=path)
        except PassagesError:
            raise
        except Exception as exc:  # the last guard: a file no check above foresaw
            raise InputError(f"could not be read as a street network ({type(exc).__name__})", path=path,
                             fix="Give an .osm, .osm.bz2, .osm.pbf, Overpass .json or .graphml file "
                                 "exported from OpenStreetMap.") from None
        label = str(path)
    graph.graph["source"] = label
    graph.graph.setdefault("osm_timestamp", "")
    graph.graph["area"] = area.slug
    if use_cache:
        _network_cache.save_graph(graph, cache_folder, stem, _cache_key(area, path))
    return graph

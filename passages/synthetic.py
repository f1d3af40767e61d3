"""Larger, clearly synthetic street networks built from a real extract, for scale tests.

No real city-wide walking network ships with the offline data, so the scale benchmark
builds one from a real sample area: the central square of the area's graph is cut out and
laid out ``columns x rows`` times, every other copy mirrored, so that two neighbouring
copies are reflections of each other across their shared side. Each street the square cut
is *stitched* to its own reflection in the neighbouring copy by a straight connector, so
the copies make one connected network whose blocks, street lengths and degrees are those
of the real extract. Incidents are resampled from the real ones of the same area (with
replacement), each placed in a random copy and moved by a little Gaussian jitter.

Everything made here says it is synthetic: the graph has ``graph.graph["synthetic"] =
True`` and a ``source`` beginning with ``"synthetic:"``; the incident table has a
``synthetic`` column (all ``True``) and ``source_id`` values beginning with ``"synthetic-"``.
Coordinates are in the CRS of the input graph (metres, e.g. EPSG:32611); the layout lies
east and north of the real area and matches no real place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from shapely.geometry import LineString

from passages._errors import InputError
from passages.areas import Area

#: Default jitter of resampled incidents: standard deviation in metres, per axis.
JITTER_M = 10.0

#: Connectors shorter than this many metres are made this long (two twins on the border).
MIN_CONNECTOR_M = 1.0


@dataclass(frozen=True)
class TileLayout:
    """Where the copies of the real square lie.

    Attributes
    ----------
    centre_x, centre_y
        Centre of the real square (metres, in ``crs``).
    side_m
        Side of the square (metres).
    columns, rows
        Copies along x and along y.
    crs
        CRS of the coordinates (e.g. ``"EPSG:32611"``).
    """

    centre_x: float
    centre_y: float
    side_m: float
    columns: int
    rows: int
    crs: Any = field(repr=False)

    @property
    def tiles(self) -> int:
        """Number of copies."""
        return self.columns * self.rows

    def place(self, xy: np.ndarray, tile: np.ndarray | int) -> np.ndarray:
        """Return real coordinates ``(n, 2)`` moved into copy ``tile`` (mirrored where its column or row is odd)."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        tile = np.broadcast_to(np.asarray(tile, dtype=np.int64), (len(xy),))
        column, row = tile % self.columns, tile // self.columns
        flip_x = np.where(column % 2 == 1, -1.0, 1.0)
        flip_y = np.where(row % 2 == 1, -1.0, 1.0)
        out = np.empty_like(xy)
        out[:, 0] = self.centre_x + flip_x * (xy[:, 0] - self.centre_x) + column * self.side_m
        out[:, 1] = self.centre_y + flip_y * (xy[:, 1] - self.centre_y) + row * self.side_m
        return out


def central_square(graph: nx.MultiDiGraph, *, side_m: float | None = None) -> tuple[float, float, float]:
    """Return ``(centre_x, centre_y, side_m)`` of the square cut from a projected graph.

    The default side is that of the square inscribed in the disc the nodes fill (the
    bounding box's smaller side over the square root of 2), centred on the bounding box.
    """
    xy = np.array([(d["x"], d["y"]) for _, d in graph.nodes(data=True)], dtype=float)
    if len(xy) < 2:
        raise InputError("the graph has fewer than two nodes", field="graph", fix="Give a real area's network.")
    low, high = xy.min(axis=0), xy.max(axis=0)
    centre = (low + high) / 2.0
    side = float(side_m) if side_m is not None else float((high - low).min() / math.sqrt(2.0))
    if not side > 0:
        raise InputError(f"square side must be positive, got {side}", field="side_m", fix="Give metres.")
    return float(centre[0]), float(centre[1]), side


def tiles_for_edges(graph: nx.MultiDiGraph, target_edges: int, *, side_m: float | None = None) -> tuple[int, int]:
    """Return ``(columns, rows)``, as square as can be, so that the copies hold about ``target_edges`` edges."""
    cx, cy, side = central_square(graph, side_m=side_m)
    inside = _inside_nodes(graph, cx, cy, side)
    per_tile = sum(1 for u, v in graph.edges() if u in inside and v in inside)
    if per_tile == 0:
        raise InputError("no street lies inside the central square", field="side_m", fix="Give a larger square.")
    tiles = max(1, round(target_edges / per_tile))
    columns = max(1, round(math.sqrt(tiles)))
    rows = max(1, round(tiles / columns))
    return columns, rows


def _inside_nodes(graph: nx.MultiDiGraph, cx: float, cy: float, side: float) -> set[Any]:
    half = side / 2.0
    return {n for n, d in graph.nodes(data=True) if abs(d["x"] - cx) <= half and abs(d["y"] - cy) <= half}


def tiled_network(
    graph: nx.MultiDiGraph, *, columns: int, rows: int, side_m: float | None = None
) -> tuple[nx.MultiDiGraph, TileLayout]:
    """Return a synthetic network of ``columns x rows`` mirrored copies of a graph's central square.

    Parameters
    ----------
    graph
        A projected osmnx walking graph (metres): node ``x``/``y``, edge ``length``,
        optional ``geometry``, ``name``, ``highway``.
    columns, rows
        Copies along x and y (at least 1 each).
    side_m
        Side of the square cut from the graph (metres); default :func:`central_square`.

    Returns
    -------
    graph, layout
        The stitched network (its largest weakly connected component, labelled synthetic)
        and the layout of its copies. Node ``i`` of copy ``t`` has id ``t x n + i``, ``n``
        being ``graph.graph["synthetic_tiles"]["nodes_per_tile"]``.
    """
    if columns < 1 or rows < 1:
        raise InputError(f"need at least one copy, got {columns} x {rows}", field="columns",
                         fix="Give columns and rows of 1 or more.")
    cx, cy, side = central_square(graph, side_m=side_m)
    layout = TileLayout(cx, cy, side, columns, rows, graph.graph.get("crs"))
    inside = _inside_nodes(graph, cx, cy, side)
    nodes = sorted(inside)
    position = {n: i for i, n in enumerate(nodes)}
    node_xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in nodes], dtype=float)
    kept = [(u, v, d) for u, v, d in graph.edges(data=True) if u in inside and v in inside]
    edge_u = np.array([position[u] for u, _, _ in kept], dtype=np.int64)
    edge_v = np.array([position[v] for _, v, _ in kept], dtype=np.int64)
    lengths = [float(d["length"]) for _, _, d in kept]
    names = [d.get("name") for _, _, d in kept]
    highways = [d.get("highway", "") for _, _, d in kept]
    curved = [i for i, (_, _, d) in enumerate(kept) if d.get("geometry") is not None]
    curved_geoms = np.asarray([kept[i][2]["geometry"] for i in curved], dtype=object)

    # a street cut by the square continues, mirrored, in the copy across the side it crossed
    cut: dict[str, set[int]] = {"east": set(), "west": set(), "north": set(), "south": set()}
    for u, v in graph.to_undirected(as_view=True).edges():
        if (u in inside) == (v in inside):
            continue
        here, there = (u, v) if u in inside else (v, u)
        dx, dy = graph.nodes[there]["x"] - cx, graph.nodes[there]["y"] - cy
        side_name = ("east" if dx > 0 else "west") if abs(dx) >= abs(dy) else ("north" if dy > 0 else "south")
        cut[side_name].add(position[here])

    out = nx.MultiDiGraph()
    n_local = len(nodes)
    for tile in range(layout.tiles):
        base = tile * n_local
        xy = layout.place(node_xy, tile)
        out.add_nodes_from((base + i, {"x": float(x), "y": float(y)}) for i, (x, y) in enumerate(xy))
        geoms: dict[int, Any] = {}
        if len(curved):
            moved = shapely.transform(curved_geoms, partial(layout.place, tile=tile))
            geoms = dict(zip(curved, moved, strict=True))
        out.add_edges_from(
            (int(base + edge_u[i]), int(base + edge_v[i]),
             {"length": lengths[i], "name": names[i], "highway": highways[i],
              **({"geometry": geoms[i]} if i in geoms else {})})
            for i in range(len(kept))
        )
    _stitch(out, layout, cut, node_xy, n_local)
    largest = max(nx.weakly_connected_components(out), key=len)
    if len(largest) < out.number_of_nodes():
        out.remove_nodes_from([n for n in out if n not in largest])
    out.graph.update({
        "crs": graph.graph.get("crs"),
        "synthetic": True,
        "source": f"synthetic: {columns} x {rows} mirrored copies of the central {side:.0f} m square of "
                  f"{graph.graph.get('source', 'a real network')}",
        "synthetic_tiles": {"columns": columns, "rows": rows, "side_m": side, "centre": [cx, cy],
                            "nodes_per_tile": n_local},
    })
    return out, layout


def _stitch(out: nx.MultiDiGraph, layout: TileLayout, cut: dict[str, set[int]], node_xy: np.ndarray,
            n_local: int) -> None:
    """Join every cut street of a copy to its reflection in the neighbouring copy (both directions)."""
    for tile in range(layout.tiles):
        column, row = tile % layout.columns, tile // layout.columns
        neighbours = []
        if column + 1 < layout.columns:
            # copy ``column`` faces its east neighbour with its real east side when not mirrored
            neighbours.append((tile + 1, "east" if column % 2 == 0 else "west"))
        if row + 1 < layout.rows:
            neighbours.append((tile + layout.columns, "north" if row % 2 == 0 else "south"))
        for other, real_side in neighbours:
            for i in sorted(cut[real_side]):
                a, b = tile * n_local + i, other * n_local + i
                pa = (out.nodes[a]["x"], out.nodes[a]["y"])
                pb = (out.nodes[b]["x"], out.nodes[b]["y"])
                length = max(math.dist(pa, pb), MIN_CONNECTOR_M)
                for s, t, ps, pt in ((a, b, pa, pb), (b, a, pb, pa)):
                    out.add_edge(s, t, length=length, name="", highway="synthetic_connector",
                                 geometry=LineString([ps, pt]))


def resampled_incidents(
    incidents: gpd.GeoDataFrame, layout: TileLayout, *, count: int, seed: int = 0, jitter_m: float = JITTER_M,
    weight_column: str = "weight",
) -> gpd.GeoDataFrame:
    """Return ``count`` synthetic incidents resampled from real ones into the copies of a layout.

    Each synthetic incident copies the weight of a real incident inside the square, drawn
    with replacement, is placed in a copy drawn uniformly, and is moved by Gaussian jitter
    of ``jitter_m`` metres per axis. The same ``seed`` gives the same incidents.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``source_id`` (``"synthetic-<n>"``), ``weight``, ``synthetic`` (True) and
        point geometry in the layout's CRS.
    """
    if count < 0:
        raise InputError(f"count must not be negative, got {count}", field="count", fix="Give 0 or more.")
    xy = shapely.get_coordinates(incidents.geometry.to_numpy()) if len(incidents) else np.empty((0, 2))
    half = layout.side_m / 2.0
    inside = (np.abs(xy[:, 0] - layout.centre_x) <= half) & (np.abs(xy[:, 1] - layout.centre_y) <= half)
    if count and not inside.any():
        raise InputError("no real incident lies inside the square", field="incidents",
                         fix="Give the incidents of the same area as the network.")
    real_xy = xy[inside]
    real_weight = incidents[weight_column].to_numpy(dtype=float)[inside]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(real_xy), size=count) if count else np.empty(0, dtype=np.int64)
    tile = rng.integers(0, layout.tiles, size=count)
    placed = layout.place(real_xy[pick], tile) + rng.normal(0.0, jitter_m, size=(count, 2))
    return gpd.GeoDataFrame(
        {"source_id": np.char.add("synthetic-", np.arange(count).astype(str)).astype(object),
         "weight": real_weight[pick], "synthetic": np.ones(count, dtype=bool)},
        geometry=gpd.points_from_xy(placed[:, 0], placed[:, 1]), crs=layout.crs,
    )


@dataclass
class SyntheticCity:
    """A synthetic network and incidents built from one real sample area.

    Attributes
    ----------
    graph
        The stitched network (``graph.graph["synthetic"]`` is True).
    incidents
        Resampled incidents (``synthetic`` column True), in the graph's CRS.
    layout
        Where the copies lie.
    area
        The real area it was built from.
    """

    graph: nx.MultiDiGraph
    incidents: gpd.GeoDataFrame
    layout: TileLayout
    area: Area


def synthetic_city(
    area: Area, *, target_edges: int, incident_count: int, data_dir: str | Path, seed: int = 0,
    jitter_m: float = JITTER_M, cache_dir: str | Path | None = None,
) -> SyntheticCity:
    """Build a synthetic network of about ``target_edges`` directed edges and its incidents from a real area.

    The area's own local network and incident files (under ``data_dir``) are read as a
    plan would read them (default time windows and weights).
    """
    from passages.incidents import load_incidents
    from passages.network import load_network

    data = Path(data_dir)
    if not area.offline:
        raise InputError(f"area {area.slug!r} has no local street network", field="area",
                         fix="Use one of the offline sample areas: south-la, south-central, downtown.")
    real = load_network(area, area.source_paths("network", data)[0], offline=True, cache_dir=cache_dir)
    columns, rows = tiles_for_edges(real, target_edges)
    graph, layout = tiled_network(real, columns=columns, rows=rows)
    points = load_incidents(area.source_paths("incidents", data), area=area).points
    incidents = resampled_incidents(points, layout, count=incident_count, seed=seed, jitter_m=jitter_m)
    return SyntheticCity(graph, incidents, layout, area)

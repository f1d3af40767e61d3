"""A compact array view of a projected street graph, built once and asked many times.

The networkx graph stays the interchange format; the heavy work (snapping, network kernel
density, shortest paths) runs on the arrays of :class:`StreetIndex`:

* the **segment table**: one row per street segment, a two-way street counted once (osmnx
  stores it as two directed edges); start and end node, length (m), geometry, name;
* **CSR adjacency** for :mod:`scipy.sparse.csgraph`, for any vector of segment weights;
* an **STRtree** of segment geometries, for snapping points to the nearest street;
* a **KD-tree** of nodes, for snapping points to the nearest intersection.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

#: Weights below this are raised to it: csgraph must not meet zero-cost edges.
MIN_WEIGHT = 1e-6


def edge_names(values: Iterable[Any]) -> list[str]:
    """Return printable street names from osmnx ``name`` values (str, list or missing)."""
    names = []
    for value in values:
        if isinstance(value, list):
            names.append(" / ".join(str(v) for v in value))
        elif value is None or (isinstance(value, float) and value != value):
            names.append("")
        else:
            names.append(str(value))
    return names


@dataclass(frozen=True)
class WeightedGraph:
    """A symmetric CSR matrix of segment weights and the segment behind each node pair.

    Attributes
    ----------
    matrix
        ``n_nodes x n_nodes`` CSR matrix; entry ``(a, b)`` is the smallest weight of the
        segments joining node positions ``a`` and ``b``.
    pair_keys
        Sorted ``a * n_nodes + b`` of every stored entry.
    pair_segments
        The segment behind each entry of ``pair_keys``.
    """

    matrix: csr_matrix
    pair_keys: np.ndarray
    pair_segments: np.ndarray


class StreetIndex:
    """Arrays of a projected osmnx graph for fast snapping, density and routing.

    Parameters
    ----------
    graph
        A projected osmnx ``MultiDiGraph`` (metres); node ``x``/``y``, edge ``length``
        and, where the edge is not straight, ``geometry``.

    Attributes
    ----------
    crs
        The graph's CRS (e.g. ``"EPSG:32611"``).
    node_ids
        OSM ids of the nodes, sorted (int64); a node's *position* indexes this array.
    node_xy
        ``(n_nodes, 2)`` node coordinates in metres.
    edges
        The graph's directed edges ``(u, v, key)`` in iteration order.
    edge_segment
        For each directed edge, the index of its segment.
    segment_u, segment_v
        Node positions of each segment's start and end (its geometry runs from u to v).
    segment_length
        Segment lengths in metres.
    segment_geometry
        Segment LineStrings in ``crs``.
    segment_name, segment_highway
        Street name ("" when unnamed) and OSM highway type of each segment.
    """

    def __init__(self, graph: nx.MultiDiGraph) -> None:
        self.crs = graph.graph.get("crs")
        node_ids = np.fromiter(graph.nodes, dtype=np.int64, count=graph.number_of_nodes())
        order = np.argsort(node_ids)
        self.node_ids = node_ids[order]
        xy = np.array([(d["x"], d["y"]) for _, d in graph.nodes(data=True)], dtype=float)
        self.node_xy = xy[order] if len(xy) else np.empty((0, 2))

        segment_of: dict[tuple[int, int, float], int] = {}
        edge_segment: list[int] = []
        seg_u: list[int] = []
        seg_v: list[int] = []
        lengths: list[float] = []
        geometries: list[BaseGeometry | None] = []
        names: list[Any] = []
        highways: list[str] = []
        self.edges: list[tuple[int, int, int]] = []
        for u, v, k, data in graph.edges(keys=True, data=True):
            length = float(data.get("length", 0.0))
            # a two-way street is two directed edges with the same ends and length
            canonical = (min(u, v), max(u, v), round(length, 2))
            index = segment_of.get(canonical)
            if index is None:
                index = len(seg_u)
                segment_of[canonical] = index
                seg_u.append(u)
                seg_v.append(v)
                lengths.append(length)
                geometries.append(data.get("geometry"))
                names.append(data.get("name"))
                highway = data.get("highway", "")
                highways.append(" / ".join(highway) if isinstance(highway, list) else str(highway))
            self.edges.append((u, v, k))
            edge_segment.append(index)

        self.edge_segment = np.asarray(edge_segment, dtype=np.int64)
        self.segment_u = self.node_positions(np.asarray(seg_u, dtype=np.int64))
        self.segment_v = self.node_positions(np.asarray(seg_v, dtype=np.int64))
        self.segment_length = np.asarray(lengths, dtype=float)
        self.segment_name = np.asarray(edge_names(names), dtype=object)
        self.segment_highway = np.asarray(highways, dtype=object)
        missing = [i for i, g in enumerate(geometries) if g is None]
        if missing:
            idx = np.asarray(missing)
            straight = np.asarray(shapely.linestrings(
                np.stack([self.node_xy[self.segment_u[idx]], self.node_xy[self.segment_v[idx]]], axis=1)
            ), dtype=object).reshape(-1)
            for i, line in zip(missing, straight, strict=True):
                geometries[i] = line
        self.segment_geometry = np.asarray(geometries, dtype=object)
        self.segment_tree = shapely.STRtree(self.segment_geometry)
        self.node_tree = cKDTree(self.node_xy) if len(self.node_xy) else None
        self._node_points: shapely.STRtree | None = None
        self._weighted_cache: dict[bytes, WeightedGraph] = {}

    # -- sizes and lookups ---------------------------------------------------------------

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_ids)

    @property
    def n_segments(self) -> int:
        """Number of street segments (two-way streets counted once)."""
        return len(self.segment_length)

    def node_positions(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Return the positions of OSM node ids in :attr:`node_ids`; KeyError if one is absent."""
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(self.node_ids, ids)
        pos = np.clip(pos, 0, max(len(self.node_ids) - 1, 0))
        if len(ids) and not np.array_equal(self.node_ids[pos], ids):
            bad = ids[self.node_ids[pos] != ids][0]
            raise KeyError(f"node {bad} is not in the graph")
        return pos

    # -- snapping ------------------------------------------------------------------------

    def snap_points(
        self, xy: np.ndarray, *, max_distance_m: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Snap points to their nearest street segment.

        Parameters
        ----------
        xy
            ``(n, 2)`` point coordinates in the index CRS (metres).
        max_distance_m
            Points farther than this from every segment are not snapped (metres).

        Returns
        -------
        segment, distance_m, offset_m
            Per point: the segment index (-1 if none within ``max_distance_m``), the
            distance to it (inf if none) and the position of the snapped point along the
            segment measured from its start node (metres).
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        segment = np.full(len(xy), -1, dtype=np.int64)
        distance = np.full(len(xy), np.inf)
        offset = np.zeros(len(xy))
        if len(xy) == 0 or self.n_segments == 0:
            return segment, distance, offset
        points: np.ndarray = np.asarray(shapely.points(xy), dtype=object)
        (point_idx, seg_idx), dist = self.segment_tree.query_nearest(
            points, max_distance=max_distance_m, return_distance=True, all_matches=False
        )
        segment[point_idx] = seg_idx
        distance[point_idx] = dist
        offset[point_idx] = shapely.line_locate_point(self.segment_geometry[seg_idx], points[point_idx])
        # geometry length and graph length can differ slightly: scale to the graph length
        geom_len = shapely.length(self.segment_geometry[seg_idx])
        scale = np.divide(self.segment_length[seg_idx], geom_len, out=np.ones_like(geom_len),
                          where=geom_len > 0)
        offset[point_idx] = np.clip(offset[point_idx] * scale, 0.0, self.segment_length[seg_idx])
        return segment, distance, offset

    def nearest_nodes(self, geoms: Sequence[BaseGeometry] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the nearest node (OSM id) of each geometry and its distance in metres.

        A polygon's nearest node is the nearest to its boundary, at distance 0 when a node
        lies inside it. Geometries are in the index CRS.
        """
        geoms = np.asarray(geoms, dtype=object)
        if len(geoms) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        if self._node_points is None:
            self._node_points = shapely.STRtree(np.asarray(shapely.points(self.node_xy), dtype=object))
        (geom_idx, node_idx), dist = self._node_points.query_nearest(
            geoms, return_distance=True, all_matches=False
        )
        nodes = np.empty(len(geoms), dtype=np.int64)
        distance = np.empty(len(geoms))
        nodes[geom_idx] = self.node_ids[node_idx]
        distance[geom_idx] = dist
        return nodes, distance

    def street_access(self, geoms: Sequence[BaseGeometry] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return where each geometry meets the street network: a node (OSM id) and a distance (m).

        The distance is from the geometry to its nearest street segment (0 when a street
        touches a park polygon); the node is that segment's end nearer to the geometry,
        where a walk to or from the place starts. Geometries are in the index CRS.
        """
        geoms = np.asarray(geoms, dtype=object)
        if len(geoms) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        (geom_idx, seg_idx), dist = self.segment_tree.query_nearest(
            geoms, return_distance=True, all_matches=False
        )
        ends_u = np.asarray(shapely.points(self.node_xy[self.segment_u[seg_idx]]), dtype=object)
        ends_v = np.asarray(shapely.points(self.node_xy[self.segment_v[seg_idx]]), dtype=object)
        use_v = shapely.distance(geoms[geom_idx], ends_v) < shapely.distance(geoms[geom_idx], ends_u)
        nodes = np.empty(len(geoms), dtype=np.int64)
        distance = np.empty(len(geoms))
        nodes[geom_idx] = self.node_ids[np.where(use_v, self.segment_v[seg_idx], self.segment_u[seg_idx])]
        distance[geom_idx] = dist
        return nodes, distance

    def nearest_node_xy(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the nearest node position of each point (KD-tree) and its distance (m)."""
        if self.node_tree is None:
            raise ValueError("the street index has no nodes")
        dist, pos = self.node_tree.query(np.asarray(xy, dtype=float).reshape(-1, 2))
        return np.asarray(pos, dtype=np.int64), np.asarray(dist, dtype=float)

    # -- routing -------------------------------------------------------------------------

    def weighted(self, weights: np.ndarray) -> WeightedGraph:
        """Return the symmetric CSR graph for one weight per segment.

        Parallel segments between the same two nodes keep the smallest weight; weights
        below :data:`MIN_WEIGHT` are raised to it.
        """
        weights = np.maximum(np.asarray(weights, dtype=float), MIN_WEIGHT)
        cache_key = weights.tobytes()
        if cache_key in self._weighted_cache:
            return self._weighted_cache[cache_key]
        n = self.n_nodes
        idx = np.arange(self.n_segments)
        src = np.concatenate([self.segment_u, self.segment_v])
        dst = np.concatenate([self.segment_v, self.segment_u])
        w = np.concatenate([weights, weights])
        seg = np.concatenate([idx, idx])
        keep = src != dst
        src, dst, w, seg = src[keep], dst[keep], w[keep], seg[keep]
        keys = src * n + dst
        order = np.lexsort((seg, w, keys))
        keys, src, dst, w, seg = keys[order], src[order], dst[order], w[order], seg[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        matrix = csr_matrix((w[first], (src[first], dst[first])), shape=(n, n))
        result = WeightedGraph(matrix, keys[first], seg[first])
        if len(self._weighted_cache) > 8:
            self._weighted_cache.clear()
        self._weighted_cache[cache_key] = result
        return result

    def path_segments(self, path: np.ndarray, graph: WeightedGraph) -> np.ndarray:
        """Return the segments along a path of node positions, under the weights of ``graph``."""
        path = np.asarray(path, dtype=np.int64)
        if len(path) < 2:
            return np.empty(0, dtype=np.int64)
        keys = path[:-1] * self.n_nodes + path[1:]
        pos = np.searchsorted(graph.pair_keys, keys)
        found = graph.pair_keys[np.minimum(pos, len(graph.pair_keys) - 1)]
        if np.any(pos >= len(graph.pair_keys)) or np.any(found != keys):
            raise ValueError("the path uses a pair of nodes that no segment joins")
        return np.asarray(graph.pair_segments[pos], dtype=np.int64)

    # -- tables and write-back -----------------------------------------------------------

    def segment_frame(self, **columns: np.ndarray) -> gpd.GeoDataFrame:
        """Return the segment table as a GeoDataFrame in the index CRS.

        Columns: ``segment`` (index), ``u``/``v`` (OSM node ids), ``name``, ``highway``,
        ``length_m`` and any extra per-segment arrays given as keyword arguments.
        """
        data: dict[str, Any] = {
            "segment": np.arange(self.n_segments),
            "u": self.node_ids[self.segment_u],
            "v": self.node_ids[self.segment_v],
            "name": self.segment_name,
            "highway": self.segment_highway,
            "length_m": self.segment_length,
        }
        for name, values in columns.items():
            values = np.asarray(values)
            if len(values) != self.n_segments:
                raise ValueError(f"column {name!r} has {len(values)} values for {self.n_segments} segments")
            data[name] = values
        return gpd.GeoDataFrame(data, geometry=list(self.segment_geometry), crs=self.crs)

    def set_edge_attribute(self, graph: nx.MultiDiGraph, name: str, values: np.ndarray) -> nx.MultiDiGraph:
        """Write one value per segment to both directed edges of each segment; return the graph."""
        values = np.asarray(values)
        if len(values) != self.n_segments:
            raise ValueError(f"{len(values)} values for {self.n_segments} segments")
        per_edge = values[self.edge_segment].tolist()
        nx.set_edge_attributes(graph, dict(zip(self.edges, per_edge, strict=True)), name)
        return graph

    def path_geometry(self, path: np.ndarray, segments: np.ndarray) -> LineString:
        """Return a path as a LineString that follows the street geometries.

        Parameters
        ----------
        path
            Node positions along the path.
        segments
            The segment used between each pair of consecutive nodes
            (from :meth:`path_segments`).
        """
        path = np.asarray(path, dtype=np.int64)
        if len(path) < 2:
            point = self.node_xy[path[:1]] if len(path) else np.zeros((1, 2))
            return LineString(np.repeat(point, 2, axis=0))
        coords: list[np.ndarray] = []
        for a, seg in zip(path[:-1], segments, strict=True):
            line = np.asarray(self.segment_geometry[seg].coords)
            if self.segment_u[seg] != a:
                line = line[::-1]
            coords.append(line if not coords else line[1:])
        return LineString(np.concatenate(coords))

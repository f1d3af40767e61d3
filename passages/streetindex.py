"""A compact array view of a projected street graph, built once and asked many times.

The networkx graph stays the interchange format; the heavy work (snapping, network kernel
density, shortest paths) runs on the arrays of :class:`StreetIndex`:

* the **segment table**: one row per street segment, a two-way street counted once (osmnx
  stores it as two directed edges); start and end node, length (m), geometry, name;
* **CSR adjacency** for :mod:`scipy.sparse.csgraph`, for any vector of segment weights;
* the **straight pieces** of the segment geometries and a KD-tree of points along them,
  for snapping many points to the nearest street without a GEOS call per point
  (:class:`passages._graph_search.SegmentPieces`); an **STRtree** of segment geometries
  for places (polygons) and name look-ups;
* a **KD-tree** of nodes, for snapping points to the nearest intersection.

Network distances within a radius (the kernel density of risk, coverage radii) are
computed without a dense sources x nodes table: the sources are searched in batches of
sources far enough apart that their neighbourhoods cannot meet, one bounded multi-source
Dijkstra per batch (:meth:`StreetIndex.network_distances`), or tile by tile
(:meth:`StreetIndex.local_distances`: the sources of one square tile routed on the
sub-graph of the nodes within reach of the tile). A path of network length ``r`` never
leaves the disc of straight-line radius ``r`` around its start (streets are never shorter
than the straight line between their ends; see :attr:`StreetIndex.stretch`), so the
distances within the radius are exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

from passages._graph_search import (
    LocalDistances,
    NodePairs,
    SegmentPieces,
    disjoint_batches,
    first_of_ties,
    no_gc,
    run_starts,
    split_runs,
    square_tiles,
    walk_back_all,
    walk_back_flat,
)
from passages.street_names import abbreviate, describe, walking_names

#: Weights below this are raised to it: csgraph must not meet zero-cost edges.
MIN_WEIGHT = 1e-6

#: Upper bound on the entries of one dense block of distances (memory, not speed).
BLOCK_ENTRIES = 4_000_000

#: Sources x nodes up to which the whole network is one block (no tiles): below it, tiles
#: cost more in overhead than they save.
ONE_BLOCK_ENTRIES = 250_000

#: Side of a tile of sources, in radii.
TILE_RADII = 2.0

#: Points are snapped in the order of square cells of this many metres.
SNAP_CELL_M = 100.0

#: Largest spacing (m) of the sample points along the streets that find a point's candidate
#: segments when snapping (:class:`passages._graph_search.SegmentPieces`).
SNAP_SAMPLE_M = 10.0

#: Sample points asked of the KD-tree per point when snapping: the first number for every
#: point, the next for those it did not settle; the rest are settled from every sample in reach.
SNAP_NEIGHBOURS: tuple[int, ...] = (8, 64)

#: Points snapped at a time (memory, not speed).
SNAP_BLOCK = 65_536

#: Fewer points than segments over this many are snapped without building the index's pieces
#: and their KD-tree (:meth:`StreetIndex.snap_points`), unless built already.
SNAP_TREE_POINTS_PER_SEGMENT = 2.0

#: A few points are snapped among the segments whose bounding box meets a square of this many
#: metres around them; a point farther from every street is snapped by a GEOS query.
SNAP_BOX_M = 10.0

#: Above this stretch (straight line over street length) tiles are not trusted and the
#: whole network is one tile.
MAX_STRETCH = 1.5

#: Segments with a straight-line length below this many metres are left out of the stretch
#: (rounding of osmnx lengths makes their ratio meaningless); :data:`REACH_SLACK_M` covers them.
STRETCH_MIN_CHORD_M = 1.0

#: Metres added to the straight-line reach of a tile, on top of ``radius x stretch``.
REACH_SLACK_M = 10.0

#: First guess of a shortest path's length bound: this many times the straight line,
#: plus :data:`ROUTE_SLACK_M`; a target not reached within it is routed again unbounded.
ROUTE_STRETCH_GUESS = 1.6

#: Metres added to the first guess of a shortest path's length bound.
ROUTE_SLACK_M = 400.0



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
        with no_gc():
            self._build(graph)

    def _build(self, graph: nx.MultiDiGraph) -> None:
        self.crs = graph.graph.get("crs")
        # the nodes and edges in the order graph.nodes and graph.edges(keys=True) list them, read
        # from the plain dicts behind the graph (the views' generators cost more than the rest)
        node_data = graph._node
        node_ids = np.fromiter(node_data, dtype=np.int64, count=len(node_data))
        order = np.argsort(node_ids)
        self.node_ids = node_ids[order]
        xy = np.array([(d["x"], d["y"]) for d in node_data.values()], dtype=float)
        self.node_xy = xy[order] if len(xy) else np.empty((0, 2))

        adjacency = graph._succ
        edges = [(u, v, k, d) for u, nbrs in adjacency.items() for v, keyed in nbrs.items() for k, d in keyed.items()]
        us, vs, ks, data = zip(*edges, strict=True) if edges else ((), (), (), ())
        self._edge_keys = (us, vs, ks)
        edge_u = np.array(us, dtype=np.int64)
        edge_v = np.array(vs, dtype=np.int64)
        edge_length = np.array([d.get("length", 0.0) for d in data], dtype=float)
        # a two-way street is two directed edges with the same ends and length: one segment,
        # numbered in the order the graph first lists it (lexsort is stable: the first edge leads)
        rounded = np.round(edge_length, 2)
        low, high = np.minimum(edge_u, edge_v), np.maximum(edge_u, edge_v)
        order = np.lexsort((rounded, high, low))
        starts = np.ones(len(edges), dtype=bool)
        starts[1:] = (low[order][1:] != low[order][:-1]) | (high[order][1:] != high[order][:-1]) | (
            rounded[order][1:] != rounded[order][:-1])
        group = np.cumsum(starts) - 1
        first_edge = order[starts]
        rank = np.empty(len(first_edge), dtype=np.int64)
        rank[np.argsort(first_edge, kind="stable")] = np.arange(len(first_edge))
        self.edge_segment = np.empty(len(edges), dtype=np.int64)
        self.edge_segment[order] = rank[group]
        first_edge = np.sort(first_edge)
        seg_u = edge_u[first_edge]
        seg_v = edge_v[first_edge]
        # names and highway types are only read for tables and maps: read from the edges' data on first use
        self._segment_data = [data[i] for i in first_edge.tolist()]
        geometries: list[BaseGeometry | None] = [d.get("geometry") for d in self._segment_data]
        lengths = edge_length[first_edge]

        self.segment_u = self.node_positions(np.asarray(seg_u, dtype=np.int64))
        self.segment_v = self.node_positions(np.asarray(seg_v, dtype=np.int64))
        self.segment_length = lengths
        self.segment_geometry = np.empty(len(geometries), dtype=object)
        self.segment_geometry[:] = geometries
        missing = np.flatnonzero(shapely.is_missing(self.segment_geometry))
        if len(missing):
            self.segment_geometry[missing] = shapely.linestrings(
                np.stack([self.node_xy[self.segment_u[missing]], self.node_xy[self.segment_v[missing]]], axis=1))
        self.segment_tree = shapely.STRtree(self.segment_geometry)
        self._node_points: shapely.STRtree | None = None
        self._weighted_cache: dict[bytes, WeightedGraph] = {}
        self._incidence: tuple[np.ndarray, np.ndarray] | None = None
        self._coords: tuple[np.ndarray, np.ndarray] | None = None
        self._pairs: NodePairs | None = None
        self._stretch: float | None = None

    @cached_property
    def edges(self) -> list[tuple[int, int, int]]:
        """The graph's directed edges ``(u, v, key)`` in iteration order."""
        return list(zip(*self._edge_keys, strict=True))

    @cached_property
    def _raw_names(self) -> list[Any]:
        return [d.get("name") for d in self._segment_data]

    @cached_property
    def _raw_highways(self) -> list[Any]:
        return [d.get("highway", "") for d in self._segment_data]

    @cached_property
    def node_tree(self) -> cKDTree | None:
        """KD-tree of the node coordinates (``None`` without nodes), built on first use."""
        return cKDTree(self.node_xy) if len(self.node_xy) else None

    @cached_property
    def segment_osm_name(self) -> np.ndarray:
        """OSM name of each segment ("" when unnamed; several joined by " / ")."""
        return np.asarray(edge_names(self._raw_names), dtype=object)

    @cached_property
    def _walking_names(self) -> tuple[np.ndarray, np.ndarray]:
        return walking_names(self.segment_osm_name, self.segment_highway, self.segment_geometry, self.segment_length)

    @property
    def segment_name(self) -> np.ndarray:
        """Street name to walk by of each segment ("" when no street is near).

        The OSM name where the way has one; an unnamed sidewalk takes the name of the
        street it runs beside, a crossing reads "across X at Y"
        (:func:`passages.street_names.walking_names`).
        """
        return self._walking_names[0]

    @segment_name.setter
    def segment_name(self, names: np.ndarray) -> None:
        """Replace the names (each non-empty one counts as an OSM name); the labels follow."""
        names = np.asarray(names, dtype=object)
        self._walking_names = (names, np.where(names != "", "osm", "").astype(object))
        self.__dict__.pop("segment_label", None)

    @property
    def segment_name_source(self) -> np.ndarray:
        """Where each :attr:`segment_name` comes from: "osm", "beside", "crossing", "near" or ""."""
        return self._walking_names[1]

    @cached_property
    def segment_label(self) -> np.ndarray:
        """What to call each segment in directions: its :attr:`segment_name` in short form
        ("E 5th St"), else what it is ("footpath")."""
        short = {name: abbreviate(str(name)) for name in set(self.segment_name.tolist()) if name}
        return np.asarray([short[name] if name else describe(highway) for name, highway
                           in zip(self.segment_name, self.segment_highway, strict=True)], dtype=object)

    @cached_property
    def segment_highway(self) -> np.ndarray:
        """OSM highway type of each segment (several joined by " / ")."""
        return np.asarray([" / ".join(h) if isinstance(h, list) else str(h) for h in self._raw_highways], dtype=object)

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

        Vectorised on the index's :attr:`segment_pieces`: a KD-tree of points along the
        streets names a few candidate pieces per point and the exact distance to each
        decides (computed as GEOS computes it, so the segment, distance and offset are
        those of shapely's ``STRtree.query_nearest`` and ``line_locate_point``). A few
        points (fewer than :data:`SNAP_TREE_POINTS_PER_SEGMENT` per segment) on an index
        whose pieces are not built yet are measured against the pieces of the segments near
        them only (found by the STRtree).

        Parameters
        ----------
        xy
            ``(n, 2)`` point coordinates in the index CRS (metres).
        max_distance_m
            Points farther than this from every segment are not snapped (metres).

        Returns
        -------
        segment, distance_m, offset_m
            Per point: the segment index (-1 if none within ``max_distance_m``, or for a
            point with a missing coordinate; among segments at the same least distance,
            the first in the graph's edge order), the distance to it (inf if none) and the
            position of the snapped point along the segment measured from its start node
            (metres).
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        segment = np.full(len(xy), -1, dtype=np.int64)
        distance = np.full(len(xy), np.inf)
        offset = np.zeros(len(xy))
        if len(xy) == 0 or self.n_segments == 0:
            return segment, distance, offset
        if "segment_pieces" not in self.__dict__ and len(xy) * SNAP_TREE_POINTS_PER_SEGMENT < self.n_segments:
            # a few points: a GEOS nearest-neighbour query each costs less than building the pieces
            return self._snap_few(xy, max_distance_m=max_distance_m)
        pieces = self.segment_pieces
        # neighbouring points one after another keep the tree walk in cache (2-3x faster)
        finite = np.isfinite(xy).all(axis=1)
        low = xy[finite].min(axis=0) if finite.any() else np.zeros(2)
        cell = np.floor((np.where(finite[:, None], xy, low) - low) / SNAP_CELL_M).astype(np.int64)
        order = np.argsort(cell[:, 0] * (int(cell[:, 1].max()) + 1) + cell[:, 1])
        for start in range(0, len(order), SNAP_BLOCK):
            block = order[start : start + SNAP_BLOCK]
            piece, dist = pieces.nearest(xy[block], max_distance_m=max_distance_m, neighbours=SNAP_NEIGHBOURS)
            hit = piece >= 0
            block, piece = block[hit], piece[hit]
            seg = pieces.segment[piece]
            segment[block] = seg
            distance[block] = dist[hit]
            # geometry length and graph length can differ slightly: scale to the graph length
            geom_len = pieces.geometry_length[seg]
            scale = np.divide(self.segment_length[seg], geom_len, out=np.ones_like(geom_len), where=geom_len > 0)
            offset[block] = np.clip(pieces.measure(xy[block], piece) * scale, 0.0, self.segment_length[seg])
        return segment, distance, offset

    def _snap_few(self, xy: np.ndarray, *, max_distance_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`snap_points` for a few points, without building the index's pieces and their tree.

        The STRtree names the segments whose bounding box meets a square of
        :data:`SNAP_BOX_M` around each point; the exact distance to their pieces (as GEOS
        computes it) settles every point with a segment within that distance. The others
        get a GEOS nearest-neighbour query each (``STRtree.query_nearest``). Same segment,
        distance and offset as the vectorised way.
        """
        segment = np.full(len(xy), -1, dtype=np.int64)
        distance = np.full(len(xy), np.inf)
        offset = np.zeros(len(xy))
        finite = np.flatnonzero(np.isfinite(xy).all(axis=1))
        reach = min(SNAP_BOX_M, max_distance_m)
        pad = reach * (1 + 1e-9) + 1e-6  # the square holds every point within reach, rounding aside
        x, y = xy[finite, 0], xy[finite, 1]
        point_idx, seg_idx = self.segment_tree.query(shapely.box(x - pad, y - pad, x + pad, y + pad))
        near, local = np.unique(seg_idx, return_inverse=True)
        pieces = SegmentPieces.of(self.segment_geometry[near], spacing_m=SNAP_SAMPLE_M, with_tree=False)
        first = np.searchsorted(pieces.segment, np.arange(len(near) + 1))
        count = first[local + 1] - first[local]
        owner = np.repeat(point_idx, count)
        cand = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count) + np.repeat(first[local], count)
        piece, dist = pieces.nearest_of(xy[finite], owner, cand)
        settled = dist <= reach  # nothing nearer can lie outside the square
        hit = settled & (dist <= max_distance_m)
        rows, piece = finite[hit], piece[hit]
        seg = near[pieces.segment[piece]]
        segment[rows], distance[rows] = seg, dist[hit]
        geom_len = pieces.geometry_length[pieces.segment[piece]]
        scale = np.divide(self.segment_length[seg], geom_len, out=np.ones_like(geom_len), where=geom_len > 0)
        offset[rows] = np.clip(pieces.measure(xy[rows], piece) * scale, 0.0, self.segment_length[seg])
        rest = finite[~settled]
        if len(rest) and reach < max_distance_m:
            segment[rest], distance[rest], offset[rest] = self._snap_by_geos(xy[rest], max_distance_m=max_distance_m)
        return segment, distance, offset

    def _snap_by_geos(self, xy: np.ndarray, *, max_distance_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`snap_points` by shapely, a GEOS query per point (``STRtree.query_nearest``, ``line_locate_point``)."""
        segment = np.full(len(xy), -1, dtype=np.int64)
        distance = np.full(len(xy), np.inf)
        offset = np.zeros(len(xy))
        points = np.asarray(shapely.points(xy), dtype=object)
        # without max_distance GEOS walks the tree once per point, not twice; the far ones are dropped after
        (point_idx, seg_idx), dist = self.segment_tree.query_nearest(points, return_distance=True, all_matches=True)
        near = dist <= max_distance_m
        point_idx, seg_idx, dist = first_of_ties(point_idx[near], seg_idx[near], dist[near])
        segment[point_idx] = seg_idx
        distance[point_idx] = dist
        along = shapely.line_locate_point(self.segment_geometry[seg_idx], points[point_idx])
        geom_len = shapely.length(self.segment_geometry[seg_idx])
        scale = np.divide(self.segment_length[seg_idx], geom_len, out=np.ones_like(geom_len), where=geom_len > 0)
        offset[point_idx] = np.clip(along * scale, 0.0, self.segment_length[seg_idx])
        return segment, distance, offset

    @cached_property
    def segment_pieces(self) -> SegmentPieces:
        """Straight pieces of the segment geometries and a KD-tree of points along them (built on first use)."""
        return SegmentPieces.of(self.segment_geometry, spacing_m=SNAP_SAMPLE_M)

    def nearest_nodes(self, geoms: Sequence[BaseGeometry] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the nearest node (OSM id) of each geometry and its distance in metres.

        A polygon's nearest node is the nearest to its boundary, at distance 0 when a node
        lies inside it. Geometries are in the index CRS. Points are measured against every
        node when few (the lowest node position wins a tie), else through the KD-tree of
        nodes; other geometries through an STRtree of node points.
        """
        geoms = np.asarray(geoms, dtype=object)
        nodes = np.empty(len(geoms), dtype=np.int64)
        distance = np.empty(len(geoms))
        if len(geoms) == 0:
            return nodes, distance
        is_point = shapely.get_type_id(geoms) == shapely.GeometryType.POINT
        if is_point.any():
            xy = shapely.get_coordinates(geoms[is_point])
            if len(xy) * self.n_nodes <= ONE_BLOCK_ENTRIES:  # a few points: every node, no tree to build
                delta = self.node_xy[None, :, :] - xy[:, None, :]
                dist = np.sqrt(delta[..., 0] * delta[..., 0] + delta[..., 1] * delta[..., 1])
                pos = np.argmin(dist, axis=1)
                nodes[is_point], distance[is_point] = self.node_ids[pos], dist[np.arange(len(xy)), pos]
            else:
                pos, dist_kd = self.nearest_node_xy(xy)
                nodes[is_point], distance[is_point] = self.node_ids[pos], dist_kd
        other = np.flatnonzero(~is_point)
        if len(other):
            if self._node_points is None:
                self._node_points = shapely.STRtree(np.asarray(shapely.points(self.node_xy), dtype=object))
            (geom_idx, node_idx), dist_tree = self._node_points.query_nearest(
                geoms[other], return_distance=True, all_matches=False
            )
            nodes[other[geom_idx]] = self.node_ids[node_idx]
            distance[other[geom_idx]] = dist_tree
        return nodes, distance

    def street_access(self, geoms: Sequence[BaseGeometry] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return where each geometry meets the street network: a node (OSM id) and a distance (m).

        The distance is from the geometry to its nearest street segment (0 when a street
        touches a park polygon); the node is that segment's end nearer to the geometry
        (its start on a tie), where a walk to or from the place starts. Among segments at
        the same least distance (a park touching several streets) the first in the graph's
        edge order is taken. Geometries are in the index CRS.
        """
        geoms = np.asarray(geoms, dtype=object)
        if len(geoms) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        (geom_idx, seg_idx), dist = self.segment_tree.query_nearest(
            geoms, return_distance=True, all_matches=True
        )
        geom_idx, seg_idx, dist = first_of_ties(geom_idx, seg_idx, dist)
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
        if self.node_tree is None:  # built on first use
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
        if self._pairs is None:
            self._pairs = NodePairs.of(self.segment_u, self.segment_v, self.n_nodes)
        pairs = self._pairs
        chosen = pairs.single.copy()
        if len(pairs.multi_rows):
            # parallel segments: the lightest, the lowest segment on a tie
            w = weights[pairs.multi_segments]
            order = np.lexsort((pairs.multi_segments, w, pairs.multi_rows))
            rows = pairs.multi_rows[order]
            first = run_starts(rows)
            chosen[rows[first]] = pairs.multi_segments[order][first]
        matrix = csr_matrix((weights[chosen], pairs.dst, pairs.indptr), shape=(self.n_nodes, self.n_nodes))
        result = WeightedGraph(matrix, pairs.keys, chosen)
        if len(self._weighted_cache) > 8:
            self._weighted_cache.clear()
        self._weighted_cache[cache_key] = result
        return result

    def paths_segments(self, paths: Sequence[np.ndarray], graph: WeightedGraph) -> list[np.ndarray]:
        """Return :meth:`path_segments` of many paths at once (empty for a path of fewer than 2 nodes)."""
        if not paths:
            return []
        sizes = np.fromiter((len(p) for p in paths), dtype=np.int64, count=len(paths))
        nodes = np.concatenate([np.asarray(p, dtype=np.int64) for p in paths])
        return split_runs(self.flat_paths_segments(nodes, sizes, graph), np.maximum(sizes - 1, 0))

    def flat_paths_segments(self, nodes: np.ndarray, sizes: np.ndarray, graph: WeightedGraph) -> np.ndarray:
        """Return the segments of paths laid end to end (``nodes``, ``sizes[i]`` nodes each), end to end too.

        A path of ``k >= 1`` nodes has ``k - 1`` segments; the segments of one path follow
        those of the path before.
        """
        if len(nodes) < 2:
            return np.empty(0, dtype=np.int64)
        within = np.ones(len(nodes), dtype=bool)
        within[np.cumsum(sizes)[sizes > 0] - 1] = False  # no step from a path's last node
        return self.path_segments(nodes, graph, steps=within[:-1], check=False)

    def path_segments(self, path: np.ndarray, graph: WeightedGraph, *, steps: np.ndarray | None = None,
                      check: bool = True) -> np.ndarray:
        """Return the segments along a path of node positions, under the weights of ``graph``.

        ``check=False`` skips testing that a segment joins every step (for paths the index
        itself found on ``graph``).
        """
        path = np.asarray(path, dtype=np.int64)
        if len(path) < 2:
            return np.empty(0, dtype=np.int64)
        keys = path[:-1] * self.n_nodes + path[1:]
        if steps is not None:  # only these consecutive pairs are steps (several paths end to end)
            keys = keys[steps]
        pos = np.searchsorted(graph.pair_keys, keys)
        if check:
            found = graph.pair_keys[np.minimum(pos, len(graph.pair_keys) - 1)]
            if np.any(pos >= len(graph.pair_keys)) or np.any(found != keys):
                raise ValueError("the path uses a pair of nodes that no segment joins")
        return np.asarray(graph.pair_segments[pos], dtype=np.int64)

    # -- distances within a radius ---------------------------------------------------------

    @property
    def stretch(self) -> float:
        """Largest ratio of a segment's straight-line span to its street length (at least 1).

        Street lengths from osmnx are measured along the geometry on the ellipsoid, so in a
        UTM projection the ratio stays within a few per mille of 1; segments spanning less
        than :data:`STRETCH_MIN_CHORD_M` metres are left out.
        """
        if self._stretch is None:
            chord = np.linalg.norm(self.node_xy[self.segment_u] - self.node_xy[self.segment_v], axis=1)
            counted = chord >= STRETCH_MIN_CHORD_M
            ratio = chord[counted] / np.maximum(self.segment_length[counted], MIN_WEIGHT)
            self._stretch = float(max(1.0, ratio.max())) if len(ratio) else 1.0
        return self._stretch

    def node_segments(self, nodes: np.ndarray) -> np.ndarray:
        """Return the segments (sorted, unique) with an end at any of the given node positions."""
        indptr, incident = self._node_incidence()
        nodes = np.asarray(nodes, dtype=np.int64)
        count = indptr[nodes + 1] - indptr[nodes]
        at = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count) + np.repeat(indptr[nodes], count)
        return np.unique(incident[at]).astype(np.int64)

    def _node_incidence(self) -> tuple[np.ndarray, np.ndarray]:
        """Which segments end at which node, as CSR arrays (``indptr``, segments), built once."""
        if self._incidence is None:
            ends = np.concatenate([self.segment_u, self.segment_v])
            order = np.argsort(ends, kind="stable")
            indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
            np.cumsum(np.bincount(ends, minlength=self.n_nodes), out=indptr[1:])
            self._incidence = (indptr, order % max(self.n_segments, 1))
        return self._incidence

    def local_distances(
        self, sources: np.ndarray, *, radius_m: float, tile_m: float | None = None
    ) -> Iterator[LocalDistances]:
        """Yield network distances (by length) from every source to the nodes within ``radius_m``.

        The sources are grouped into square tiles of ``tile_m`` metres; each group is
        routed with :func:`scipy.sparse.csgraph.dijkstra` on the sub-graph of the nodes
        within straight-line reach of its tile (``radius_m x stretch + REACH_SLACK_M``),
        which holds every path shorter than the radius. Distances up to ``radius_m`` are
        exact; longer ones are ``inf``. When the stretch exceeds :data:`MAX_STRETCH`, the
        whole network is one window.

        Parameters
        ----------
        sources
            Node positions (each distinct one appears in exactly one block).
        radius_m
            Largest network distance computed (metres).
        tile_m
            Side of a tile (metres); default :data:`TILE_RADII` radii, and no tiles at all
            when sources x nodes is at most :data:`ONE_BLOCK_ENTRIES`.
        """
        sources = np.unique(np.asarray(sources, dtype=np.int64))
        if len(sources) == 0 or self.n_nodes == 0:
            return
        matrix = self.weighted(self.segment_length).matrix
        # a network small enough for one dense block needs no tiles
        one_block = tile_m is None and len(sources) * self.n_nodes <= ONE_BLOCK_ENTRIES
        if one_block or self.stretch > MAX_STRETCH or not np.isfinite(radius_m):
            groups: list[tuple[np.ndarray, np.ndarray]] = [(sources, np.arange(self.n_nodes))]
        else:
            groups = list(square_tiles(self.node_xy, sources, reach_m=radius_m * self.stretch + REACH_SLACK_M,
                                      tile_m=tile_m if tile_m is not None else max(TILE_RADII * radius_m, 50.0)))
        column = np.full(self.n_nodes, -1, dtype=np.int64)
        for group, window in groups:
            sub = matrix if len(window) == self.n_nodes else matrix[window][:, window]
            column[window] = np.arange(len(window))
            segments = np.arange(self.n_segments) if len(window) == self.n_nodes else self.node_segments(window)
            u_col, v_col = column[self.segment_u[segments]], column[self.segment_v[segments]]
            u_col[u_col < 0] = len(window)
            v_col[v_col < 0] = len(window)
            rows = max(1, BLOCK_ENTRIES // max(len(window), 1))
            for start in range(0, len(group), rows):
                chunk = group[start : start + rows]
                dist = dijkstra(sub, directed=True, indices=column[chunk], limit=radius_m)
                yield LocalDistances(chunk, window, np.asarray(dist), segments, u_col, v_col)
            column[window] = -1

    def network_distances(self, sources: np.ndarray, *, radius_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return every (source, node, distance) with a network distance of at most ``radius_m``.

        The sources are searched in batches of sources far enough apart that their
        neighbourhoods cannot meet (:func:`passages._graph_search.disjoint_batches`): one
        :func:`scipy.sparse.csgraph.dijkstra` per batch (``min_only``, bounded by the radius)
        labels every node reached with its source, so nothing grows with sources x nodes.
        The distances are those of a search from each source alone, to the last bit: both
        are the least sum, added along the path, over the paths within the radius.

        Parameters
        ----------
        sources
            Node positions.
        radius_m
            Largest network distance (metres).

        Returns
        -------
        source, node, distance_m
            Node positions of each pair and their distance along the streets (metres),
            sorted by source then node.
        """
        source, node, distance = self._distances_within(sources, radius_m)
        order = np.argsort(source * max(self.n_nodes, 1) + node)  # distinct pairs
        return source[order], node[order], distance[order]

    def _distances_within(self, sources: np.ndarray, radius_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`network_distances` in no particular order."""
        sources = np.unique(np.asarray(sources, dtype=np.int64))
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if len(sources) and self.n_nodes and not np.isfinite(radius_m):
            for block in self.local_distances(sources, radius_m=radius_m):
                row, col = np.nonzero(np.isfinite(block.distance_m))
                parts.append((block.sources[row], block.nodes[col], block.distance_m[row, col]))
        elif len(sources) * self.n_nodes <= ONE_BLOCK_ENTRIES:
            # a small network: one call for every source costs less than one call per batch
            dist = dijkstra(self.weighted(self.segment_length).matrix, indices=sources, limit=radius_m)
            row, node = np.nonzero(np.isfinite(dist))
            parts.append((sources[row], node.astype(np.int64), dist[row, node]))
        elif len(sources) and self.n_nodes:
            matrix = self.weighted(self.segment_length).matrix
            reach = radius_m * self.stretch + REACH_SLACK_M
            # only the nodes within reach of the sources' bounding box can be reached: a
            # search on their sub-graph costs nothing for the rest of a large network
            low, high = self.node_xy[sources].min(axis=0) - reach, self.node_xy[sources].max(axis=0) + reach
            window = np.flatnonzero(((self.node_xy >= low) & (self.node_xy <= high)).all(axis=1))
            if len(window) < self.n_nodes:
                matrix = matrix[window][:, window]
                local = np.searchsorted(window, sources)
            else:
                window, local = np.arange(self.n_nodes), sources
            for batch in disjoint_batches(self.node_xy[window], local, reach_m=reach):
                dist, _, owner = dijkstra(matrix, indices=batch, limit=radius_m, min_only=True,
                                          return_predecessors=True)
                node = np.flatnonzero(np.isfinite(dist))
                parts.append((window[owner[node]], window[node], dist[node]))
        if not parts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0)
        source, node, distance = (np.concatenate(p) for p in zip(*parts, strict=True))
        return source, node, distance

    def segment_distances(self, sources: np.ndarray, *, radius_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return every (source, segment, distance to the segment's nearer end) under ``radius_m``.

        Parameters
        ----------
        sources
            Node positions.
        radius_m
            The distances kept are below this (metres).

        Returns
        -------
        source, segment, distance_m
            Node position, segment and network distance (metres) from the source to the
            nearer end of the segment, sorted by source then segment.
        """
        source, node, distance = self._distances_within(sources, radius_m)
        near = distance < radius_m
        source, node, distance = source[near], node[near], distance[near]
        indptr, incident = self._node_incidence()
        first = indptr[node]
        count = indptr[node + 1] - first
        owner = np.repeat(np.arange(len(node)), count)
        at = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count) + first[owner]
        segment = incident[at]
        source, distance = source[owner], distance[owner]
        order = np.argsort(source * max(self.n_segments, 1) + segment)
        source, segment, distance = source[order], segment[order], distance[order]
        heads = np.flatnonzero(run_starts(source, segment))
        if len(heads) == 0:
            return source, segment, distance
        return source[heads], segment[heads], np.minimum.reduceat(distance, heads)

    def shortest_paths(
        self, graph: WeightedGraph, origins: np.ndarray, targets: np.ndarray, *, bounds: np.ndarray | None = None
    ) -> list[np.ndarray]:
        """Return the least-cost path (node positions) from each origin to its target under ``graph``.

        :meth:`shortest_paths_flat`, one array per path.
        """
        return split_runs(*self.shortest_paths_flat(graph, origins, targets, bounds=bounds))

    def shortest_paths_flat(
        self, graph: WeightedGraph, origins: np.ndarray, targets: np.ndarray, *, bounds: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the least-cost paths from each origin to its target under ``graph``, end to end.

        On a small network (distinct origins x nodes up to :data:`ONE_BLOCK_ENTRIES`) one
        Dijkstra with predecessors runs for all origins at once, bounded by the largest
        cost any pair may need. Otherwise one runs per distinct origin, bounded by the
        largest cost its targets may need: ``bounds`` where the caller knows one (the cost of a
        path already found), else :data:`ROUTE_STRETCH_GUESS` x the straight line plus
        :data:`ROUTE_SLACK_M` metres (valid for weights of at least the length). A target
        not reached within the bound is routed again without one, so the paths are those of
        an unbounded search. An unreachable target gets an empty path.

        Parameters
        ----------
        graph
            From :meth:`weighted`.
        origins, targets
            Node positions, one pair per entry.
        bounds
            Per pair, a cost no smaller than the least cost (same unit as the weights), or
            ``None`` to guess from the straight-line distance.

        Returns
        -------
        nodes, sizes
            The node positions of every path, origin first, one path after another, and
            the number of nodes of each (0 for an unreachable target).
        """
        origins = np.asarray(origins, dtype=np.int64)
        targets = np.asarray(targets, dtype=np.int64)
        if bounds is None:
            straight = np.linalg.norm(self.node_xy[origins] - self.node_xy[targets], axis=1)
            bounds = ROUTE_STRETCH_GUESS * straight + ROUTE_SLACK_M
        bounds = np.asarray(bounds, dtype=float)
        if len(origins) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        unique, rows = np.unique(origins, return_inverse=True)
        if len(unique) * self.n_nodes <= ONE_BLOCK_ENTRIES:
            # a small network: one call for every origin costs less than one call each
            limit = float(bounds.max()) * (1 + 1e-9) + 1e-6
            dist, pred = dijkstra(graph.matrix, indices=unique, limit=limit, return_predecessors=True)
            reached = np.isfinite(dist[rows, targets])
            if not reached.all():
                dist, pred = dijkstra(graph.matrix, indices=unique, return_predecessors=True)
                reached = np.isfinite(dist[rows, targets])
            return walk_back_flat(pred, rows, origins, targets, reached)
        paths: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * len(origins)
        order = np.argsort(rows, kind="stable")
        for todo in np.split(order, np.flatnonzero(run_starts(rows[order]))[1:]):
            origin = int(origins[todo[0]])
            limit = float(bounds[todo].max()) * (1 + 1e-9) + 1e-6
            dist, pred = dijkstra(graph.matrix, indices=origin, limit=limit, return_predecessors=True)
            reached = np.isfinite(dist[targets[todo]])
            if not reached.all():
                dist, pred = dijkstra(graph.matrix, indices=origin, return_predecessors=True)
                reached = np.isfinite(dist[targets[todo]])
            found = walk_back_all(pred[None, :], np.zeros(len(todo), dtype=np.int64), origins[todo], targets[todo],
                                  reached)
            for t, path in zip(todo.tolist(), found, strict=True):
                paths[t] = path
        return (np.concatenate(paths), np.fromiter((len(p) for p in paths), dtype=np.int64, count=len(paths)))

    # -- tables and write-back -----------------------------------------------------------

    def segment_frame(self, **columns: np.ndarray) -> gpd.GeoDataFrame:
        """Return the segment table as a GeoDataFrame in the index CRS.

        Columns: ``segment`` (index), ``u``/``v`` (OSM node ids), ``name`` (the name to
        walk by, :attr:`segment_name`), ``osm_name``, ``highway``, ``length_m`` and any
        extra per-segment arrays given as keyword arguments.
        """
        data: dict[str, Any] = {
            "segment": np.arange(self.n_segments),
            "u": self.node_ids[self.segment_u],
            "v": self.node_ids[self.segment_v],
            "name": self.segment_name,
            "osm_name": self.segment_osm_name,
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
        if self._coords is None:
            flat, owner = shapely.get_coordinates(self.segment_geometry, return_index=True)
            self._coords = (flat, np.searchsorted(owner, np.arange(self.n_segments + 1)))
        flat, start = self._coords
        coords: list[np.ndarray] = []
        for a, seg in zip(path[:-1].tolist(), np.asarray(segments).tolist(), strict=True):
            line = flat[start[seg] : start[seg + 1]]
            if self.segment_u[seg] != a:
                line = line[::-1]
            coords.append(line if not coords else line[1:])
        return LineString(np.concatenate(coords))

    def paths_geometry(self, paths: Sequence[np.ndarray], segments: Sequence[np.ndarray]) -> np.ndarray:
        """Return :meth:`path_geometry` of many paths at once, as an object array of LineStrings."""
        out = np.empty(len(paths), dtype=object)
        short = [i for i, p in enumerate(paths) if len(p) < 2]
        for i in short:
            out[i] = self.path_geometry(paths[i], segments[i])
        long = [i for i, p in enumerate(paths) if len(p) >= 2]
        if not long:
            return out
        segs = np.concatenate([np.asarray(segments[i], dtype=np.int64) for i in long])
        entry = np.concatenate([np.asarray(paths[i][:-1], dtype=np.int64) for i in long])
        owner = np.repeat(np.arange(len(long)), [len(paths[i]) - 1 for i in long])
        first_piece = run_starts(owner)
        forward = self.segment_u[segs] == entry
        if self._coords is not None:
            flat, start = self._coords
            seg_start, seg_stop = start[segs], start[segs + 1]
        else:  # the coordinates of the segments walked only (a plan walks a few of a city's)
            used, local = np.unique(segs, return_inverse=True)
            flat, used_owner = shapely.get_coordinates(self.segment_geometry[used], return_index=True)
            start = np.searchsorted(used_owner, np.arange(len(used) + 1))
            seg_start, seg_stop = start[local], start[local + 1]
        count = seg_stop - seg_start
        # each piece's coordinates in walking order, less its first one after the first piece of a path
        skip = (~first_piece).astype(np.int64)
        take = count - skip
        piece = np.repeat(np.arange(len(segs)), take)
        rank = np.arange(len(piece)) - np.repeat(np.cumsum(take) - take, take) + skip[piece]
        coord = np.where(forward[piece], seg_start[piece] + rank, seg_stop[piece] - 1 - rank)
        lines = shapely.linestrings(flat[coord], indices=owner[piece])
        for i, line in zip(long, np.asarray(lines, dtype=object).reshape(-1), strict=True):
            out[i] = line
        return out

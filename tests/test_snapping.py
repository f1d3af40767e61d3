"""Snapping points to segments, distances within a radius and the kernel spread, against plain brute force.

The index snaps, routes and spreads with vectorised shortcuts (a KD-tree of points along
the streets, batches of far-apart sources searched together, per-segment reach lists);
each is checked here against the obvious way on small random inputs, ties included.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString

import passages.risk as risk
import passages.streetindex as streetindex
from passages.streetindex import StreetIndex

CRS = "EPSG:32611"


def polyline_graph(seed: int, n_nodes: int, n_edges: int, *, grid_m: float, bends: int) -> nx.MultiDiGraph:
    """Nodes and bends on a coarse integer grid (so that many points lie equally near two streets), both directions."""
    rng = np.random.default_rng(seed)
    graph = nx.MultiDiGraph(crs=CRS)
    cells = rng.choice(121, size=n_nodes, replace=False)
    xy = np.c_[cells % 11, cells // 11].astype(float) * grid_m
    for i, (x, y) in enumerate(xy):
        graph.add_node(10 + i, x=float(x), y=float(y))
    for _ in range(n_edges):
        a, b = (int(v) for v in rng.choice(n_nodes, size=2, replace=False))
        inner = rng.integers(0, 11, size=(int(rng.integers(0, bends + 1)), 2)).astype(float) * grid_m
        line = LineString([xy[a], *inner, xy[b]])
        length = float(line.length) * float(rng.choice([1.0, 1.0, 1.02]))
        graph.add_edge(10 + a, 10 + b, length=length, geometry=line)
        graph.add_edge(10 + b, 10 + a, length=length, geometry=LineString(line.coords[::-1]))
    return graph


def brute_force_snap(index: StreetIndex, xy: np.ndarray, max_distance_m: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The documented rule with shapely, point by point: least distance, lowest segment on a tie."""
    segment = np.full(len(xy), -1, dtype=np.int64)
    distance = np.full(len(xy), np.inf)
    offset = np.zeros(len(xy))
    for i, point in enumerate(shapely.points(xy)):
        d = shapely.distance(point, index.segment_geometry)
        best = d.min()
        if best > max_distance_m:
            continue
        seg = int(np.flatnonzero(d == best)[0])
        line = index.segment_geometry[seg]
        scale = index.segment_length[seg] / line.length if line.length > 0 else 1.0
        segment[i], distance[i] = seg, best
        offset[i] = min(max(shapely.line_locate_point(line, point) * scale, 0.0), index.segment_length[seg])
    return segment, distance, offset


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), n_nodes=st.integers(2, 12), n_edges=st.integers(1, 14),
       bends=st.integers(0, 3), spacing=st.sampled_from([2.0, 10.0, 35.0]),
       neighbours=st.sampled_from([(8, 64), (1, 2), (2,)]),
       max_distance=st.sampled_from([5.0, 15.0, 60.0, 1000.0]), few=st.booleans(),
       box=st.sampled_from([0.5, 8.0, 30.0, 5000.0]))
def test_snapping_equals_the_brute_force_nearest_segment_ties_included(
        seed: int, n_nodes: int, n_edges: int, bends: int, spacing: float, neighbours: tuple[int, ...],
        max_distance: float, few: bool, box: float) -> None:
    graph = polyline_graph(seed, n_nodes, n_edges, grid_m=10.0, bends=bends)
    rng = np.random.default_rng(seed + 1)
    # half-metre steps: many points stand equally far from two streets, or on a corner
    xy = rng.integers(-10, 210, size=(80, 2)).astype(float) * 0.5
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(streetindex, "SNAP_SAMPLE_M", spacing)
        patch.setattr(streetindex, "SNAP_NEIGHBOURS", neighbours)
        patch.setattr(streetindex, "SNAP_BLOCK", 32)
        # the few-points way (pieces of the segments near each point, else a GEOS query), or
        # the vectorised way on the index's pieces
        patch.setattr(streetindex, "SNAP_TREE_POINTS_PER_SEGMENT", 0.0 if few else 1e9)
        patch.setattr(streetindex, "SNAP_BOX_M", box)
        index = StreetIndex(graph)
        segment, distance, offset = index.snap_points(xy, max_distance_m=max_distance)
    want_segment, want_distance, want_offset = brute_force_snap(index, xy, max_distance)
    assert segment.tolist() == want_segment.tolist()
    np.testing.assert_allclose(distance, want_distance, rtol=0, atol=1e-9)
    np.testing.assert_allclose(offset, want_offset, rtol=0, atol=1e-9)


@pytest.mark.parametrize("few", [True, False])
def test_points_without_coordinates_are_not_snapped(few: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streetindex, "SNAP_TREE_POINTS_PER_SEGMENT", 0.0 if few else 1e9)
    index = StreetIndex(polyline_graph(3, 6, 8, grid_m=10.0, bends=1))
    segment, distance, offset = index.snap_points(np.array([[np.nan, 5.0], [np.inf, 0.0], [20.0, 20.0]]),
                                                  max_distance_m=500)
    assert segment[:2].tolist() == [-1, -1] and np.isinf(distance[:2]).all() and offset[:2].tolist() == [0.0, 0.0]
    assert segment[2] >= 0


def test_snapping_far_from_every_street_and_on_an_empty_network() -> None:
    index = StreetIndex(polyline_graph(4, 5, 4, grid_m=10.0, bends=0))
    segment, distance, _ = index.snap_points(np.array([[5000.0, 5000.0]]), max_distance_m=60)
    assert segment.tolist() == [-1] and np.isinf(distance[0])
    empty = StreetIndex(nx.MultiDiGraph(crs=CRS))
    assert empty.snap_points(np.array([[0.0, 0.0]]), max_distance_m=60)[0].tolist() == [-1]


def random_network(seed: int, n: int = 80, extent_m: float = 600.0) -> nx.MultiDiGraph:
    """Random nodes joined to their 3 nearest neighbours by straight streets (some parallel), both directions."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, extent_m, size=(n, 2))
    graph = nx.MultiDiGraph(crs=CRS)
    for i, (x, y) in enumerate(xy):
        graph.add_node(i, x=float(x), y=float(y))
    for i in range(n):
        for j in np.argsort(np.linalg.norm(xy - xy[i], axis=1))[1:4].tolist():
            length = float(np.linalg.norm(xy[i] - xy[j])) * float(rng.choice([1.0, 1.1, 1.3]))
            for a, b in ((i, j), (j, i)):
                graph.add_edge(a, b, length=length, geometry=LineString([xy[a], xy[b]]))
    return graph


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), radius=st.sampled_from([0.5, 30.0, 90.0, 250.0, 5000.0]))
def test_distances_within_a_radius_equal_one_search_per_source(seed: int, radius: float) -> None:
    index = StreetIndex(random_network(seed))
    sources = np.random.default_rng(seed).choice(index.n_nodes, size=40, replace=False)
    source, node, distance = index.network_distances(sources, radius_m=radius)
    full = dijkstra(index.weighted(index.segment_length).matrix, indices=np.sort(sources), limit=radius)
    row, col = np.nonzero(np.isfinite(full))
    assert source.tolist() == np.sort(sources)[row].tolist() and node.tolist() == col.tolist()
    assert distance.tolist() == full[row, col].tolist()  # the same sums, to the last bit
    # the nearer end of every segment, below the radius
    src, seg, near = index.segment_distances(sources, radius_m=radius)
    padded = np.c_[full, np.full(len(full), np.inf)]
    nearer = np.minimum(padded[:, index.segment_u], padded[:, index.segment_v])
    row, col = np.nonzero(nearer < radius)
    assert src.tolist() == np.sort(sources)[row].tolist() and seg.tolist() == col.tolist()
    assert near.tolist() == nearer[row, col].tolist()


def plain_spread(index: StreetIndex, segment: np.ndarray, offset: np.ndarray, weight: np.ndarray,
                 bandwidth: float) -> np.ndarray:
    """The kernel of :func:`passages.risk.spread_positions` written incident by incident."""
    matrix = index.weighted(index.segment_length).matrix
    length = index.segment_length
    mass = np.zeros(index.n_segments)
    for seg, off, w in zip(segment.tolist(), offset.tolist(), weight.tolist(), strict=True):
        ends = dijkstra(matrix, indices=[index.segment_u[seg], index.segment_v[seg]])
        to_seg = np.minimum(ends[:, index.segment_u], ends[:, index.segment_v])
        dist = np.minimum(off + to_seg[0], length[seg] - off + to_seg[1])
        dist[seg] = 0.0
        near = dist < bandwidth
        share = np.where(near, (1.0 - (dist / bandwidth) ** 2) ** 2 * length, 0.0)
        if share.sum() <= 0:
            mass[seg] += w
        else:
            mass += w * share / share.sum()
    return mass


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), bandwidth=st.sampled_from([20.0, 60.0, 150.0, 400.0]),
       one_block=st.booleans(), tiny_groups=st.booleans())
def test_spread_equals_a_plain_loop_over_incidents(seed: int, bandwidth: float, one_block: bool,
                                                   tiny_groups: bool) -> None:
    index = StreetIndex(random_network(seed, n=50))
    rng = np.random.default_rng(seed)
    segment = rng.integers(0, index.n_segments, size=60)
    offset = rng.uniform(0, 1, size=60) * index.segment_length[segment]
    offset[:10] = offset[10:20]  # incidents sharing a position
    segment[:10] = segment[10:20]
    weight = rng.uniform(0.1, 3.0, size=60)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(streetindex, "ONE_BLOCK_ENTRIES", 10**9 if one_block else 0)
        if tiny_groups:  # several groups of segments, several rounds of pairs per group
            patch.setattr(risk, "FIRST_SEGMENT_GROUP", 3)
            patch.setattr(risk, "SPREAD_ENTRIES", 50)
        mass = risk.spread_positions(index, segment, offset, weight, bandwidths_m=[bandwidth, bandwidth / 2])
    np.testing.assert_allclose(mass[0], plain_spread(index, segment, offset, weight, bandwidth), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mass[1], plain_spread(index, segment, offset, weight, bandwidth / 2),
                               rtol=1e-12, atol=1e-12)
    assert mass.sum(axis=1) == pytest.approx([weight.sum()] * 2, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(0, 40), min_size=0, max_size=30), seed=st.integers(0, 10**6))
def test_running_lengths_add_piece_after_piece_as_geos(counts: list[int], seed: int) -> None:
    from passages._graph_search import running_lengths

    lengths = np.random.default_rng(seed).uniform(0, 100, size=sum(counts)) ** 3 / 7.0
    first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    start, total = running_lengths(lengths, first)
    for i, count in enumerate(counts):
        running = 0.0
        for j in range(first[i], first[i] + count):
            assert start[j] == running  # the same additions in the same order: equal to the last bit
            running += float(lengths[j])
        assert total[i] == running

"""The street index: segment table, distances within a radius (tiled), bounded routing, snapping ties."""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString, Point, box

import passages.streetindex as streetindex
from passages.areas import load_areas
from passages.incidents import load_incidents
from passages.risk import node_weights, spread
from passages.streetindex import StreetIndex

CRS = "EPSG:32611"
WEIGHTED = "incidents/licgermancardenas_LAPD-DATA-CRIME/crime_points_by_hour.csv"


def random_street_graph(seed: int, n: int = 60, *, extent_m: float = 1500.0, detour: float = 1.3) -> nx.MultiDiGraph:
    """Random nodes joined to their 3 nearest neighbours, both directions, length >= straight line."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, extent_m, size=(n, 2))
    graph = nx.MultiDiGraph(crs=CRS)
    for i, (x, y) in enumerate(xy):
        graph.add_node(1000 + i, x=float(x), y=float(y))
    for i in range(n):
        near = np.argsort(np.linalg.norm(xy - xy[i], axis=1))[1:4]
        for j in near:
            if graph.has_edge(1000 + i, 1000 + int(j)):
                continue
            length = float(np.linalg.norm(xy[i] - xy[j]) * rng.uniform(1.0, detour))
            for a, b in ((i, int(j)), (int(j), i)):
                graph.add_edge(1000 + a, 1000 + b, length=length, name=f"street {min(a, b)}",
                               highway="residential", geometry=LineString([xy[a], xy[b]]))
    return graph


def plain_segments(graph: nx.MultiDiGraph) -> list[int]:
    """The documented rule, written as a loop: a segment per (ends, length to 1 cm), numbered by first edge."""
    seen: dict[tuple[int, int, float], int] = {}
    out = []
    for u, v, length in graph.edges(data="length"):
        key = (min(u, v), max(u, v), float(np.round(float(length), 2)))
        out.append(seen.setdefault(key, len(seen)))
    return out


@settings(max_examples=40, deadline=None)
@given(edges=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.sampled_from([10.0, 10.004, 10.01, 25.5])),
                      min_size=1, max_size=40))
def test_segment_table_counts_each_street_once_numbered_by_first_edge(edges) -> None:
    graph = nx.MultiDiGraph(crs=CRS)
    for node in range(7):
        graph.add_node(node, x=float(node * 30), y=float((node % 3) * 20))
    for u, v, length in edges:
        graph.add_edge(u, v, length=length)
    index = StreetIndex(graph)
    assert index.edge_segment.tolist() == plain_segments(graph)
    assert index.n_segments == len(set(plain_segments(graph)))
    # a segment's ends and length are those of the first edge listing it
    for seg in range(index.n_segments):
        u, v, k = index.edges[int(np.flatnonzero(index.edge_segment == seg)[0])]
        assert (index.node_ids[index.segment_u[seg]], index.node_ids[index.segment_v[seg]]) == (u, v)
        assert index.segment_length[seg] == graph.edges[u, v, k]["length"]


def test_names_and_highways_read_as_text() -> None:
    graph = nx.MultiDiGraph(crs=CRS)
    graph.add_node(1, x=0.0, y=0.0)
    graph.add_node(2, x=100.0, y=0.0)
    graph.add_node(3, x=100.0, y=100.0)
    graph.add_edge(1, 2, length=100.0, name=["Main St", "Route 1"], highway=["primary", "secondary"])
    graph.add_edge(2, 3, length=100.0, highway="footway")
    index = StreetIndex(graph)
    assert index.segment_osm_name.tolist() == ["Main St / Route 1", ""]
    assert index.segment_highway.tolist() == ["primary / secondary", "footway"]
    # the footway leaving Main St is walked by as a footpath off it
    assert index.segment_name.tolist() == ["Main St / Route 1", "footpath off Main St / Route 1"]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), radius=st.floats(20, 700), tile=st.floats(30, 900))
def test_tiled_distances_equal_a_whole_network_dijkstra(seed: int, radius: float, tile: float) -> None:
    index = StreetIndex(random_street_graph(seed))
    sources = np.arange(0, index.n_nodes, 3)
    source, node, distance = [], [], []
    for block in index.local_distances(sources, radius_m=radius, tile_m=tile):
        row, col = np.nonzero(np.isfinite(block.distance_m))
        source.append(block.sources[row])
        node.append(block.nodes[col])
        distance.append(block.distance_m[row, col])
    found = {(int(s), int(n)): d for s, n, d in zip(np.concatenate(source), np.concatenate(node),
                                                   np.concatenate(distance), strict=True)}
    truth = dijkstra(index.weighted(index.segment_length).matrix, indices=sources, limit=radius)
    expected = {(int(s), int(n)): truth[i, n]
                for i, s in enumerate(sources) for n in np.flatnonzero(truth[i] <= radius)}
    assert found.keys() == expected.keys()
    for key, value in expected.items():
        assert found[key] == pytest.approx(value, rel=1e-12, abs=1e-9)


def test_each_source_is_in_exactly_one_block_and_segments_touch_its_window() -> None:
    index = StreetIndex(random_street_graph(7, n=120, extent_m=3000))
    sources = np.arange(index.n_nodes)
    seen = []
    for block in index.local_distances(sources, radius_m=200, tile_m=400):
        seen.extend(block.sources.tolist())
        inside = np.isin(index.segment_u[block.segments], block.nodes) | np.isin(index.segment_v[block.segments],
                                                                                  block.nodes)
        assert inside.all()
        assert block.segment_distance().shape == (len(block.sources), len(block.segments))
    assert sorted(seen) == list(range(index.n_nodes))
    assert len(seen) > 0


def test_a_street_shorter_than_its_straight_line_turns_tiles_off_and_distances_stay_exact() -> None:
    graph = random_street_graph(3)
    u, v, k = next(iter(graph.edges(keys=True)))
    # a "tunnel": far apart in the plane, close along the network
    graph.edges[u, v, k]["length"] = 1.0
    for key in list(graph[v][u]):
        graph.edges[v, u, key]["length"] = 1.0
    index = StreetIndex(graph)
    assert index.stretch > streetindex.MAX_STRETCH
    source, node, distance = index.network_distances(np.arange(index.n_nodes), radius_m=150)
    truth = dijkstra(index.weighted(index.segment_length).matrix, limit=150)
    assert len(distance) == int(np.isfinite(truth).sum())
    assert np.allclose(distance, truth[source, node])


def test_network_distances_match_networkx_on_a_real_street_network(sample_graphs: dict) -> None:
    graph = sample_graphs["south-la"]
    index = StreetIndex(graph)
    assert 1.0 <= index.stretch < 1.01  # osmnx lengths against UTM straight lines
    sources = np.arange(0, index.n_nodes, 97)
    source, node, distance = index.network_distances(sources, radius_m=300)
    undirected = graph.to_undirected()
    for s in sources:
        expected = nx.single_source_dijkstra_path_length(undirected, int(index.node_ids[s]), cutoff=300,
                                                         weight="length")
        mine = source == s
        got = dict(zip(index.node_ids[node[mine]].tolist(), distance[mine].tolist(), strict=True))
        assert got.keys() == expected.keys()
        for n, d in expected.items():
            assert got[n] == pytest.approx(d, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.0, 3.0))
def test_bounded_shortest_paths_are_least_cost_paths(seed: int, scale: float) -> None:
    index = StreetIndex(random_street_graph(seed, n=80, extent_m=4000))
    rng = np.random.default_rng(seed)
    weights = index.segment_length * (1.0 + scale * rng.uniform(0, 1, index.n_segments))
    graph = index.weighted(weights)
    origins = rng.integers(0, index.n_nodes, 30)
    targets = rng.integers(0, index.n_nodes, 30)
    truth = dijkstra(graph.matrix, indices=origins)[np.arange(30), targets]
    saved = streetindex.ONE_BLOCK_ENTRIES
    try:
        for one_block in (0, 10**9):  # per origin with bounds, then all origins in one call
            streetindex.ONE_BLOCK_ENTRIES = one_block
            paths = index.shortest_paths(graph, origins, targets)
            for path, o, t, cost in zip(paths, origins, targets, truth, strict=True):
                if not np.isfinite(cost):
                    assert len(path) == 0
                    continue
                assert path[0] == o and path[-1] == t
                assert graph.matrix[path[:-1], path[1:]].sum() == pytest.approx(cost, rel=1e-12, abs=1e-9)
    finally:
        streetindex.ONE_BLOCK_ENTRIES = saved


def test_an_unreachable_target_gets_an_empty_path() -> None:
    graph = nx.MultiDiGraph(crs=CRS)
    for node, x in ((1, 0.0), (2, 50.0), (3, 5000.0), (4, 5050.0)):
        graph.add_node(node, x=x, y=0.0)
    for u, v in ((1, 2), (2, 1), (3, 4), (4, 3)):
        graph.add_edge(u, v, length=50.0)
    index = StreetIndex(graph)
    paths = index.shortest_paths(index.weighted(index.segment_length), index.node_positions([1, 1]),
                                 index.node_positions([2, 4]))
    assert index.node_ids[paths[0]].tolist() == [1, 2]
    assert len(paths[1]) == 0


def test_snapping_ties_go_to_the_first_segment_in_graph_order() -> None:
    # two parallel streets 20 m apart, listed "north" first; a point halfway between them
    graph = nx.MultiDiGraph(crs=CRS)
    for node, (x, y) in {1: (0, 20), 2: (100, 20), 3: (0, 0), 4: (100, 0)}.items():
        graph.add_node(node, x=float(x), y=float(y))
    graph.add_edge(1, 2, length=100.0)
    graph.add_edge(3, 4, length=100.0)
    index = StreetIndex(graph)
    segment, distance, offset = index.snap_points(np.array([[30.0, 10.0]]), max_distance_m=50)
    assert segment.tolist() == [0] and distance[0] == pytest.approx(10) and offset[0] == pytest.approx(30)
    # a park touching both streets reaches the network by the first one, at its nearer end
    nodes, dist = index.street_access([box(70, 0, 95, 20)])
    assert nodes.tolist() == [2] and dist.tolist() == [0.0]
    # listed the other way round (networkx lists edges node by node, in node order)
    graph_b = nx.MultiDiGraph(crs=CRS)
    graph_b.add_nodes_from((n, graph.nodes[n]) for n in (3, 4, 1, 2))
    graph_b.add_edge(3, 4, length=100.0)
    graph_b.add_edge(1, 2, length=100.0)
    assert StreetIndex(graph_b).street_access([box(70, 0, 95, 20)])[0].tolist() == [4]


@pytest.mark.parametrize("slug", ["south-la", "downtown"])
def test_tiled_kernel_spreads_the_same_mass_as_one_dense_block(slug: str, shared_data: Path, sample_graphs: dict,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    area = load_areas()[slug]
    index = StreetIndex(sample_graphs[slug])
    points = load_incidents(shared_data / WEIGHTED, area=area).points
    per_node, _ = node_weights(index, shapely.get_coordinates(points.geometry.to_numpy()),
                               points["weight"].to_numpy(), snap_m=60)
    monkeypatch.setattr(streetindex, "ONE_BLOCK_ENTRIES", 10**12)
    one_block = spread(index, per_node, bandwidth_m=250)
    monkeypatch.setattr(streetindex, "ONE_BLOCK_ENTRIES", 0)
    monkeypatch.setattr(streetindex, "TILE_RADII", 1.5)  # many small tiles
    tiled = spread(index, per_node, bandwidth_m=250)
    assert tiled == pytest.approx(one_block, rel=1e-12, abs=1e-12)
    assert tiled.sum() == pytest.approx(per_node.sum(), rel=1e-12)


def test_path_geometry_follows_the_streets_in_walking_order() -> None:
    graph = nx.MultiDiGraph(crs=CRS)
    for node, (x, y) in {1: (0, 0), 2: (100, 0), 3: (100, 100)}.items():
        graph.add_node(node, x=float(x), y=float(y))
    bend = LineString([(100, 100), (150, 50), (100, 0)])  # stored from 3 to 2
    graph.add_edge(1, 2, length=100.0)
    graph.add_edge(3, 2, length=bend.length, geometry=bend)
    graph.add_edge(2, 3, length=bend.length, geometry=LineString(bend.coords[::-1]))
    index = StreetIndex(graph)
    path = index.node_positions([1, 2, 3])
    weighted = index.weighted(index.segment_length)
    line = index.path_geometry(path, index.path_segments(path, weighted))
    assert list(line.coords) == [(0, 0), (100, 0), (150, 50), (100, 100)]
    assert line.length == pytest.approx(100 + 2 * math.hypot(50, 50))
    assert Point(150, 50).distance(line) == 0


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_batched_segments_and_lines_equal_one_path_at_a_time(seed: int) -> None:
    graph = random_street_graph(seed, n=50)
    # some curved streets, stored in one direction only as osmnx does for a reversed edge
    for u, v, k in list(graph.edges(keys=True))[::3]:
        a, b = graph.nodes[u], graph.nodes[v]
        bend = ((a["x"] + b["x"]) / 2 + 7, (a["y"] + b["y"]) / 2)
        graph.edges[u, v, k]["geometry"] = LineString([(a["x"], a["y"]), bend, (b["x"], b["y"])])
    index = StreetIndex(graph)
    weighted = index.weighted(index.segment_length)
    rng = np.random.default_rng(seed)
    origins, targets = rng.integers(0, index.n_nodes, 15), rng.integers(0, index.n_nodes, 15)
    paths = index.shortest_paths(weighted, origins, targets)
    batched = index.paths_segments(paths, weighted)
    lines = index.paths_geometry(paths, batched)
    for path, segments, line in zip(paths, batched, lines, strict=True):
        assert segments.tolist() == index.path_segments(path, weighted).tolist()
        assert list(line.coords) == list(index.path_geometry(path, segments).coords)

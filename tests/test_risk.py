"""Risk per street segment: snapping, the network kernel, mass conservation, hot segments."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point

from passages._errors import InputError
from passages.areas import load_areas
from passages.incidents import load_incidents
from passages.risk import add_edge_risk, hot_segments, score_segments, spread
from passages.streetindex import StreetIndex

CRS = "EPSG:32611"
WEIGHTED = "incidents/licgermancardenas_LAPD-DATA-CRIME/crime_points_by_hour.csv"


def grid_graph(n: int = 4, spacing: float = 100.0) -> nx.MultiDiGraph:
    """An n x n street grid in metres, both directions, as osmnx would store it."""
    graph = nx.MultiDiGraph(crs=CRS)
    for i in range(n):
        for j in range(n):
            graph.add_node(i * n + j, x=j * spacing, y=i * spacing)
    for i in range(n):
        for j in range(n):
            here = i * n + j
            for there in ([here + 1] if j < n - 1 else []) + ([here + n] if i < n - 1 else []):
                for u, v in ((here, there), (there, here)):
                    a, b = graph.nodes[u], graph.nodes[v]
                    graph.add_edge(u, v, length=spacing, name=f"street {min(u, v)}-{max(u, v)}",
                                   geometry=LineString([(a["x"], a["y"]), (b["x"], b["y"])]), highway="residential")
    return graph


def points(xy: list[tuple[float, float]], weight: list[float] | None = None) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"weight": weight if weight is not None else [1.0] * len(xy)},
                            geometry=[Point(p) for p in xy], crs=CRS)


def test_grid_has_one_segment_per_street() -> None:
    index = StreetIndex(grid_graph(4))
    assert index.n_segments == 24  # 2 x 4 x 3 streets, each stored as two directed edges
    assert len(index.edges) == 48


@settings(max_examples=60, deadline=None)
@given(
    xy=st.lists(st.tuples(st.floats(-50, 350), st.floats(-50, 350)), min_size=0, max_size=40),
    weights=st.lists(st.floats(0.01, 10), min_size=40, max_size=40),
    bandwidth=st.floats(10, 600),
)
def test_mass_on_the_network_equals_the_snapped_weight(xy, weights, bandwidth) -> None:
    index = StreetIndex(grid_graph(4))
    incidents = points(xy, weights[: len(xy)])
    score = score_segments(index, incidents, snap_m=30, bandwidth_m=bandwidth)
    assert score.mass.sum() == pytest.approx(score.snapped_weight, rel=1e-9, abs=1e-9)
    assert score.snapped + score.too_far == len(xy)
    assert score.snapped_weight + score.too_far_weight == pytest.approx(sum(weights[: len(xy)]))
    assert (score.mass >= 0).all()


def test_incidents_beyond_snap_distance_are_counted_not_scored() -> None:
    index = StreetIndex(grid_graph(3))
    score = score_segments(index, points([(50, 5), (50, 45), (500, 500)]), snap_m=20, bandwidth_m=150)
    assert (score.snapped, score.too_far) == (1, 2)
    assert score.mass.sum() == pytest.approx(1.0)


def test_weight_spreads_only_within_the_bandwidth_along_the_network() -> None:
    index = StreetIndex(grid_graph(5))
    # one incident at a node: node (0, 0) of the grid
    score = score_segments(index, points([(0.0, 0.0)]), snap_m=10, bandwidth_m=150)
    # segments whose nearer end is at most 100 m from the corner along the streets get weight;
    # those whose nearer end is 200 m away or more (beyond 150 m) get none
    near_end = np.minimum(index.node_xy[index.segment_u].sum(axis=1), index.node_xy[index.segment_v].sum(axis=1))
    assert (score.mass[near_end >= 200] == 0).all()
    assert (score.mass[near_end <= 100] > 0).all()
    # the two streets at the corner get the most
    top = set(np.argsort(-score.mass)[:2])
    assert top == set(np.flatnonzero(near_end == 0))


def test_risk_per_100m_and_hot_share() -> None:
    index = StreetIndex(grid_graph(4))
    score = score_segments(index, points([(50, 0), (50, 0), (250, 300)]), snap_m=10, bandwidth_m=50, hot_share=0.25)
    assert score.risk_per_100m == pytest.approx(score.mass / index.segment_length * 100)
    assert score.hot.sum() == 6  # a quarter of 24 segments, all with risk
    assert score.risk_per_100m[score.hot].min() >= score.risk_per_100m[~score.hot].max()


def test_hot_segments_never_flags_zero_risk() -> None:
    assert not hot_segments(np.zeros(10), 0.5).any()
    assert hot_segments(np.array([0, 3.0, 0, 1.0]), 0.5).tolist() == [False, True, False, True]


def test_no_incidents_means_no_risk() -> None:
    index = StreetIndex(grid_graph(3))
    score = score_segments(index, points([]))
    assert score.mass.sum() == 0 and not score.hot.any()


def test_bad_parameters_name_the_field() -> None:
    index = StreetIndex(grid_graph(3))
    with pytest.raises(InputError, match="snap_m"):
        score_segments(index, points([(0, 0)]), snap_m=0)
    with pytest.raises(InputError, match="bandwidth_m"):
        spread(index, np.ones(index.n_nodes), bandwidth_m=-1)
    with pytest.raises(InputError, match="EPSG"):
        score_segments(index, points([(0, 0)]).set_crs(4326, allow_override=True))


def test_edge_attributes_are_written_to_both_directions() -> None:
    graph = grid_graph(3)
    index = StreetIndex(graph)
    score = score_segments(index, points([(50, 0)]), snap_m=10, bandwidth_m=80)
    add_edge_risk(graph, index, score)
    assert graph.edges[0, 1, 0]["risk"] == graph.edges[1, 0, 0]["risk"] > 0
    total = sum(m for _, _, m in graph.edges(data="incidents"))
    assert total == pytest.approx(2 * score.mass.sum())  # each street is two directed edges


@pytest.mark.parametrize("slug", ["south-la", "south-central", "downtown"])
def test_real_incidents_conserve_mass_on_each_sample_area(slug: str, shared_data: Path, sample_graphs: dict) -> None:
    area = load_areas()[slug]
    incidents = load_incidents(shared_data / WEIGHTED, area=area)
    index = StreetIndex(sample_graphs[slug])
    score = score_segments(index, incidents.points)
    assert score.snapped > 50
    assert score.mass.sum() == pytest.approx(float(incidents.points["weight"].sum()) - score.too_far_weight, rel=1e-9)
    assert score.mass.sum() == pytest.approx(score.snapped_weight, rel=1e-9)
    # risk is concentrated: the hot 5 % of segments carry far more than 5 % of the mass
    assert score.mass[score.hot].sum() / score.mass.sum() > 0.10

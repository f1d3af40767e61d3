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
from street_graphs import street_grid

from passages._errors import InputError
from passages.areas import load_areas
from passages.incidents import load_incidents
from passages.risk import add_edge_risk, hot_segments, score_segments, spread, spread_positions
from passages.streetindex import StreetIndex

CRS = "EPSG:32611"
WEIGHTED = "incidents/licgermancardenas_LAPD-DATA-CRIME/crime_points_by_hour.csv"


def points(xy: list[tuple[float, float]], weight: list[float] | None = None) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"weight": weight if weight is not None else [1.0] * len(xy)},
                            geometry=[Point(p) for p in xy], crs=CRS)


def test_grid_has_one_segment_per_street() -> None:
    index = StreetIndex(street_grid(4, 4))
    assert index.n_segments == 24  # 2 x 4 x 3 streets, each stored as two directed edges
    assert len(index.edges) == 48


@settings(max_examples=60, deadline=None)
@given(
    xy=st.lists(st.tuples(st.floats(-50, 350), st.floats(-50, 350)), min_size=0, max_size=40),
    weights=st.lists(st.floats(0.01, 10), min_size=40, max_size=40),
    bandwidth=st.floats(10, 600),
)
def test_mass_on_the_network_equals_the_snapped_weight(xy, weights, bandwidth) -> None:
    index = StreetIndex(street_grid(4, 4))
    incidents = points(xy, weights[: len(xy)])
    score = score_segments(index, incidents, snap_m=30, bandwidth_m=bandwidth)
    assert score.mass.sum() == pytest.approx(score.snapped_weight, rel=1e-9, abs=1e-9)
    assert score.snapped + score.too_far == len(xy)
    assert score.snapped_weight + score.too_far_weight == pytest.approx(sum(weights[: len(xy)]))
    assert (score.mass >= 0).all()


def test_incidents_beyond_snap_distance_are_counted_not_scored() -> None:
    index = StreetIndex(street_grid(3, 3))
    score = score_segments(index, points([(50, 5), (50, 45), (500, 500)]), snap_m=20, bandwidth_m=150)
    assert (score.snapped, score.too_far) == (1, 2)
    assert score.mass.sum() == pytest.approx(1.0)


def test_weight_spreads_only_within_the_bandwidth_along_the_network() -> None:
    index = StreetIndex(street_grid(5, 5))
    # one incident at a node: node (0, 0) of the grid
    score = score_segments(index, points([(0.0, 0.0)]), snap_m=10, bandwidth_m=150, own_share=0.0)
    # segments whose nearer end is at most 100 m from the corner along the streets get weight;
    # those whose nearer end is 200 m away or more (beyond 150 m) get none
    near_end = np.minimum(index.node_xy[index.segment_u].sum(axis=1), index.node_xy[index.segment_v].sum(axis=1))
    assert (score.mass[near_end >= 200] == 0).all()
    assert (score.mass[near_end <= 100] > 0).all()
    # the two streets at the corner get the most
    top = set(np.argsort(-score.mass)[:2])
    assert top == set(np.flatnonzero(near_end == 0))


def test_risk_per_100m_and_hot_share() -> None:
    index = StreetIndex(street_grid(4, 4))
    # a 60 m kernel from mid-block (50 m from each corner) reaches the 6 segments at the two
    # corners of each block: 2 blocks x (itself + 2 x 2 neighbours) minus none shared = 10 with risk
    score = score_segments(index, points([(50, 0), (50, 0), (250, 300)]), snap_m=10, bandwidth_m=60,
                           hot_share=0.25, own_share=0.0)
    assert score.risk_per_100m == pytest.approx(score.mass / index.segment_length * 100)
    assert (score.mass > 0).sum() >= 6
    assert score.hot.sum() == 6  # a quarter of 24 segments, all with risk
    assert score.risk_per_100m[score.hot].min() >= score.risk_per_100m[~score.hot].max()


def test_hot_segments_never_flags_zero_risk() -> None:
    assert not hot_segments(np.zeros(10), 0.5).any()
    assert hot_segments(np.array([0, 3.0, 0, 1.0]), 0.5).tolist() == [False, True, False, True]


def test_no_incidents_means_no_risk() -> None:
    index = StreetIndex(street_grid(3, 3))
    score = score_segments(index, points([]))
    assert score.mass.sum() == 0 and not score.hot.any()


def test_bad_parameters_name_the_field() -> None:
    index = StreetIndex(street_grid(3, 3))
    with pytest.raises(InputError, match="snap_m"):
        score_segments(index, points([(0, 0)]), snap_m=0)
    with pytest.raises(InputError, match="bandwidth_m"):
        spread(index, np.ones(index.n_nodes), bandwidth_m=-1)
    with pytest.raises(InputError, match="EPSG"):
        score_segments(index, points([(0, 0)]).set_crs(4326, allow_override=True))


def test_edge_attributes_are_written_to_both_directions() -> None:
    graph = street_grid(3, 3)
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
    score = score_segments(index, incidents.points, severity=True)
    assert score.snapped > 50
    assert score.mass.sum() == pytest.approx(float(incidents.points["weight"].sum()) - score.too_far_weight, rel=1e-9)
    assert score.mass.sum() == pytest.approx(score.snapped_weight, rel=1e-9)
    # risk is concentrated: the hot 5 % of segments carry far more than 5 % of the mass
    assert score.mass[score.hot].sum() / score.mass.sum() > 0.10


# --------------------------------------------------------------------------- the kernel from the incident's position


def street_graph() -> nx.MultiDiGraph:
    """A hand-made street: a main street of three 100 m blocks (nodes 0-3) with a side street at node 1.

    ::

        0 ---- 1 ---- 2 ---- 3        (y = 0; x = 0, 100, 200, 300)
               |
               4                      (x = 100, y = -100)
    """
    graph = nx.MultiDiGraph(crs=CRS)
    for node, (x, y) in {0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (300, 0), 4: (100, -100)}.items():
        graph.add_node(node, x=float(x), y=float(y))
    for u, v in ((0, 1), (1, 2), (2, 3), (1, 4)):
        a, b = graph.nodes[u], graph.nodes[v]
        line = LineString([(a["x"], a["y"]), (b["x"], b["y"])])
        graph.add_edge(u, v, length=100.0, geometry=line, name=f"{u}-{v}")
        graph.add_edge(v, u, length=100.0, geometry=LineString(line.coords[::-1]), name=f"{u}-{v}")
    return graph


def segment_of(index: StreetIndex, name: str) -> int:
    return int(np.flatnonzero(index.segment_name == name)[0])


@pytest.mark.parametrize("own_share", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("bandwidth", [30.0, 150.0, 400.0])
def test_the_incidents_own_segment_scores_highest_and_weight_is_conserved(own_share: float, bandwidth: float) -> None:
    """An incident 20 m along block 1-2 (80 m from node 2): its block is at distance 0.

    The old node kernel split the weight to nodes 1 and 2 and measured from each, so the
    side street 1-4 and block 0-1 (both touching node 1, 20 m away) scored like block 1-2
    itself. Measured from the incident, block 1-2 is at 0 m, blocks 0-1 and 1-4 at 20 m and
    block 2-3 at 80 m: every neighbour gets a kernel value below 1, block 1-2 exactly 1.
    """
    index = StreetIndex(street_graph())
    score = score_segments(index, points([(120.0, 4.0)], [2.5]), snap_m=10, bandwidth_m=bandwidth,
                           own_share=own_share)
    own = segment_of(index, "1-2")
    assert score.mass.sum() == pytest.approx(2.5, rel=1e-12)
    assert score.snapped_weight == pytest.approx(2.5)
    others = np.delete(score.risk_per_100m, own)
    assert score.risk_per_100m[own] > others.max()
    # the nearer way round: the side street (20 m via node 1) outranks the far block (80 m via node 2)
    if bandwidth > 80:
        assert score.mass[segment_of(index, "1-4")] > score.mass[segment_of(index, "2-3")] > 0
    # the kernel part alone gives each segment K(d) x length over the sum, d from the incident
    kernel = spread_positions(index, np.array([own]), np.array([20.0]), np.array([1.0]), bandwidths_m=[bandwidth])[0]
    d = np.full(index.n_segments, np.inf)
    d[own], d[segment_of(index, "0-1")], d[segment_of(index, "1-4")], d[segment_of(index, "2-3")] = 0, 20, 20, 80
    k = np.where(d < bandwidth, (1 - (d / bandwidth) ** 2) ** 2, 0.0) * 100.0
    assert kernel == pytest.approx(k / k.sum(), rel=1e-12, abs=1e-15)


def test_a_narrow_kernel_keeps_mid_block_incidents_on_their_block() -> None:
    # 50 m from each corner and a 30 m kernel: nothing reaches the neighbours, like a count
    index = StreetIndex(street_grid(4, 4))
    score = score_segments(index, points([(50, 2), (50, 2), (150, 2)]), snap_m=10, bandwidth_m=30, own_share=0.0)
    assert sorted(score.mass[score.mass > 0].tolist()) == [1.0, 2.0]


def test_incidents_at_one_position_are_one_source_with_their_summed_weight() -> None:
    index = StreetIndex(street_graph())
    seg = segment_of(index, "1-2")
    one = spread_positions(index, np.array([seg]), np.array([30.0]), np.array([3.0]), bandwidths_m=[120, 300])
    three = spread_positions(index, np.full(3, seg), np.full(3, 30.0), np.ones(3), bandwidths_m=[120, 300])
    assert one == pytest.approx(three, rel=1e-12)
    assert one.sum(axis=1) == pytest.approx([3.0, 3.0])


def test_severity_off_counts_each_incident_once() -> None:
    index = StreetIndex(street_grid(3, 3))
    incidents = points([(50, 2), (150, 2)], [3.0, 0.5])
    incidents["category"] = ["violent", "other"]
    counted = score_segments(index, incidents, snap_m=10, bandwidth_m=30, own_share=1.0, severity=False)
    weighted = score_segments(index, incidents, snap_m=10, bandwidth_m=30, own_share=1.0, severity=True)
    assert sorted(counted.mass[counted.mass > 0].tolist()) == pytest.approx([1.0, 1.0])
    assert weighted.mass.sum() == pytest.approx(3.5)
    with pytest.raises(InputError, match="own_share"):
        score_segments(index, incidents, own_share=1.5)

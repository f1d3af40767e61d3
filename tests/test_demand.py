"""Demand from homes: home blocks, walks to the nearest school, walkers conserved to the segments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point
from street_graphs import street_grid

from passages._errors import InputError
from passages.areas import Area, load_areas
from passages.demand import default_demand, home_blocks, home_pairs, residential_length, residential_near_passages
from passages.plan import PlanInputs, load_plan_inputs
from passages.routes import od_pairs, plan_routes
from passages.scenarios import PlanParameters, read_scenarios
from passages.streetindex import StreetIndex

SAMPLES = ("south-la", "south-central", "downtown")
CRS = "EPSG:32611"


def schools_at(index: StreetIndex, nodes: list[int], enrollment: list[float]) -> gpd.GeoDataFrame:
    """Snapped school places at the given nodes."""
    xy = index.node_xy[index.node_positions(nodes)]
    return gpd.GeoDataFrame(
        {"place_id": [f"school:{i}" for i in range(len(nodes))], "kind": ["school"] * len(nodes),
         "name": [f"School {i}" for i in range(len(nodes))], "enrollment": enrollment,
         "node": nodes, "usable": [True] * len(nodes)},
        geometry=[Point(x, y) for x, y in xy], crs=CRS)


def network_distance(graph: nx.MultiDiGraph, a: int, b: int) -> float:
    return float(nx.shortest_path_length(nx.Graph(graph), a, b, weight="length"))


# ---------------------------------------------------------------- home blocks


def test_home_blocks_gather_the_residential_street_length_only() -> None:
    # the middle row of a 4 x 4 grid is a primary road: its length is nobody's home
    primary = {(4 + j, 5 + j): "primary" for j in range(3)}
    graph = street_grid(4, 4, highways=primary)
    index = StreetIndex(graph)
    weight = residential_length(index)
    assert weight.sum() == pytest.approx(24 * 100.0 - 3 * 100.0)
    blocks = home_blocks(index, cell_m=100.0)
    assert blocks.residential_m.sum() == pytest.approx(weight.sum())
    ends = set(index.node_ids[index.segment_u[weight > 0]]) | set(index.node_ids[index.segment_v[weight > 0]])
    assert set(blocks.node.tolist()) <= ends
    assert len(set(blocks.node.tolist())) == len(blocks)
    # one big cell makes one block holding all of it
    one = home_blocks(index, cell_m=10_000.0)
    assert len(one) == 1 and one.residential_m[0] == pytest.approx(weight.sum())


def test_a_segment_of_merged_ways_counts_when_any_is_residential() -> None:
    graph = street_grid(2, 2)
    for _, _, data in graph.edges(data=True):
        data["highway"] = ["primary", "living_street"] if data["name"] == "0-1" else "tertiary"
    index = StreetIndex(graph)
    assert residential_length(index).sum() == pytest.approx(100.0)


def test_a_cell_size_that_is_not_positive_is_refused() -> None:
    with pytest.raises(InputError, match="cell"):
        home_blocks(StreetIndex(street_grid(3, 3)), cell_m=0)


# ---------------------------------------------------------------- walks to school


def test_each_school_shares_its_walkers_among_its_nearest_blocks_by_residential_length() -> None:
    graph = street_grid(5, 5)
    index = StreetIndex(graph)
    blocks = home_blocks(index, cell_m=100.0)
    places = schools_at(index, [0, 24], [300.0, 100.0])
    pairs, report = home_pairs(blocks, places, index, walk_limit_m=10_000)
    assert (pairs["dest_kind"] == "school").all()
    assert report.reached == len(blocks) and report.schools_reached == 2
    # conserved: each school's walkers come from its catchment, all of them
    per_school = pairs.groupby("dest_id")["demand"].sum()
    assert per_school["school:0"] == pytest.approx(300.0) and per_school["school:1"] == pytest.approx(100.0)
    assert report.walkers == pytest.approx(400.0)
    # each block walks to its nearest school, and within a school demand follows residential length
    weight = dict(zip(blocks.origin_id, blocks.residential_m, strict=True))
    for school, group in pairs.groupby("dest_id"):
        node = int(group["dest_node"].iloc[0])
        other = 24 if node == 0 else 0
        for origin in group["origin_node"]:
            assert network_distance(graph, int(origin), node) <= network_distance(graph, int(origin), other)
        share = group["demand"] / group["origin_id"].map(weight)
        assert share.to_numpy() == pytest.approx(share.iloc[0]), school


def test_blocks_beyond_the_walking_limit_have_no_walk() -> None:
    graph = street_grid(8, 8)
    index = StreetIndex(graph)
    blocks = home_blocks(index, cell_m=100.0)
    places = schools_at(index, [0], [200.0])
    pairs, report = home_pairs(blocks, places, index, walk_limit_m=300.0)
    assert 0 < report.reached < report.blocks
    for origin in pairs["origin_node"]:
        assert network_distance(graph, int(origin), 0) <= 300.0
    far = set(blocks.node.tolist()) - set(pairs["origin_node"].tolist())
    assert far and all(network_distance(graph, int(node), 0) > 300.0 for node in far)
    assert pairs["demand"].sum() == pytest.approx(200.0)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(3, 6),
    data=st.data(),
    limit=st.floats(150.0, 1500.0),
    lam=st.floats(0.0, 8.0),
)
def test_walkers_are_conserved_from_the_blocks_to_the_segments(n: int, data: st.DataObject, limit: float,
                                                               lam: float) -> None:
    streets = [(i * n + j, i * n + j + 1) for i in range(n) for j in range(n - 1)]
    streets += [(i * n + j, (i + 1) * n + j) for i in range(n - 1) for j in range(n)]
    kinds = data.draw(st.lists(st.sampled_from(["residential", "primary", "living_street"]),
                               min_size=len(streets), max_size=len(streets)))
    graph = street_grid(n, n, highways=dict(zip(streets, kinds, strict=True)))
    index = StreetIndex(graph)
    school_nodes = data.draw(st.lists(st.integers(0, n * n - 1), min_size=1, max_size=3, unique=True))
    enrollment = data.draw(st.lists(st.floats(1.0, 2000.0), min_size=len(school_nodes), max_size=len(school_nodes)))
    places = schools_at(index, school_nodes, enrollment)
    blocks = home_blocks(index, cell_m=data.draw(st.sampled_from([50.0, 100.0, 250.0])))
    assert blocks.residential_m.sum() == pytest.approx(residential_length(index).sum())
    homes, report = home_pairs(blocks, places, index, walk_limit_m=limit)
    # from the blocks to the walks: every school reached gets exactly its walkers
    reached = homes.groupby("dest_id")["demand"].sum()
    walkers = dict(zip(places["place_id"], enrollment, strict=True))
    for school, total in reached.items():
        assert total == pytest.approx(walkers[school])
    assert homes["demand"].sum() == pytest.approx(report.walkers)
    if homes.empty:
        return
    # from the walks to the segments: each walk carries its walkers along every segment it walks, and ends at a school
    pairs = od_pairs(places, [], index, homes=homes)
    risk = np.asarray(data.draw(st.lists(st.floats(0, 20), min_size=index.n_segments, max_size=index.n_segments)))
    routed = plan_routes(index, pairs, risk, risk_lambda=lam, max_detour=0.5)
    routes = routed.routes
    school_set = set(school_nodes)
    for nodes in routed.safer_nodes:
        assert int(nodes[-1]) in school_set
    carried = float((routed.segment_demand * index.segment_length).sum())
    assert carried == pytest.approx(float((routes["demand"] * routes["safer_m"]).sum()))
    # the walks not routed are the blocks whose origin is the school's own node
    at_school = pairs[pairs["origin_node"] == pairs["dest_node"]]
    assert routes["demand"].sum() + at_school["demand"].sum() == pytest.approx(report.walkers)


def test_the_residential_share_near_a_passage_counts_pieces_within_reach() -> None:
    graph = street_grid(3, 3)
    index = StreetIndex(graph)
    demand = np.zeros(index.n_segments)
    # the bottom street (y = 0) is the only passage; streets at y = 100 lie 100 m away, at y = 200 200 m away
    bottom = [s for s in range(index.n_segments) if index.node_xy[index.segment_u[s], 1] == 0
              and index.node_xy[index.segment_v[s], 1] == 0]
    demand[bottom] = 1.0
    total, near = residential_near_passages(index, demand, within_m=50.0)
    assert total == pytest.approx(1200.0)
    # the bottom street (200 m) and the lower halves of the three cross streets (3 x 50 m)
    assert near == pytest.approx(200.0 + 150.0, rel=1e-3)
    assert residential_near_passages(index, np.zeros(index.n_segments))[1] == 0.0


# ---------------------------------------------------------------- parameters


def test_the_demand_model_is_checked_and_read_from_a_scenario(tmp_path: Path) -> None:
    assert PlanParameters(demand="homes").demand == "homes"
    with pytest.raises(InputError, match="demand model") as caught:
        PlanParameters(demand="everywhere").check()
    assert caught.value.field == "demand"
    with pytest.raises(InputError) as too_short:
        PlanParameters(home_walk_m=10.0).check()
    assert too_short.value.field == "home_walk_m"
    scenario = tmp_path / "walks.toml"
    scenario.write_text('[scenarios.homes]\ndemand = "homes"\nhome_walk_m = 1200\n'
                        '[scenarios.bad]\ndemand = 3\n', encoding="utf-8")
    with pytest.raises(InputError, match="expected a string"):
        read_scenarios(scenario)
    scenario.write_text('[scenarios.homes]\ndemand = "homes"\nhome_walk_m = 1200\n', encoding="utf-8")
    (only,) = read_scenarios(scenario)
    assert only.params.demand == "homes" and only.params.home_walk_m == 1200.0


def test_csp_sites_walk_from_site_and_homes_by_default() -> None:
    areas = load_areas()
    kinds = {area.kind for area in areas.values()}
    assert "csp" in kinds
    for area in areas.values():
        assert default_demand(area) == ("both" if area.kind == "csp" else "site")
    assert default_demand(Area("x", "X", "custom", 34.0, -118.2, 800.0)) == "site"


# ---------------------------------------------------------------- the three sample areas


@pytest.fixture(scope="module")
def sample_inputs(shared_data: Path, network_cache: Path) -> Iterator[dict[str, PlanInputs]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("passages.settings.processed_dir", network_cache.parent / "processed")
        yield {slug: load_plan_inputs(load_areas()[slug], data_dir=shared_data, offline=True) for slug in SAMPLES}


@pytest.mark.parametrize("slug", SAMPLES)
def test_home_demand_plans_the_sample_areas(slug: str, sample_inputs: dict[str, PlanInputs]) -> None:
    inputs = sample_inputs[slug]
    site = inputs.plan(PlanParameters(demand="site"))
    homes = inputs.plan(PlanParameters(demand="homes"))
    figures = homes.summary()["demand"]
    assert figures["model"] == "homes"
    assert figures["home_blocks"] > 0 and 0 < figures["home_blocks_within_walk"] <= figures["home_blocks"]
    assert figures["origins"] > 1 and figures["walkers"] > 0
    assert 0 < figures["residential_share_near_passage"] <= 1
    assert figures["site_walkers"] == 0
    routes, route_set = homes.route_set.routes, homes.route_set
    walks = routes[routes["purpose"] == "home-school"]
    assert walks["origin_id"].str.startswith("home-").all()
    # every home walk ends at a school
    schools = homes.places[homes.places["kind"] == "school"]
    school_nodes = set(schools["node"].astype(int))
    for i in walks.index:
        assert int(route_set.safer_nodes[i][-1]) in school_nodes
        assert int(route_set.safer_nodes[i][0]) == int(walks.loc[i, "origin_node"])
    # conserved on the segments: walkers x walked length, walk by walk and segment by segment
    carried = float((route_set.segment_demand * homes.index.segment_length).sum())
    assert carried == pytest.approx(float((routes["demand"] * routes["safer_m"]).sum()), rel=1e-9)
    # spreading the walks over the homes reaches more of the homes than one site does
    assert figures["residential_share_near_passage"] > site.summary()["demand"]["residential_share_near_passage"]
    both = inputs.plan(PlanParameters(demand="both")).summary()["demand"]
    assert both["walkers"] == pytest.approx(figures["walkers"] + site.summary()["demand"]["walkers"], rel=1e-6)

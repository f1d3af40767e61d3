"""Routes: pairs, shortest and safer paths, the detour bound, exposure, demand."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box
from street_graphs import ladder

from passages.areas import Area, load_areas
from passages.plan import Plan, make_plan
from passages.routes import od_pairs, plan_routes, site_origins
from passages.streetindex import StreetIndex

SAMPLES = ("south-la", "south-central", "downtown")


@pytest.fixture(scope="module")
def plans(shared_data: Path, network_cache: Path, monkeypatch_module: pytest.MonkeyPatch) -> dict[str, Plan]:
    monkeypatch_module.setattr("passages.settings.processed_dir", network_cache.parent / "processed")
    return {slug: make_plan(load_areas()[slug], data_dir=shared_data) for slug in SAMPLES}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def path_is_connected(index: StreetIndex, nodes: np.ndarray, segments: np.ndarray) -> bool:
    positions = index.node_positions(nodes)
    for a, b, seg in zip(positions[:-1], positions[1:], segments, strict=True):
        if {a, b} != {index.segment_u[seg], index.segment_v[seg]}:
            return False
    return len(segments) == len(nodes) - 1


@pytest.mark.parametrize("slug", SAMPLES)
def test_every_recommended_path_is_connected_and_joins_its_places(slug: str, plans: dict[str, Plan]) -> None:
    plan = plans[slug]
    routes, route_set = plan.route_set.routes, plan.route_set
    assert len(routes) > 5
    for i, row in routes.iterrows():
        for nodes, segments in ((route_set.safer_nodes[i], route_set.safer_segments[i]),
                                (route_set.shortest_nodes[i], route_set.shortest_segments[i])):
            assert nodes[0] == row["origin_node"] and nodes[-1] == row["dest_node"]
            assert path_is_connected(plan.index, nodes, segments)
    # the end nodes are the snapped places themselves
    snapped = plan.places.set_index("place_id")["node"]
    assert (routes["dest_node"].to_numpy() == snapped.loc[routes["dest_id"]].to_numpy()).all()
    # every walk but those from the site or a home starts at a place (a school, or a stop for a corridor)
    school_starts = routes[~routes["purpose"].str.startswith("home-")]
    assert (school_starts["origin_node"].to_numpy() == snapped.loc[school_starts["origin_id"]].to_numpy()).all()


@pytest.mark.parametrize("slug", SAMPLES)
def test_safer_paths_respect_the_detour_bound_and_never_carry_more_exposure(slug: str, plans: dict[str, Plan]) -> None:
    plan = plans[slug]
    routes = plan.route_set.routes
    bound = 1.0 + plan.params.max_detour
    assert (routes["safer_m"] <= bound * routes["shortest_m"] + 1e-6).all()
    assert (routes["safer_m"] >= routes["shortest_m"] - 1e-6).all()
    assert (routes["safer_exposure"] <= routes["shortest_exposure"] + 1e-9).all()
    # the safer paths do avoid risk somewhere, or the whole exercise is pointless
    assert routes["safer_exposure"].sum() < routes["shortest_exposure"].sum()


@pytest.mark.parametrize("slug", SAMPLES)
def test_passage_demand_is_the_sum_of_the_routes_using_each_segment(slug: str, plans: dict[str, Plan]) -> None:
    plan = plans[slug]
    route_set = plan.route_set
    expected = np.zeros(plan.index.n_segments)
    for segments, demand in zip(route_set.safer_segments, route_set.routes["demand"], strict=True):
        expected[np.unique(segments)] += demand
    assert route_set.segment_demand == pytest.approx(expected)
    on_passage = route_set.segment_demand > 0
    assert route_set.passage_km == pytest.approx(plan.index.segment_length[on_passage].sum() / 1000)
    # the graph carries the same demand on both directions of each street
    demand_on_edges = sum(d for _, _, d in plan.graph.edges(data="demand"))
    assert demand_on_edges == pytest.approx(2 * route_set.segment_demand.sum())


def test_lambda_zero_gives_the_shortest_paths(plans: dict[str, Plan]) -> None:
    plan = plans["south-la"]
    pairs = plan.route_set.routes[["pair_id", "purpose", "origin_id", "origin_name", "origin_node", "dest_id",
                                   "dest_name", "dest_kind", "dest_node", "demand"]]
    plain = plan_routes(plan.index, pairs, plan.risk.risk_per_100m, risk_lambda=0.0)
    assert (plain.routes["safer_m"] == plain.routes["shortest_m"]).all()
    assert (plain.routes["detour_ratio"] == 1.0).all()


def test_a_tighter_detour_bound_is_honoured(plans: dict[str, Plan]) -> None:
    plan = plans["downtown"]
    pairs = plan.route_set.routes.iloc[:, :10]
    tight = plan_routes(plan.index, pairs, plan.risk.risk_per_100m, risk_lambda=50.0, max_detour=0.05)
    assert (tight.routes["detour_ratio"] <= 1.05 + 1e-9).all()
    assert (tight.routes["safer_exposure"] <= tight.routes["shortest_exposure"] + 1e-9).all()


# ---------------------------------------------------------------- small, made-up inputs


def pair_frame(origin: int, dest: int, demand: float = 100.0) -> pd.DataFrame:
    return pd.DataFrame([{"pair_id": "P001", "purpose": "home-school", "origin_id": "site", "origin_name": "site",
                          "origin_node": origin, "dest_id": "school:1", "dest_name": "school", "dest_kind": "school",
                          "dest_node": dest, "demand": demand}])


def test_safer_path_goes_round_a_risky_block_when_the_detour_allows() -> None:
    index = StreetIndex(ladder(6))
    risk = np.zeros(index.n_segments)
    bottom_middle = [s for s in range(index.n_segments)
                     if {index.segment_u[s], index.segment_v[s]} <= {1, 2, 3, 4}
                     and abs(index.segment_u[s] - index.segment_v[s]) == 1]
    risk[bottom_middle] = 10.0
    # from node 0 to node 5 along the bottom street is 500 m; the top way round is 700 m
    loose = plan_routes(index, pair_frame(0, 5), risk, risk_lambda=4.0, max_detour=0.5)
    assert loose.routes["safer_m"].iloc[0] == pytest.approx(700.0)
    assert loose.routes["safer_exposure"].iloc[0] == 0.0
    tight = plan_routes(index, pair_frame(0, 5), risk, risk_lambda=4.0, max_detour=0.25)
    assert tight.routes["safer_m"].iloc[0] == pytest.approx(500.0)
    assert tight.safer_segments[0].tolist() == tight.shortest_segments[0].tolist()


@settings(max_examples=40, deadline=None)
@given(
    risk=st.lists(st.floats(0, 20), min_size=16, max_size=16),
    origin=st.integers(0, 11),
    dest=st.integers(0, 11),
    lam=st.floats(0, 20),
    detour=st.floats(0, 1),
)
def test_route_guarantees_hold_for_any_risk(risk: list[float], origin: int, dest: int, lam: float,
                                            detour: float) -> None:
    index = StreetIndex(ladder(6))
    result = plan_routes(index, pair_frame(origin, dest), np.asarray(risk), risk_lambda=lam, max_detour=detour)
    if origin == dest:
        assert result.routes.empty and result.skipped
        return
    row = result.routes.iloc[0]
    assert row["safer_m"] <= (1 + detour) * row["shortest_m"] + 1e-6
    assert row["safer_exposure"] <= row["shortest_exposure"] + 1e-9
    assert path_is_connected(index, result.safer_nodes[0], result.safer_segments[0])


def test_polygon_site_starts_walks_at_its_entrances() -> None:
    centre = Area("block", "Block", "custom", 34.0, -118.25, 500.0)
    x0, y0 = centre.to_utm(Point(centre.lon, centre.lat)).coords[0]
    graph = ladder(6)
    for _, data in graph.nodes(data=True):
        data["x"] += x0
        data["y"] += y0
    for _, _, data in graph.edges(data=True):
        data["geometry"] = LineString(np.add(data["geometry"].coords, (x0, y0)))
    index = StreetIndex(graph)
    # a site polygon (given in EPSG:4326, as a planner would) over nodes 1, 2 (bottom) and 7, 8 (top)
    site = centre.to_wgs(box(x0 + 50, y0 - 20, x0 + 250, y0 + 120))
    area = Area("block", "Block", "custom", site.centroid.y, site.centroid.x, 500.0, site=site)
    origins = site_origins(area, index)
    assert {o.node for o in origins} == {1, 2, 7, 8}
    places = gpd.GeoDataFrame(
        {"place_id": ["school:1"], "kind": ["school"], "name": ["far school"], "enrollment": [200.0],
         "node": [5], "usable": [True]}, geometry=[Point(x0 + 500, y0)], crs="EPSG:32611")
    pairs = od_pairs(places, origins, index)
    assert len(pairs) == 1 and pairs["origin_node"].iloc[0] == 2  # the entrance nearest the school
    assert pairs["demand"].iloc[0] == 200.0


def test_schools_link_to_their_nearest_stops_and_parks_with_shared_demand() -> None:
    index = StreetIndex(ladder(6))
    places = gpd.GeoDataFrame(
        {"place_id": ["school:1", "transit:a", "transit:b", "transit:c", "park:p", "transit:far"],
         "kind": ["school", "transit", "transit", "transit", "park", "transit"],
         "name": ["School", "A", "B", "C", "Park", "Far"],
         "enrollment": [400.0, np.nan, np.nan, np.nan, np.nan, np.nan],
         "node": [0, 1, 2, 3, 6, 5], "usable": [True, True, True, True, True, True]},
        geometry=[Point(0, 0), Point(100, 0), Point(200, 0), Point(300, 0), box(-10, 90, 10, 110), Point(500, 0)],
        crs="EPSG:32611")
    origins = site_origins(Area("x", "X", "custom", 0.0, 0.0, 500.0), index)
    pairs = od_pairs(places, origins, index, link_radius_m=350, links_per_kind=2, link_share=0.5)
    links = pairs[pairs["purpose"] != "home-school"]
    assert sorted(links["dest_id"]) == ["park:p", "transit:a", "transit:b"]
    assert links["demand"].sum() == pytest.approx(0.5 * 400)

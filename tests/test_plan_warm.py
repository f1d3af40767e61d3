"""Planning again from inputs read once (:class:`passages.plan.PlanInputs`) gives the cold plan, exactly.

The reference is the pipeline as :func:`make_plan` ran it before the inputs were kept:
every stage's public function called one after the other on the real offline data
(``load_network``, ``load_places``, ``snap_places``, ``load_incidents``, ``score_segments``,
``od_pairs``, ``plan_routes``). The warm path, :func:`make_plan` and the reference must give
the same risk on every segment, the same routes, the same passages and the same summary.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal

from passages._errors import EmptyResultError, InputError
from passages.areas import Area, load_areas
from passages.incidents import IncidentScan
from passages.plan import Plan, PlanInputs, input_files, load_plan_inputs, make_plan
from passages.scenarios import CoverageParameters, PlanParameters

#: Parameter sets a planner tries one after another: each changes what the one before set.
CHANGES: list[dict[str, Any]] = [
    {},
    {"risk_lambda": 4.0},
    {"max_detour": 0.5},
    {"windows": ("07:00-09:00",)},
    {"windows": ("14:00-16:00", "18:00-20:00"), "risk_lambda": 1.0},
    {"bandwidth_m": 150.0, "hot_share": 0.1},
    {"place_snap_m": 60.0, "links_per_kind": 1},
    {},  # back to the start: from the stages' memo
]

#: The LAPD extracts of the shared data (dated, timed, typed, overlapping: duplicate DR_NOs).
LAPD_FILES = (
    "incidents/bigdataforsocialjustice_data/Crime_Data_from_2020_to_Present.csv",
    "incidents/ivanco19_Project-1/Crime_Data_from_2020_to_Present.csv",
    "incidents/pratiksha1821_DataDrivenCrimeAnalysis/Crime_Data_from_2020_to_Present.csv",
    "incidents/OwenGeeAndre_Data/Crime_Data_from_2020_to_Present.csv",
    "incidents/licgermancardenas_LAPD-DATA-CRIME/crime_points_by_hour.csv",
)


def reference_plan(area: Area, params: PlanParameters, data: Path) -> Plan:
    """The plan as the stages called one after the other make it (no kept inputs, no memo)."""
    from datetime import UTC, datetime

    from passages.businesses import business_pairs, corridor_places, group_corridors, load_storefronts
    from passages.incidents import load_incidents
    from passages.network import load_network
    from passages.places import load_places, snap_places
    from passages.risk import add_edge_risk, score_segments
    from passages.routes import add_edge_demand, od_pairs, plan_routes, site_origins
    from passages.streetindex import StreetIndex

    files = input_files(area, data_dir=data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = load_network(area, files.network, offline=True)
        index = StreetIndex(graph)
        stamp = graph.graph.get("osm_timestamp")
        sources = [f"Street network: {graph.graph.get('source')}" + (f" (OSM data of {stamp})" if stamp else "")]
        places = load_places(area, sources=files.places)
        for kind, paths in files.places.items():
            sources.extend(f"{kind.capitalize()}: {p}" for p in paths)
        storefronts = load_storefronts(area, files.businesses)
        sources.extend(f"Businesses: {p}" for p in files.businesses)
        places = snap_places(places, index, max_snap_m=params.place_snap_m)
        corridors = corridor_places(group_corridors(storefronts, index))
        places = gpd.GeoDataFrame(pd.concat([places, corridors[[*places.columns, "storefronts", "length_m"]]],
                                            ignore_index=True), crs=places.crs)
        incidents = load_incidents(list(files.incidents), area=area, windows=params.windows,
                                   weekdays=params.weekdays, categories=params.categories or None,
                                   half_life_days=params.half_life_days, lookback_days=params.lookback_days)
        sources.extend(f"Incidents: {s}" for s in incidents.report.sources)
        risk = score_segments(index, incidents.points, snap_m=params.snap_m, bandwidth_m=params.bandwidth_m,
                              hot_share=params.hot_share, own_share=params.own_share)
        add_edge_risk(graph, index, risk)
        pairs = od_pairs(places, site_origins(area, index), index, link_radius_m=params.link_radius_m,
                         links_per_kind=params.links_per_kind)
        shops = business_pairs(places[places["kind"] == "business"], pairs, index,
                               share=params.business_share, walk_limit_m=params.home_walk_m,
                               link_radius_m=params.link_radius_m)
        pairs = pd.concat([pairs.drop(columns="pair_id"), shops], ignore_index=True)
        pairs.insert(0, "pair_id", [f"P{i + 1:03d}" for i in range(len(pairs))])
        route_set = plan_routes(index, pairs, risk.risk_per_100m, risk_lambda=params.risk_lambda,
                                max_detour=params.max_detour)
        add_edge_demand(graph, index, route_set)
    notes = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)))
    return Plan(area, params, graph, index, places, incidents.report, risk, route_set, sources,
                datetime.now(UTC).isoformat(), notes)


def assert_same_plan(warm: Plan, cold: Plan) -> None:
    """Risk per segment, routes, demand, passages, places and the summary: all equal."""
    assert warm.index.n_segments == cold.index.n_segments
    for item in dataclasses.fields(warm.risk):
        ours, theirs = getattr(warm.risk, item.name), getattr(cold.risk, item.name)
        if isinstance(ours, np.ndarray):
            np.testing.assert_array_equal(ours, theirs, err_msg=item.name)
        else:
            assert ours == theirs, item.name
    assert_geodataframe_equal(warm.route_set.routes, cold.route_set.routes)
    np.testing.assert_array_equal(warm.route_set.segment_demand, cold.route_set.segment_demand)
    assert warm.route_set.skipped == cold.route_set.skipped
    assert_geodataframe_equal(warm.passages(), cold.passages())
    assert_geodataframe_equal(warm.places, cold.places)
    assert warm.incident_report == cold.incident_report
    assert warm.summary() == cold.summary()
    assert warm.notes == cold.notes and warm.sources == cold.sources


@pytest.fixture(scope="module")
def downtown() -> Area:
    return load_areas()["downtown"]


@pytest.fixture(scope="module")
def inputs(downtown: Area, shared_data: Path) -> PlanInputs:
    return load_plan_inputs(downtown, data_dir=shared_data, offline=True)


def test_make_plan_equals_the_stages_called_one_after_the_other(downtown: Area, shared_data: Path) -> None:
    params = PlanParameters(risk_lambda=3.0, windows=("07:00-09:00", "14:30-16:00"))
    steps: list[str] = []
    cold = make_plan(downtown, params=params, data_dir=shared_data, offline=True, on_step=steps.append)
    reference = reference_plan(downtown, params, shared_data)
    assert_same_plan(cold, reference)
    assert steps == ["street network", "places", "incidents", "risk", "routes"]
    # make_plan's graph carries the edge attributes, as before
    for attribute in ("incidents", "risk", "hot", "demand"):
        ours = sorted((u, v, k, d) for u, v, k, d in cold.graph.edges(keys=True, data=attribute))
        theirs = sorted((u, v, k, d) for u, v, k, d in reference.graph.edges(keys=True, data=attribute))
        assert ours == theirs, attribute


def test_planning_again_from_the_kept_inputs_equals_a_cold_plan(inputs: PlanInputs, downtown: Area,
                                                                shared_data: Path) -> None:
    params = PlanParameters()
    for changes in CHANGES:
        params = params.replace(**changes) if changes else PlanParameters()
        warm = inputs.plan(params)
        assert warm.graph is inputs.graph and warm.index is inputs.index  # nothing read, nothing copied
        if changes in ({}, {"risk_lambda": 4.0}, {"windows": ("07:00-09:00",)}, {"place_snap_m": 60.0,
                                                                                  "links_per_kind": 1}):
            assert_same_plan(warm, make_plan(downtown, params=params, data_dir=shared_data, offline=True))
    # the first parameters again give the very same stage results (kept), equal to the first plan
    again = inputs.plan(PlanParameters())
    assert again.risk is inputs.plan(PlanParameters()).risk


def test_a_different_window_re_selects_incidents_without_reading_a_file(inputs: PlanInputs,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import passages.incidents
    import passages.plan

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("a file was read")

    for module, name in ((passages.plan, "load_network"), (passages.plan, "load_places"),
                         (passages.plan, "osm_places_online"), (passages.incidents, "load_incidents"),
                         (passages.incidents, "_scan_file"), (passages.incidents, "_open_file")):
        monkeypatch.setattr(module, name, no_reading)
    narrow = inputs.plan(PlanParameters(windows=("07:30-08:00",), risk_lambda=2.5, max_detour=0.3))
    wide = inputs.plan(PlanParameters(windows=("06:00-10:00", "13:00-17:00")))
    assert narrow.incident_report.used < wide.incident_report.used
    assert narrow.incident_report.dropped["outside time window"] > wide.incident_report.dropped[
        "outside time window"]


@pytest.mark.parametrize("slug", ["downtown", "south-la"])
def test_selecting_read_incidents_equals_load_incidents(shared_data: Path, slug: str) -> None:
    """Windows, weekdays, categories, half-life, lookback and duplicate ids across extracts, as load_incidents."""
    from passages.incidents import load_incidents

    area = load_areas()[slug].with_radius(4000)
    files = [shared_data / name for name in LAPD_FILES]
    scan = IncidentScan(files, area)
    for params in (
        PlanParameters(),
        PlanParameters(windows=("00:00-24:00",), weekdays=tuple(range(7)), categories=("violent",),
                       half_life_days=30.0, lookback_days=365.0),
        PlanParameters(windows=("12:00-13:00", "18:00-22:30"), weekdays=(5, 6), categories=("property", "other"),
                       lookback_days=800.0),
        PlanParameters(windows=("07:10-07:50",), weekdays=(0,), half_life_days=5.0),
    ):
        options = {"windows": params.windows, "weekdays": params.weekdays,
                   "categories": params.categories or None, "half_life_days": params.half_life_days,
                   "lookback_days": params.lookback_days}
        selected = scan.select(**options)
        expected = load_incidents(files, area=area, **options)
        assert_geodataframe_equal(selected.points, expected.points)
        assert selected.report == expected.report
        assert expected.report.used > 0
    assert "duplicate id" in scan.select().report.dropped or slug == "south-la"


def test_covering_from_kept_inputs_equals_covering_the_cold_plan(inputs: PlanInputs, downtown: Area,
                                                                 shared_data: Path) -> None:
    from passages.coverage import CoverageModel, cover

    params = PlanParameters(risk_lambda=2.5)
    warm = inputs.plan(params)
    cold = make_plan(downtown, params=params, data_dir=shared_data, offline=True)
    for coverage in (CoverageParameters(officers=3), CoverageParameters(officers=5),
                     CoverageParameters(officers=4, mode="footbeats"), CoverageParameters(officers=3, mode="both"),
                     CoverageParameters(officers=3, cover_radius_m=250.0)):
        ours = inputs.cover(warm, coverage)
        theirs = cover(cold, coverage, model=CoverageModel(cold, radius_m=coverage.cover_radius_m))
        assert ours.metrics == theirs.metrics
        pd.testing.assert_frame_equal(pd.DataFrame(ours.posts.drop(columns="geometry")),
                                      pd.DataFrame(theirs.posts.drop(columns="geometry")))
        assert [(b.officer, b.nodes.tolist(), b.minutes) for b in ours.loops] == \
               [(b.officer, b.nodes.tolist(), b.minutes) for b in theirs.loops]
    with pytest.raises(ValueError, match="not made from these inputs"):
        inputs.cover(cold, CoverageParameters())
    with pytest.raises(InputError, match="officers"):
        inputs.cover(warm, CoverageParameters(officers=0))


def test_graph_attributes_on_request_go_on_a_copy(inputs: PlanInputs) -> None:
    plan = inputs.plan(PlanParameters(risk_lambda=3.0), graph_attributes=True)
    assert plan.graph is not inputs.graph
    # the copy carries the same demand on both directions of each street, and the risk
    demand = sum(d for _, _, d in plan.graph.edges(data="demand"))
    assert demand == pytest.approx(2 * plan.route_set.segment_demand.sum()) and demand > 0
    mass = sum(d for _, _, d in plan.graph.edges(data="incidents"))
    assert mass == pytest.approx(2 * plan.risk.mass.sum())
    assert all("demand" not in d and "risk" not in d for _, _, d in inputs.graph.edges(data=True))


def test_parameters_the_inputs_cannot_take_are_refused(inputs: PlanInputs) -> None:
    with pytest.raises(InputError, match="radius"):
        inputs.plan(PlanParameters(radius_m=2000.0))
    assert inputs.plan(PlanParameters(radius_m=inputs.area.radius_m)).summary()["passage_km"] > 0
    with pytest.raises(InputError, match="risk_lambda"):
        inputs.plan(dataclasses.replace(PlanParameters(), risk_lambda=-1.0))
    with pytest.raises(EmptyResultError, match="no incident"):
        inputs.plan(PlanParameters(windows=("03:00-03:01",), categories=("violent",)))
    assert inputs.is_current()


def test_two_threads_planning_one_area_get_their_own_answers(inputs: PlanInputs) -> None:
    from concurrent.futures import ThreadPoolExecutor

    lambdas = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]
    with ThreadPoolExecutor(max_workers=3) as pool:
        plans = list(pool.map(lambda value: inputs.plan(PlanParameters(risk_lambda=value)), lambdas))
    for value, plan in zip(lambdas, plans, strict=True):
        assert plan.params.risk_lambda == value
        alone = inputs.plan(PlanParameters(risk_lambda=value))
        assert plan.summary() == alone.summary()


def test_places_frames_are_not_changed_by_planning(inputs: PlanInputs) -> None:
    before = inputs.places.copy()
    inputs.plan(PlanParameters(place_snap_m=10.0))
    assert_geodataframe_equal(inputs.places, before)
    assert isinstance(inputs.places, gpd.GeoDataFrame) and "node" not in inputs.places.columns

"""Footbeats: closed, connected loops within their lap budget, stops at the worst corners, little overlap."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passages.coverage import CoverageModel, cover
from passages.footbeats import Footbeat, loop_overlap, plan_footbeats
from passages.plan import Plan
from passages.scenarios import CoverageParameters, lap_minutes
from passages.streetindex import StreetIndex

SAMPLES = ("south-la", "south-central", "downtown")

#: The share of a loop's length that may lie on another officer's loop (stated in the README).
MAX_OVERLAP = 0.10


@pytest.fixture(scope="module")
def plans(sample_plans: dict[str, Plan]) -> dict[str, Plan]:
    return {slug: sample_plans[slug] for slug in SAMPLES}


@pytest.fixture(scope="module")
def models(plans: dict[str, Plan]) -> dict[str, CoverageModel]:
    return {slug: CoverageModel(plan) for slug, plan in plans.items()}


def assert_closed_connected_within_budget(beat: Footbeat, index: StreetIndex, *, stop_minutes: float,
                                          walk_kmh: float) -> None:
    assert beat.nodes[0] == beat.nodes[-1] == beat.start_node
    assert len(beat.segments) == len(beat.nodes) - 1 > 0
    positions = index.node_positions(beat.nodes)
    for a, b, seg in zip(positions[:-1], positions[1:], beat.segments, strict=True):
        assert {a, b} == {index.segment_u[seg], index.segment_v[seg]}  # each step walks a real street
    assert beat.length_m == pytest.approx(index.segment_length[beat.segments].sum())
    assert beat.segment_lengths == pytest.approx(index.segment_length[beat.segments])
    walking = beat.length_m / (walk_kmh * 1000 / 60)
    assert beat.minutes == pytest.approx(walking + stop_minutes * len(beat.stops))
    assert beat.minutes <= beat.budget_minutes + 1e-9
    assert beat.geometry.coords[0] == pytest.approx(beat.geometry.coords[-1])
    assert beat.geometry.length == pytest.approx(beat.length_m, rel=0.02)
    assert list(beat.street_names) == [str(index.segment_label[s]) for s in beat.segments]


@pytest.mark.parametrize("slug", SAMPLES)
def test_loops_are_closed_connected_and_within_their_lap(plans: dict[str, Plan], models: dict[str, CoverageModel],
                                                         slug: str) -> None:
    plan = plans[slug]
    params = CoverageParameters(officers=4, mode="footbeats")
    coverage = cover(plan, params, model=models[slug])
    budget = lap_minutes(plan.params.windows, laps=params.laps)
    assert len(coverage.loops) == 4
    for beat in coverage.loops:
        assert beat.budget_minutes == budget
        assert_closed_connected_within_budget(beat, plan.index, stop_minutes=params.stop_minutes,
                                              walk_kmh=params.walk_kmh)
        # a lap is used: at least half its walking budget
        assert beat.minutes >= 0.5 * budget
        # stops lie on the loop, in walking order, each stop_minutes long, within the lap
        assert len(beat.stops) == params.stops_per_loop
        assert {s.node for s in beat.stops} <= set(beat.nodes.tolist())
        times = [t for s in beat.stops for t in (s.arrive_min, s.leave_min)]
        assert times == sorted(times) and times[-1] <= beat.minutes + 1e-9
        assert all(s.leave_min - s.arrive_min == pytest.approx(params.stop_minutes) for s in beat.stops)


@pytest.mark.parametrize("slug", SAMPLES)
def test_loops_of_different_officers_share_at_most_a_tenth_of_their_length(
    plans: dict[str, Plan], models: dict[str, CoverageModel], slug: str
) -> None:
    coverage = cover(plans[slug], CoverageParameters(officers=4, mode="footbeats"), model=models[slug])
    for first, second in itertools.combinations(coverage.loops, 2):
        assert loop_overlap(first, second) <= MAX_OVERLAP, (first.officer, second.officer)


def test_the_worst_corner_of_a_loop_is_one_of_its_stops(plans: dict[str, Plan],
                                                        models: dict[str, CoverageModel]) -> None:
    model = models["downtown"]
    (beat,) = plan_footbeats(model, officers=1, lap_minutes=45, walk_kmh=4.5, stop_minutes=12, stops_per_loop=2)
    positions = plans["downtown"].index.node_positions(np.unique(beat.nodes))
    corner_value = np.asarray(model.node_watch[positions] @ model.value).ravel()
    worst = int(plans["downtown"].index.node_ids[positions[np.argmax(corner_value)]])
    assert worst in {s.node for s in beat.stops}


@pytest.mark.parametrize("slug", SAMPLES)
def test_a_walking_officer_watches_more_than_one_at_the_best_corner(models: dict[str, CoverageModel],
                                                                   slug: str) -> None:
    # the loop starts at the best corner and stops there or near it, so it must add to it
    model = models[slug]
    (beat,) = plan_footbeats(model, officers=1, lap_minutes=45, walk_kmh=4.5, stop_minutes=12, stops_per_loop=2)
    assert beat.value > model.greedy(1).value
    assert beat.start_node == model.greedy(1).nodes[0]


def test_directions_and_the_segment_table_add_up(models: dict[str, CoverageModel]) -> None:
    (beat,) = plan_footbeats(models["south-la"], officers=1, lap_minutes=60, walk_kmh=4.5, stop_minutes=10,
                             stops_per_loop=2)
    legs = beat.legs()
    assert sum(length for _, length in legs) == pytest.approx(beat.length_m)
    assert all(a[0] != b[0] for a, b in itertools.pairwise(legs))
    table = beat.table()
    assert list(table.columns) == ["order", "segment", "street", "length_m", "start_min"]
    assert (np.diff(table["start_min"]) > 0).all()
    # the lap starts with the first segment, after a stop when the start corner is one
    starts_with_stop = beat.stops[0].node == beat.start_node
    assert table["start_min"].iloc[0] == pytest.approx(10.0 if starts_with_stop else 0.0)
    # the last segment ends the lap (a stop at the start corner is made at the start)
    walking_min = table["length_m"].iloc[-1] / (4.5 * 1000 / 60)
    assert table["start_min"].iloc[-1] + walking_min == pytest.approx(beat.minutes)


@settings(max_examples=15, deadline=None)
@given(lap=st.floats(35, 120), walk_kmh=st.floats(3.0, 6.0), stop_minutes=st.floats(5, 15),
       stops=st.integers(1, 2), officers=st.integers(1, 3))
def test_any_budget_gives_closed_loops_within_it(models: dict[str, CoverageModel], lap: float, walk_kmh: float,
                                                 stop_minutes: float, stops: int, officers: int) -> None:
    model = models["south-la"]
    beats = plan_footbeats(model, officers=officers, lap_minutes=lap, walk_kmh=walk_kmh,
                           stop_minutes=stop_minutes, stops_per_loop=stops)
    for beat in beats:
        assert_closed_connected_within_budget(beat, model.index, stop_minutes=stop_minutes, walk_kmh=walk_kmh)

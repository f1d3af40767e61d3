"""Briefing sheets on an officer's own duty: the segments they walk or watch, the hot ones nearby,
each school's bell times once, and a warning for every bell-times row that matches no school."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from briefing_helpers import hand_made_streets, scenario_run
from typer.testing import CliRunner

from passages.areas import load_areas
from passages.briefing import (
    HOT_LISTED,
    NEARBY_M,
    Assignment,
    BellTimes,
    assignments,
    briefing_page,
    duty_segments,
    match_bells,
    read_bells,
    schools_served,
    street_label,
    watched_segments,
    write_briefings,
)
from passages.compare import ScenarioRun

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = """
[defaults]
windows = ["14:00-16:00"]

[scenarios.both-4]
officers = 4
mode = "both"
"""


@pytest.fixture(scope="module")
def run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> ScenarioRun:
    """Two posts and two footbeat loops in downtown LA, on the real data."""
    return scenario_run(shared_data, tmp_path_factory.mktemp("scenario"), "downtown", SCENARIO)


def _covered_by(duty: Assignment, run: ScenarioRun) -> np.ndarray:
    """Per segment, whether the duty walks it or watches it, worked out from the loop or post itself."""
    model = run.model
    if duty.footbeat is not None:
        covered = model.watched_by([stop.node for stop in duty.footbeat.stops])
        covered[np.asarray(duty.footbeat.segments)] = True
        return covered
    assert duty.node is not None
    return model.watched_by([duty.node])


def _page_text(run: ScenarioRun, duty: Assignment, bells: Any = None) -> str:
    import matplotlib.pyplot as plt

    fig = briefing_page(run.plan, run.coverage, run.model, duty, bells=bells)
    text = "\n".join(t.get_text() for t in fig.texts)
    plt.close(fig)
    return " ".join(text.split())  # the page wraps long lines


def test_every_on_duty_row_is_walked_or_watched_and_nearby_rows_are_hot_and_off_duty(run: ScenarioRun) -> None:
    duties = assignments(run.coverage)
    assert {d.kind for d in duties} == {"post", "footbeat"}
    risk, hot = run.plan.risk.risk_per_100m, run.plan.risk.hot
    for duty in duties:
        rows = duty_segments(run.plan, run.model, duty)
        covered = _covered_by(duty, run)
        assert 0 < len(rows) <= HOT_LISTED
        on = [r for r in rows if r.on_duty]
        near = [r for r in rows if not r.on_duty]
        assert rows == on + near  # the duty's own first
        for row in on:
            assert covered[row.segment] and row.risk_per_100m == risk[row.segment] > 0
            walked = duty.footbeat is not None and row.segment in duty.footbeat.segments
            assert (row.how == "walked") == walked
        assert [r.risk_per_100m for r in on] == sorted((r.risk_per_100m for r in on), reverse=True)
        for row in near:
            assert hot[row.segment] and not covered[row.segment] and 0 <= row.distance_m <= NEARBY_M
        assert [r.distance_m for r in near] == sorted(r.distance_m for r in near)
        assert len({r.street for r in rows}) == len(rows)  # a street and its sidewalks are listed once
        # the duty's hot segments come before any hot segment off it
        hot_on_duty = np.flatnonzero(covered & hot & (risk > 0))
        assert len([r for r in on if r.hot]) >= min(len({street_label(run.plan, int(s)) for s in hot_on_duty}),
                                                      HOT_LISTED)


def test_officers_on_different_duties_get_different_lists(run: ScenarioRun) -> None:
    duties = assignments(run.coverage)
    lists = {d.officer: [r.segment for r in duty_segments(run.plan, run.model, d)] for d in duties}
    for first, second in itertools.combinations(duties, 2):
        if not np.array_equal(watched_segments(first, run.model), watched_segments(second, run.model)):
            assert lists[first.officer] != lists[second.officer], (first.officer, second.officer)


def test_the_page_lists_the_duty_rows_marked_on_duty_or_nearby(run: ScenarioRun) -> None:
    for duty in assignments(run.coverage):
        text = _page_text(run, duty)
        assert "Worst street segments in the area" not in text
        for row in duty_segments(run.plan, run.model, duty):
            where = "on your duty" if row.on_duty else "nearby"
            assert f"{where} {row.how} {row.risk_per_100m:.2f}" in text
            assert row.street in text


def test_a_segment_is_named_as_the_index_names_it_and_placed_by_its_cross_streets() -> None:
    plan = hand_made_streets()
    assert street_label(plan, 0) == "unnamed way, 5th Street to Main Street"
    assert street_label(plan, 1) == "Main Street"  # its ends meet only unnamed ways and Main Street itself
    assert street_label(plan, 2) == "5th Street"
    plan.index.segment_name[0] = "Alley off Main Street"
    assert street_label(plan, 0) == "Alley off Main Street at 5th Street"


def _bell_file(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "bells.csv"
    path.write_text("school,start,end\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_each_school_has_its_bell_times_once(run: ScenarioRun, tmp_path: Path) -> None:
    duty = max(assignments(run.coverage), key=lambda d: len(schools_served(run.plan, watched_segments(d, run.model))))
    served = schools_served(run.plan, watched_segments(duty, run.model))
    assert served, "some officer watches a school walk"
    place_id, name = served[0]
    # the same school by name (another letter case) and by place id: the place id's row wins, once
    bells = read_bells(_bell_file(tmp_path, [f"{name.upper()},08:00,14:30", f"{place_id},07:50,14:20"]))
    times, notes = match_bells(bells, run.plan.places)
    assert times[place_id] == ("07:50", "14:20")
    assert len(notes) == 1 and "rows 1 and 2" in notes[0] and "row 2 is used" in notes[0]
    text = _page_text(run, duty, bells)
    assert text.count(f"{name} (") == 1
    assert text.count("bells 07:50 / 14:20") == 1 and "08:00 / 14:30" not in text
    assert len(served) == len(set(served)) == len({pid for pid, _ in served})


def test_every_bell_row_that_matches_no_school_is_one_warning(run: ScenarioRun, tmp_path: Path) -> None:
    name = run.plan.places.loc[run.plan.places["kind"] == "school", "name"].iloc[0]
    path = _bell_file(tmp_path, [f"{name},08:00,14:30", "Nineth Street Elementry,08:00,14:30",
                                 "Nowhere High,09:00,15:00"])
    with pytest.warns(UserWarning) as caught:
        write_briefings(run.plan, run.coverage, run.model, tmp_path / "out", bells=read_bells(path))
    messages = [str(w.message) for w in caught if "matches no school" in str(w.message)]
    assert len(messages) == 2
    first, second = sorted(messages)
    assert str(path) in first and "row 2" in first and "'Nineth Street Elementry'" in first
    assert "Did you mean 'Ninth Street Elementary'" in first
    assert "row 3" in second and "'Nowhere High'" in second
    for message in messages:
        assert "Check the spelling" in message and "\n" not in message
    # a file whose rows all match is silent
    good = _bell_file(tmp_path, [f"{name},08:00,14:30"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert match_bells(read_bells(good), run.plan.places)[1] == []


def test_bells_given_in_code_are_matched_and_counted_by_order(run: ScenarioRun) -> None:
    times, notes = match_bells({"No Such School": ("08:00", "14:00")}, run.plan.places)
    assert times == {} and len(notes) == 1 and "row 1" in notes[0] and "bell times" in notes[0]
    assert match_bells(BellTimes(), run.plan.places) == ({}, [])
    assert match_bells(None, run.plan.places) == ({}, [])


def test_the_sample_bells_file_matches_schools_of_its_sample_area(shared_data: Path) -> None:
    from passages.places import load_places

    area = load_areas()["south-la"]
    sources = {kind: area.source_paths(kind, shared_data) for kind in area.sources
               if kind not in ("network", "incidents")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no library within the study area"
        places = load_places(area, sources=sources)
    bells = read_bells(ROOT / "scenarios" / "bells-example.csv")
    times, notes = match_bells(bells, places)
    assert notes == []
    assert len(times) == len(bells) >= 3


def test_brief_prints_each_unmatched_bell_row_once_on_stderr(run: ScenarioRun, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from passages.cli import app

    scenarios = tmp_path / "s.toml"
    scenarios.write_text(SCENARIO)
    monkeypatch.setattr("passages.compare.run_scenarios", lambda *args, **kwargs: [run])
    bells = _bell_file(tmp_path, ["Nowhere High,09:00,15:00"])
    result = CliRunner().invoke(app, ["brief", str(scenarios), "--area", "downtown", "--offline",
                                      "--bells", str(bells), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = [line for line in " ".join(result.stderr.split("\n")).split("warning: ")[1:] if "Nowhere" in line]
    assert len(lines) == 1
    assert "bells.csv" in lines[0] and "row 1" in lines[0] and "'Nowhere High'" in lines[0]
    assert "Nowhere" not in result.stdout

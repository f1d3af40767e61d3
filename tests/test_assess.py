"""Assessment (issue 15): placebo dates, a planted effect, matching, the adjacent ring, the command line."""

from __future__ import annotations

import datetime
import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from street_graphs import street_grid
from typer.testing import CliRunner

from passages import settings
from passages._errors import InputError
from passages.areas import load_areas
from passages.assess import (
    ADJACENT,
    COMPARISON,
    PASSAGES,
    Periods,
    adjacent_segments,
    assess_plan,
    assess_segments,
    choose_periods,
    date_spans,
    did_estimate,
    match_segments,
    matching_features,
    parse_since,
    published_plan,
    read_dated_incidents,
    snap_incidents,
)
from passages.cli import app
from passages.scenarios import PlanParameters
from passages.streetindex import StreetIndex

runner = CliRunner()

# --------------------------------------------------------------------------- made-up streets


def along_row(index: StreetIndex, row_y: float) -> np.ndarray:
    """Mask of the segments running along the street at ``y = row_y``."""
    ends = index.node_xy[index.segment_u][:, 1], index.node_xy[index.segment_v][:, 1]
    return np.isclose(ends[0], row_y) & np.isclose(ends[1], row_y)


def incident_points(index: StreetIndex, counts: np.ndarray, first: datetime.date, days: int,
                    rng: np.random.Generator) -> gpd.GeoDataFrame:
    """``counts[s]`` incidents on segment ``s``, at random points along it, on random days of the period."""
    segment = np.repeat(np.arange(index.n_segments), counts.astype(np.int64))
    where = rng.uniform(0.1, 0.9, size=len(segment))
    u, v = index.node_xy[index.segment_u[segment]], index.node_xy[index.segment_v[segment]]
    xy = u + (v - u) * where[:, None] + rng.normal(0.0, 3.0, size=(len(segment), 2))
    occurred = pd.Timestamp(first) + pd.to_timedelta(rng.integers(0, days, size=len(segment)), unit="D")
    return gpd.GeoDataFrame({"occurred": occurred, "source": "made-up", "weight": 1.0},
                            geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=index.crs)


def two_periods(index: StreetIndex, before_mean: np.ndarray, after_mean: np.ndarray, *, since: datetime.date,
                days: int, seed: int) -> gpd.GeoDataFrame:
    """Poisson incidents with the given mean per segment in the ``days`` before and after ``since``."""
    rng = np.random.default_rng(seed)
    start = since - datetime.timedelta(days=days)
    return pd.concat([incident_points(index, rng.poisson(before_mean), start, days, rng),
                      incident_points(index, rng.poisson(after_mean), since, days, rng)], ignore_index=True)


SINCE = datetime.date(2021, 1, 1)


# --------------------------------------------------------------------------- groups and matching


def test_the_adjacent_ring_is_the_streets_touching_a_passage_and_not_on_it() -> None:
    index = StreetIndex(street_grid(6, 2))  # a ladder: two streets of five blocks, six rungs
    passage = along_row(index, 0.0)
    ring = adjacent_segments(index, passage)
    rungs = ~along_row(index, 0.0) & ~along_row(index, 100.0)
    assert passage.sum() == 5 and rungs.sum() == 6
    np.testing.assert_array_equal(ring, rungs)  # every rung touches the bottom street; the top street does not
    # one passage block: its two ends touch the two blocks beside it and two rungs
    one = np.zeros(index.n_segments, dtype=bool)
    one[np.flatnonzero(passage)[2]] = True
    assert adjacent_segments(index, one).sum() == 4


def test_matching_picks_the_pool_segments_with_the_nearest_rate_and_length() -> None:
    length = np.array([100.0, 100.0, 100.0, 100.0, 400.0, 100.0])
    before = np.array([2.0, 0.0, 2.0, 9.0, 8.0, 0.0])
    features = matching_features(before, length)
    matches = match_segments(features, np.array([0, 1]), np.array([2, 3, 4, 5]), k=1)
    # segment 0 (2 per 100 m, 100 m) finds segment 2 (the same), not 4 (also 2 per 100 m but 400 m long)
    assert matches.tolist() == [[2], [5]]
    assert match_segments(features, np.array([0]), np.array([2, 3, 4, 5]), k=9).shape == (1, 4)


def test_comparison_segments_never_touch_a_passage_and_counts_add_up() -> None:
    index = StreetIndex(street_grid(8, 6))
    passage = along_row(index, 200.0)
    mean = np.full(index.n_segments, 4.0)
    points = two_periods(index, mean, mean, since=SINCE, days=100, seed=1)
    snapped = snap_incidents(index, points, snap_m=30.0)
    result = assess_segments(index, passage, snapped, Periods(SINCE, 100), resamples=200, seed=0)
    rows = result.segments
    passage_nodes = set(index.segment_u[passage]) | set(index.segment_v[passage])
    chosen = rows.loc[rows["group"] == COMPARISON, "segment"].to_numpy()
    assert len(chosen) and not (set(index.segment_u[chosen]) | set(index.segment_v[chosen])) & passage_nodes
    assert set(rows.loc[rows["group"] == PASSAGES, "segment"]) == set(np.flatnonzero(passage))
    assert set(rows.loc[rows["group"] == ADJACENT, "segment"]) == set(np.flatnonzero(adjacent_segments(index, passage)))
    on_passages = rows[rows["group"] == PASSAGES]
    assert result.passages.before == on_passages["before"].sum() and result.passages.after == on_passages["after"].sum()
    assert result.incidents + result.too_far == len(points)  # every made-up incident is counted once


def test_an_empty_pool_is_refused() -> None:
    with pytest.raises(Exception, match="no comparison segment"):
        match_segments(np.zeros((3, 2)), np.array([0]), np.array([], dtype=np.int64))


# --------------------------------------------------------------------------- the estimate on made-up incidents


def test_a_planted_drop_on_the_passages_is_recovered_and_told_from_chance() -> None:
    """Passages lose 30 % of their incidents after the start while every street falls by 20 %.

    The expected DiD is then (0.8 x 0.7 - 0.8) = -0.24 times the passages' before rate.
    """
    index = StreetIndex(street_grid(12, 10))
    passage = along_row(index, 400.0) | along_row(index, 700.0)
    rng = np.random.default_rng(5)
    mean = rng.gamma(4.0, 5.0, size=index.n_segments)  # streets of unequal risk, about 20 incidents each period
    trend = 0.8
    after = mean * trend * np.where(passage, 0.7, 1.0)
    points = two_periods(index, mean, after, since=SINCE, days=180, seed=2)
    result = assess_segments(index, passage, snap_incidents(index, points, snap_m=30.0), Periods(SINCE, 180),
                             resamples=1000, seed=0)
    estimate, periods = result.passages, result.periods
    # the planted change per km per year, from the known means: 0.8 x 0.7 - 0.8 of the passages' before mean
    truth = (trend * 0.7 - trend) * mean[passage].sum() / (estimate.km * periods.years)
    assert estimate.low <= truth <= estimate.high
    assert estimate.high < 0 and not estimate.covers_zero
    assert estimate.relative_high is not None and estimate.relative_high < 0
    assert "excludes zero" in result.verdict and "not proof" in result.verdict
    # the adjacent streets kept the common trend only: no displacement planted
    assert result.adjacent is not None and result.adjacent.covers_zero


def test_planted_displacement_shows_on_the_adjacent_streets() -> None:
    index = StreetIndex(street_grid(12, 10))
    passage = along_row(index, 400.0)
    ring = adjacent_segments(index, passage)
    mean = np.full(index.n_segments, 15.0)
    points = two_periods(index, mean, np.where(ring, 30.0, 15.0), since=SINCE, days=180, seed=3)
    result = assess_segments(index, passage, snap_incidents(index, points, snap_m=30.0), Periods(SINCE, 180),
                             resamples=1000, seed=0)
    assert result.adjacent is not None and result.adjacent.low > 0
    assert result.passages.covers_zero
    assert "moved next door" in result.verdict


def test_the_bootstrap_is_seeded_and_the_interval_holds_the_estimate() -> None:
    index = StreetIndex(street_grid(8, 6))
    passage = along_row(index, 200.0)
    mean = np.full(index.n_segments, 6.0)
    points = two_periods(index, mean, mean, since=SINCE, days=60, seed=4)
    snapped = snap_incidents(index, points, snap_m=30.0)
    first, again = (assess_segments(index, passage, snapped, Periods(SINCE, 60), resamples=300, seed=7)
                    for _ in range(2))
    assert first.summary() == again.summary()
    other = assess_segments(index, passage, snapped, Periods(SINCE, 60), resamples=300, seed=8)
    assert other.passages.did == first.passages.did and other.passages.low != first.passages.low
    assert first.passages.low <= first.passages.did <= first.passages.high


def test_did_is_the_change_of_the_rates_per_km_per_year() -> None:
    """Two 1 km passage segments and two 1 km comparison segments over half a year each side."""
    before = np.array([4.0, 6.0, 10.0, 10.0])
    after = np.array([1.0, 3.0, 8.0, 12.0])
    length = np.full(4, 1000.0)
    years = 182.625 / 365.25
    estimate = did_estimate(PASSAGES, np.array([0, 1]), np.array([[2], [3]]), before, after, length,
                            years=years, resamples=100)
    # passages: 10 -> 4 on 2 km over half a year = 10 -> 4 per km per year; comparison 20 -> 20
    assert estimate.rate_before == pytest.approx(10.0) and estimate.rate_after == pytest.approx(4.0)
    assert estimate.did == pytest.approx(-6.0) and estimate.relative == pytest.approx(-0.6)
    assert estimate.expected_after == pytest.approx(10.0)


# --------------------------------------------------------------------------- periods


def test_periods_fit_the_span_of_the_start_date() -> None:
    spans = [(datetime.date(2020, 1, 1), datetime.date(2020, 12, 31)),
             (datetime.date(2022, 1, 1), datetime.date(2022, 12, 31))]
    periods = choose_periods(spans, datetime.date(2020, 3, 1))
    assert periods.window_days == 60 and periods.before_start == datetime.date(2020, 1, 1)
    assert choose_periods(spans, datetime.date(2020, 11, 1)).after_end == datetime.date(2020, 12, 31)
    assert choose_periods(spans, datetime.date(2020, 7, 1), window_days=30).window_days == 30
    long = [(datetime.date(2015, 1, 1), datetime.date(2022, 12, 31))]
    assert choose_periods(long, datetime.date(2019, 1, 1)).window_days == 365
    for since, window, words in ((datetime.date(2021, 6, 1), None, "outside the incidents' dates"),
                                 (datetime.date(2020, 1, 10), None, "leaves only 9 days"),
                                 (datetime.date(2020, 7, 1), 400, "does not fit")):
        with pytest.raises(InputError, match=words):
            choose_periods(spans, since, window_days=window)


def test_date_spans_join_files_that_meet() -> None:
    points = pd.DataFrame({"source": ["a", "a", "b", "b", "c"],
                           "occurred": pd.to_datetime(["2020-01-01", "2020-06-30", "2020-07-03", "2020-12-31",
                                                       "2022-02-01"])})
    assert date_spans(points) == [(datetime.date(2020, 1, 1), datetime.date(2020, 12, 31)),
                                  (datetime.date(2022, 2, 1), datetime.date(2022, 2, 1))]


@pytest.mark.parametrize("text", ["2020-13-01", "yesterday", "07/01/2020", ""])
def test_a_start_date_that_is_not_a_date_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="is not a date"):
        parse_since(text)


# --------------------------------------------------------------------------- downtown's real incidents


@pytest.fixture(scope="module")
def downtown(shared_data: Path) -> dict[str, object]:
    """Downtown's dated LAPD incidents read once, and the plan published on 2020-02-01 (January's incidents)."""
    area = load_areas()["downtown"]
    points, _sources, select = read_dated_incidents(area, [shared_data / p for p in settings.backtest_incidents])
    params = PlanParameters()
    start = datetime.date(2020, 2, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no library in downtown: a note, not a failure
        plan = published_plan(area, select(params.windows, params.weekdays), start, data_dir=shared_data,
                              offline=True)
    return {"area": area, "points": points, "spans": date_spans(points), "plan": plan, "start": start,
            "snapped": snap_incidents(plan.index, points, snap_m=params.snap_m)}


def test_placebo_dates_cover_zero_in_at_least_90_of_100(downtown: dict[str, object]) -> None:
    """No program started on any of these dates: a 95 % interval should hold zero about 95 times in 100.

    One plan (published on 2020-02-01) and one read of the incidents serve the 100 dates,
    drawn (seeded) from the dates with at least 28 days of incidents on each side in 2020.
    """
    plan, snapped, spans, start = downtown["plan"], downtown["snapped"], downtown["spans"], downtown["start"]
    last = spans[0][1] - datetime.timedelta(days=27)
    offsets = np.random.default_rng(2024).integers(0, (last - start).days + 1, size=100)
    covered = 0
    for offset in offsets:
        periods = choose_periods(spans, start + datetime.timedelta(days=int(offset)))
        result = assess_plan(plan, snapped, periods, resamples=1000, seed=int(offset))
        assert result.passages.segments > 0 and result.passages.comparison_segments > 0
        covered += result.passages.covers_zero
    assert covered >= 90


def test_a_planted_drop_on_downtowns_passages_is_recovered(downtown: dict[str, object]) -> None:
    """Half the passage incidents after 2020-07-01 removed: the estimate moves by exactly what was removed,
    and its interval holds the planted effect (no program in the data: the true effect is the planted one)."""
    points, plan, snapped = downtown["points"], downtown["plan"], downtown["snapped"]
    since = datetime.date(2020, 7, 1)
    periods = choose_periods(downtown["spans"], since)
    plain = assess_plan(plan, snapped, periods, resamples=1000, seed=0)
    on_passage = np.isin(snapped.segment, plain.segments.loc[plain.segments["group"] == PASSAGES, "segment"])
    after = (snapped.day >= np.datetime64(since)) & (snapped.day <= np.datetime64(periods.after_end))
    candidates = np.flatnonzero(on_passage & after)
    assert len(candidates) >= 2
    removed = np.random.default_rng(3).choice(candidates, size=len(candidates) // 2, replace=False)
    keep = np.ones(len(points), dtype=bool)
    keep[removed] = False
    planted = assess_plan(plan, snap_incidents(plan.index, points[keep], snap_m=PlanParameters().snap_m), periods,
                          resamples=1000, seed=0)
    effect = -len(removed) / (plain.passages.km * periods.years)  # incidents per km per year
    assert planted.passages.after == plain.passages.after - len(removed)
    assert planted.passages.did == pytest.approx(plain.passages.did + effect)
    assert planted.passages.low <= effect <= planted.passages.high
    assert planted.adjacent is not None and plain.adjacent is not None
    assert planted.adjacent.did == pytest.approx(plain.adjacent.did)  # nothing removed next door


# --------------------------------------------------------------------------- the command line


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("passages.settings.processed_dir", Path("data/processed"))
    return tmp_path


def test_assess_writes_its_json_and_csv_and_prints_a_verdict(shared_data: Path, in_tmp: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = runner.invoke(app, ["assess", "--area", "downtown", "--since", "2020-07-01", "--offline",
                                 "--data-dir", str(shared_data), "--resamples", "200"])
    assert result.exit_code == 0, result.output
    # every line fits 80 columns but the written paths, printed whole for copying
    assert max(len(line) for line in result.stdout.splitlines() if str(in_tmp) not in line) <= 80
    for words in ("passages", "comparison", "adjacent", "per km per year", "95% interval", "downtown-assess.csv"):
        assert words in result.stdout
    summary = json.loads((in_tmp / "maps" / "downtown" / "downtown-assess.json").read_text())
    assert summary["since"] == "2020-07-01" and summary["rate_unit"] == "incidents per km per year"
    assert " ".join(summary["verdict"].split()) in " ".join(result.stdout.split())
    segments = pd.read_csv(in_tmp / "maps" / "downtown" / "downtown-assess.csv", keep_default_na=False)
    assert set(segments["group"]) == {PASSAGES, ADJACENT, COMPARISON}
    assert not segments["name"].astype(str).str.match(r"^[=+\-@|%\t\r]").any()
    assert int(segments.loc[segments["group"] == PASSAGES, "before"].sum()) == summary["passages"]["before"]
    assert not list((in_tmp / "maps" / "downtown").glob("*.tmp"))

    as_json = runner.invoke(app, ["assess", "--area", "downtown", "--since", "2020-07-01", "--offline",
                                  "--data-dir", str(shared_data), "--resamples", "200", "--json"])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert document["assessment"] == summary and len(document["groups"]) == 4


@pytest.mark.parametrize("since", ["2020-02-30", "next week"])
def test_a_bad_start_date_is_one_line_and_exit_2(since: str, in_tmp: Path) -> None:
    result = runner.invoke(app, ["assess", "--area", "downtown", "--since", since, "--offline"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "--since" in result.stderr and "YYYY-MM-DD" in result.stderr


def test_a_date_outside_the_incidents_names_their_dates(shared_data: Path, in_tmp: Path) -> None:
    result = runner.invoke(app, ["assess", "--area", "downtown", "--since", "2021-06-01", "--offline",
                                 "--data-dir", str(shared_data)])
    assert result.exit_code == 2
    assert "outside the incidents' dates" in result.stderr and "2020-01-01" in result.stderr
    assert not (in_tmp / "maps" / "downtown" / "downtown-assess.json").exists()


def test_undated_incidents_are_one_error_naming_the_file(in_tmp: Path) -> None:
    undated = in_tmp / "hourly.csv"
    undated.write_text("LAT,LON,HOUR,WEIGHT\n34.045,-118.248,8,2.0\n34.046,-118.249,15,1.0\n")
    result = runner.invoke(app, ["assess", "--area", "downtown", "--since", "2020-07-01", "--offline",
                                 "--incidents", str(undated)])
    assert result.exit_code == 2
    assert "hourly.csv" in result.stderr and "no dates" in result.stderr and "LAPD" in result.stderr
    assert result.stderr.count("\n") == 1


def test_the_hourly_sample_of_the_shared_data_is_refused(shared_data: Path) -> None:
    area = load_areas()["downtown"]
    sample = shared_data / "incidents" / "licgermancardenas_LAPD-DATA-CRIME" / "crime_points_by_hour.csv"
    with pytest.raises(InputError, match="no dates"):
        read_dated_incidents(area, [sample])

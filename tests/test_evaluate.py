"""Backtests: hit rate and PAI on held-out incidents, baselines, the split, and `passages backtest`."""

from __future__ import annotations

import datetime
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point
from typer.testing import CliRunner

from passages import settings
from passages._errors import InputError
from passages.areas import load_areas
from passages.cli import app
from passages.evaluate import (
    COUNTS,
    COVERED_SET,
    GRID_KDE,
    HOT_SET,
    PASSAGE_SET,
    PLAN_RISK,
    Backtest,
    backtest,
    backtest_row,
    load_dated_incidents,
    parse_split,
    split_incidents,
    write_backtest,
)
from passages.hit_rates import (
    RANDOM,
    count_scores,
    evaluate_rankings,
    evaluate_sets,
    grid_kde_scores,
    random_baseline,
    rank_segments,
    snap_counts,
)
from passages.streetindex import StreetIndex

CRS = "EPSG:32611"
X0, Y0 = 380_000.0, 3_760_000.0
SPLIT = "2020-07-01"  # downtown: Jan-Jun 2020 to fit (943 incidents), the rest to test
LAPD_HEADER = ("DR_NO,Date Rptd,DATE OCC,TIME OCC,AREA,AREA NAME,Rpt Dist No,Part 1-2,Crm Cd,Crm Cd Desc,Mocodes,"
               "Vict Age,Vict Sex,Vict Descent,Premis Cd,Premis Desc,Weapon Used Cd,Weapon Desc,Status,Status Desc,"
               "Crm Cd 1,Crm Cd 2,Crm Cd 3,Crm Cd 4,LOCATION,Cross Street,LAT,LON")
runner = CliRunner()


# --------------------------------------------------------------------------- a hand-made network


def line_graph(segments: int = 10, length_m: float = 100.0) -> nx.MultiDiGraph:
    """A straight street of ``segments`` blocks of ``length_m`` metres, two-way, as osmnx stores it."""
    graph = nx.MultiDiGraph(crs=CRS)
    for i in range(segments + 1):
        graph.add_node(i + 1, x=X0 + i * length_m, y=Y0)
    for i in range(segments):
        a, b = (X0 + i * length_m, Y0), (X0 + (i + 1) * length_m, Y0)
        graph.add_edge(i + 1, i + 2, length=length_m, geometry=LineString([a, b]), name=f"block {i}", highway="footway")
        graph.add_edge(i + 2, i + 1, length=length_m, geometry=LineString([b, a]), name=f"block {i}", highway="footway")
    return graph


@pytest.fixture(scope="module")
def line() -> StreetIndex:
    index = StreetIndex(line_graph())
    # segment i must be block i (from x = 100 i to 100 (i + 1)) for the answers below
    mid_x = [geom.interpolate(0.5, normalized=True).x - X0 for geom in index.segment_geometry]
    assert np.allclose(mid_x, np.arange(10) * 100 + 50)
    return index


def points_on(blocks: list[int], *, offset_m: float = 5.0, weight: float = 1.0) -> gpd.GeoDataFrame:
    """Incident points beside the middle of the given blocks (one per entry)."""
    geometry = [Point(X0 + 100 * b + 50, Y0 + offset_m) for b in blocks]
    return gpd.GeoDataFrame({"weight": np.full(len(blocks), weight)}, geometry=geometry, crs=CRS)


def row(table: pd.DataFrame, method: str, coverage: float) -> pd.Series:
    match = table[(table["method"] == method) & np.isclose(table["coverage"], coverage)]
    assert len(match) == 1, (method, coverage, table)
    return match.iloc[0]


def test_hit_rate_and_pai_on_a_hand_made_street_are_the_known_answers(line: StreetIndex) -> None:
    # 6 incidents on block 0, 3 on block 1, 1 on block 5, and one 100 m off the street
    test = pd.concat([points_on([0] * 6 + [1] * 3 + [5]), points_on([7], offset_m=100.0)], ignore_index=True)
    counts, too_far = snap_counts(line, test, snap_m=60.0)
    assert too_far == 1 and counts.sum() == 10
    table = evaluate_rankings(line, test, {"in order": np.arange(10), "5 then 0": np.array([5, 0])},
                              coverages=[0.1, 0.2, 0.3, 0.5, 1.0], snap_m=60.0, draws=200)
    # the off-street incident is out of every denominator: 10 test incidents on a street
    assert set(table["test_incidents"]) == {10}
    for coverage, hit_rate in ((0.1, 0.6), (0.2, 0.9), (0.5, 0.9), (1.0, 1.0)):
        r = row(table, "in order", coverage)
        assert r.hit_rate == pytest.approx(hit_rate)
        assert r.length_share == pytest.approx(coverage)
        assert r.pai == pytest.approx(hit_rate / coverage)
    # 100 m of 1,000 on block 5 holds 1 of 10; adding block 0 holds 7 of 10 on 20 % of the street
    assert row(table, "5 then 0", 0.1).pai == pytest.approx(1.0)
    assert row(table, "5 then 0", 0.2).pai == pytest.approx(3.5)
    # a ranking of two blocks cannot reach 30 % of the street: no row rather than a made-up one
    assert table[(table["method"] == "5 then 0") & (table["coverage"] > 0.25)].empty

    sets = evaluate_sets(line, test, {"blocks 0 and 1": np.isin(np.arange(10), [0, 1])}, snap_m=60.0, draws=200)
    assert sets.iloc[0].hits == 9 and sets.iloc[0].pai == pytest.approx(0.9 / 0.2)


def test_baselines_rank_the_blocks_where_the_last_period_had_incidents(line: StreetIndex) -> None:
    train = points_on([3, 3, 7])
    counts = count_scores(line, train, snap_m=60.0)
    assert counts[3] == pytest.approx(2.0) and counts[7] == pytest.approx(1.0)  # incidents per 100 m
    assert list(rank_segments(counts)[:2]) == [3, 7]
    grid = grid_kde_scores(line, train, cell_m=150.0, bandwidth_m=250.0)
    assert grid[3] == grid.max() and grid[0] < grid[3]
    # blocks beyond the bandwidth of every incident get nothing
    assert grid[np.abs(np.arange(10) * 100 + 50 - 350) > 700].sum() == 0


def test_ties_are_broken_by_a_seeded_order_not_by_position() -> None:
    scores = np.zeros(1000)
    first, again, other = rank_segments(scores, seed=1), rank_segments(scores, seed=1), rank_segments(scores, seed=2)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert not np.array_equal(first, np.arange(1000))
    among = np.zeros(1000, dtype=bool)
    among[[5, 50, 500]] = True
    assert sorted(rank_segments(scores, among=among)) == [5, 50, 500]


@hypothesis_settings(max_examples=40, deadline=None)
@given(blocks=st.lists(st.integers(0, 9), min_size=1, max_size=60),
       order=st.permutations(list(range(10))), seed=st.integers(0, 2**16))
def test_bootstrap_intervals_hold_the_point_estimate(line: StreetIndex, blocks: list[int], order: list[int],
                                                     seed: int) -> None:
    test = points_on(blocks)
    table = evaluate_rankings(line, test, {"r": np.array(order)}, coverages=[0.1, 0.2, 0.3, 0.5, 0.8],
                              snap_m=60.0, draws=300, seed=seed)
    assert (table["hit_rate_low"] <= table["hit_rate"] + 1e-12).all()
    assert (table["hit_rate"] <= table["hit_rate_high"] + 1e-12).all()
    assert (table["pai_low"] <= table["pai"] + 1e-12).all() and (table["pai"] <= table["pai_high"] + 1e-12).all()
    # the hit rate of one ranking never falls as more street is chosen
    assert (np.diff(table["hit_rate"].to_numpy()) >= -1e-12).all()


# --------------------------------------------------------------------------- the split


def dated(days: list[int]) -> gpd.GeoDataFrame:
    occurred = pd.Timestamp("2020-01-01") + pd.to_timedelta(days, unit="D")
    frame = points_on([0] * len(days))
    frame["occurred"] = occurred
    return frame


def test_split_by_date_and_by_fraction_of_the_period() -> None:
    points = dated([0, 10, 99, 100, 150, 200])
    by_date = split_incidents(points, datetime.date(2020, 4, 10))  # day 100
    assert len(by_date.train) == 3 and len(by_date.test) == 3
    assert (by_date.train["occurred"] < by_date.at).all() and (by_date.test["occurred"] >= by_date.at).all()
    by_fraction = split_incidents(points, 0.5)  # half of 200 days: midnight of day 100
    assert by_fraction.at == pd.Timestamp("2020-04-10")
    assert len(by_fraction.train) == 3


@pytest.mark.parametrize("text", ["0", "1", "1.5", "-0.2", "2020-13-01", "yesterday"])
def test_a_split_that_is_neither_a_date_nor_a_fraction_in_0_1_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="--split"):
        parse_split(text)


@pytest.mark.parametrize("split", ["2019-06-01", "2020-12-01"])
def test_a_split_outside_the_data_names_the_data_range(split: str) -> None:
    with pytest.raises(InputError, match="2020-01-01 to 2020-07-19"):
        split_incidents(dated([0, 10, 200]), split)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def downtown_files(shared_data: Path) -> list[Path]:
    return [shared_data / rel for rel in settings.backtest_incidents]


@pytest.fixture(scope="module")
def downtown_run(shared_data: Path, network_cache: Path, downtown_files: list[Path]) -> Backtest:
    return backtest(load_areas()["downtown"], split=SPLIT, incidents=downtown_files, data_dir=shared_data,
                    offline=True, cache_dir=network_cache, extra_sets={}, draws=300, seeds=100)


def test_random_selection_has_a_pai_of_about_one(downtown_run: Backtest) -> None:
    """Over 2,000 seeded orders the mean PAI of random segments lies within 5 standard errors of 1.

    The standard error comes from the test counts: choosing a random share ``c`` of the
    segments draws them without replacement, so the hit count varies by about
    ``c (1 - c) sum((n_i - mean n)^2)`` and the PAI by that over ``(N c)^2``; over S seeds the
    mean's standard error is that root over sqrt(S). The segment that crosses the length
    budget adds a bias of at most its own length over the budget; 0.01 allows for it.
    """
    index, test = downtown_run.plan.index, downtown_run.split.test
    seeds = 2000
    table = random_baseline(index, test, seeds=seeds, snap_m=60.0)
    counts, _ = snap_counts(index, test, snap_m=60.0)
    spread = ((counts - counts.mean()) ** 2).sum()
    for r in table.itertuples():
        standard_error = np.sqrt(r.coverage * (1 - r.coverage) * spread) / (counts.sum() * r.coverage) / np.sqrt(seeds)
        assert abs(r.pai - 1.0) <= 5 * standard_error + 0.01, (r.coverage, r.pai, standard_error)
        assert r.length_share == pytest.approx(r.coverage, abs=0.005)
    # the real ranking is not random: the same test finds the plan's risk far from 1
    assert row(downtown_run.table, PLAN_RISK, 0.05).pai_low > 1.0


def test_the_backtest_reports_every_method_with_counts_and_intervals(downtown_run: Backtest) -> None:
    table = downtown_run.table
    n_test = downtown_run.test_on_street
    assert n_test == len(downtown_run.split.test) - downtown_run.test_too_far > 100
    assert set(table["test_incidents"]) == {n_test}
    curves = table[table["kind"] == "curve"]
    for method in (PLAN_RISK, RANDOM, GRID_KDE, COUNTS):
        assert np.allclose(curves[curves["method"] == method]["coverage"], settings.backtest_coverages)
    assert set(table[table["kind"] == "set"]["method"]) == {HOT_SET, PASSAGE_SET}
    assert (table["hit_rate_low"] <= table["hit_rate"]).all() and (table["hit_rate"] <= table["hit_rate_high"]).all()
    assert np.allclose(table["hits"] / table["test_incidents"], table["hit_rate"])
    # the plan was fitted on the training incidents only
    assert downtown_run.plan.risk.snapped + downtown_run.plan.risk.too_far == len(downtown_run.split.train)


def planted_file(folder: Path, day: str, count: int, *, lat: float = 34.0459, lon: float = -118.2545) -> Path:
    """An LAPD CSV of ``count`` batteries on one downtown block (700 S Hill St) on one day."""
    lines = [LAPD_HEADER] + [
        f"99{i:07d},{day} 00:00,{day} 00:00,1200,01,Central,0163,2,624,BATTERY - SIMPLE ASSAULT,,30,M,H,102,"
        f"SIDEWALK,,,IC,Invest Cont,624,,,,700 S  HILL ST,,{lat},{lon}"
        for i in range(count)
    ]
    path = folder / f"planted-{day.replace('/', '-')}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_incident_before_the_split_changes_nothing_in_the_evaluation(
    downtown_run: Backtest, downtown_files: list[Path], shared_data: Path, network_cache: Path, tmp_path: Path,
) -> None:
    area = load_areas()["downtown"]
    options = {"split": SPLIT, "data_dir": shared_data, "offline": True, "cache_dir": network_cache,
               "extra_sets": {}, "draws": 300, "seeds": 100}
    before = backtest(area, incidents=[*downtown_files, planted_file(tmp_path, "06/15/2020", 20)], **options)
    # the planted incidents are training incidents: the fit saw them ...
    assert len(before.split.train) == len(downtown_run.split.train) + 20
    assert not np.allclose(before.plan.risk.mass, downtown_run.plan.risk.mass)
    # ... and the evaluation did not: same test incidents, and the same choices score the same
    assert list(before.split.test["source_id"]) == list(downtown_run.split.test["source_id"])
    random_rows = lambda run: run.table[run.table["method"] == RANDOM].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(random_rows(before), random_rows(downtown_run))
    ranking = {"plan risk of the first run": rank_segments(downtown_run.plan.risk.risk_per_100m)}
    evaluate = lambda run: evaluate_rankings(run.plan.index, run.split.test, ranking, draws=300)  # noqa: E731
    pd.testing.assert_frame_equal(evaluate(before), evaluate(downtown_run))

    # the same incidents after the split are test incidents: the check above can fail
    after = backtest(area, incidents=[*downtown_files, planted_file(tmp_path, "07/15/2020", 20)], **options)
    assert after.test_on_street == downtown_run.test_on_street + 20
    assert np.array_equal(after.plan.risk.mass, downtown_run.plan.risk.mass)  # and the fit never sees them
    assert not evaluate(after).equals(evaluate(downtown_run))


def test_undated_incidents_cannot_be_backtested(shared_data: Path) -> None:
    hourly = shared_data / "incidents/licgermancardenas_LAPD-DATA-CRIME/crime_points_by_hour.csv"
    with pytest.raises(InputError, match="no dates") as caught:
        load_dated_incidents([hourly], area=load_areas()["downtown"], windows=["00:00-24:00"], weekdays=range(7))
    assert "crime_points_by_hour.csv" in str(caught.value)


# --------------------------------------------------------------------------- the command line


@pytest.fixture()
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


@pytest.mark.parametrize(("slug", "split"), [("downtown", SPLIT), ("south-central", "0.3")])
def test_backtest_prints_the_table_and_writes_the_curve(shared_data: Path, in_tmp: Path, slug: str,
                                                        split: str) -> None:
    result = runner.invoke(app, ["backtest", "--area", slug, "--split", split, "--offline",
                                 "--data-dir", str(shared_data)])
    assert result.exit_code == 0, result.output
    folder = in_tmp / "maps" / slug / "backtest"
    table = pd.read_csv(folder / "backtest.csv")
    png = (folder / "backtest.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    n_test = int(table["test_incidents"].iloc[0])
    assert f"{n_test:,} test incidents on a street" in result.stdout
    for words in ("1% of streets", "20% of streets", "plan risk", "random", "grid KDE", "last period counts",
                  "hot segments", "Safe Passage network", "the whole day, every day", "Rolling splits",
                  "pooled", "plan risk model:", "At 5% of streets the plan's risk finds"):
        assert words in result.stdout, words
    top = row(table, PLAN_RISK, 0.2)
    assert f"{top.hit_rate:.0%} [{top.hit_rate_low:.0%}-{top.hit_rate_high:.0%}]" in result.stdout

    # the same inputs give the same bytes
    again = runner.invoke(app, ["backtest", "--area", slug, "--split", split, "--offline",
                                "--data-dir", str(shared_data), "--out", "again"])
    assert again.exit_code == 0, again.output
    for name in ("backtest.csv", "backtest.png", "backtest-summary.json"):
        assert (in_tmp / "again" / name).read_bytes() == (folder / name).read_bytes(), name


@pytest.mark.parametrize(("args", "words"), [
    (["--split", "2030-01-01"], "leaves no test incident"),
    (["--split", "2019-01-01"], "leaves no training incident"),
    (["--split", "1.5"], "not between 0 and 1"),
    (["--split", "0"], "not between 0 and 1"),
    (["--split", "0.5", "--incidents", "incidents/licgermancardenas_LAPD-DATA-CRIME/crime_points_by_hour.csv"],
     "no dates"),
    (["--split", "0.5", "--incidents", "nowhere.csv"], "file not found"),
])
def test_backtest_bad_input_ends_with_one_line_and_exit_2(shared_data: Path, in_tmp: Path, args: list[str],
                                                          words: str) -> None:
    args = [str(shared_data / a) if a.endswith(".csv") and a.startswith("incidents/") else a for a in args]
    result = runner.invoke(app, ["backtest", "--area", "downtown", "--offline", "--data-dir", str(shared_data),
                                 *args])
    assert result.exit_code == 2, result.output
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (in_tmp / "maps").exists()


def test_write_backtest_writes_nothing_when_drawing_fails(downtown_run: Backtest, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import passages._backtest_plot as plot

    def broken(*_args: object, **_kwargs: object) -> bytes:
        raise RuntimeError("no figure")

    monkeypatch.setattr(plot, "curve_png", broken)
    with pytest.raises(RuntimeError):
        write_backtest(downtown_run, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_covered_segments_are_measured_when_officer_coverage_is_there(
    shared_data: Path, network_cache: Path, downtown_files: list[Path],
) -> None:
    coverage = pytest.importorskip("passages.coverage", reason="officer coverage (issue #3) is not in this tree")
    run = backtest(load_areas()["downtown"], split=SPLIT, incidents=downtown_files, data_dir=shared_data,
                   offline=True, cache_dir=network_cache, draws=100, seeds=20)
    covered = run.table[(run.table["kind"] == "set") & (run.table["method"] == COVERED_SET)]
    assert len(covered) == 1
    # the set is the training plan's watched segments, measured like the others
    watched = coverage.cover(run.plan).watched
    length = run.plan.index.segment_length
    assert covered.iloc[0].length_share == pytest.approx(length[watched].sum() / length.sum())
    counts, _ = snap_counts(run.plan.index, run.split.test, snap_m=run.params.snap_m)
    assert covered.iloc[0].hits == counts[watched].sum()


def test_backtest_row_flattens_the_sets_for_a_scenario_table(downtown_run: Backtest) -> None:
    flat = backtest_row(downtown_run)
    sets = downtown_run.table[downtown_run.table["kind"] == "set"]
    assert flat["split_at"] == SPLIT and flat["test_incidents"] == downtown_run.test_on_street
    for r in sets.itertuples():
        assert flat[f"{r.method} hit rate"] == r.hit_rate and flat[f"{r.method} PAI"] == r.pai
        assert flat[f"{r.method} hit rate low"] <= flat[f"{r.method} hit rate"] <= flat[f"{r.method} hit rate high"]


def test_the_training_plan_accounts_for_every_incident_row(downtown_run: Backtest) -> None:
    report = downtown_run.plan.incident_report
    assert report.used == len(downtown_run.split.train)
    assert report.rows_read == report.used + sum(report.dropped.values())
    held_out = [count for reason, count in report.dropped.items() if reason.startswith("held out")]
    assert held_out == [len(downtown_run.split.test)]


# --------------------------------------------------------------------------- models, rolling splits, words


def test_cross_validation_picks_own_segment_counts_when_incidents_recur_on_their_block(line: StreetIndex) -> None:
    """Every month brings incidents back to blocks 2 and 7 exactly: keeping the weight on the
    block finds them on 20 % of the street, while a wide kernel spreads it to the neighbours."""
    from passages.risk_models import FAMILY, select_model

    months = pd.date_range("2020-01-01", periods=8, freq="MS")
    frames = []
    for month in months:
        frame = points_on([2, 2, 2, 7, 7])
        frame["occurred"] = month + pd.Timedelta(days=3)
        frame["category"] = "property"
        frames.append(frame)
    points = pd.concat(frames, ignore_index=True)
    choice = select_model(line, points, pd.Timestamp("2020-08-01"), folds=3, snap_m=60.0)
    assert choice.chosen_by_cv and len(choice.folds) == 3
    assert choice.model.own_share >= 0.9 or choice.model.bandwidth_m <= 30
    assert set(choice.scores["model"]) == {m.name for m in FAMILY}
    # the folds never test at or after the instant the model is fitted at
    assert (pd.to_datetime(choice.folds["origin"]) < pd.Timestamp("2020-07-02")).all()


def test_too_few_incidents_for_cross_validation_fall_back_to_the_given_model(line: StreetIndex) -> None:
    from passages.risk_models import RiskModel, select_model

    few = dated([0, 40, 80])
    fallback = RiskModel(0.5, 100.0, 365.0, True)
    choice = select_model(line, few, pd.Timestamp("2020-04-01"), fallback=fallback, snap_m=60.0)
    assert choice.model == fallback and not choice.chosen_by_cv and "too few" in choice.note


def test_data_flags_name_empty_months_a_long_test_period_and_few_test_incidents() -> None:
    from passages.rolling import data_flags

    points = dated([0, 20, 40, 400, 700])  # Jan-Feb 2020, then Feb and Dec 2021
    flags = " | ".join(data_flags(points, pd.Timestamp("2020-03-01"), test_on_street=2))
    assert "months with no incident" in flags and "2020-03 to 2021-01" in flags
    assert "much longer than the training period" in flags
    assert "only 2 test incidents" in flags


def test_the_closing_sentence_names_the_best_baseline_and_its_interval() -> None:
    from passages.rolling import verdict

    def r(method: str, hit: float, low: float, high: float) -> dict[str, object]:
        return {"method": method, "kind": "curve", "coverage": 0.05, "hit_rate": hit, "hit_rate_low": low,
                "hit_rate_high": high}

    table = pd.DataFrame([r(PLAN_RISK, 0.41, 0.35, 0.47), r(COUNTS, 0.38, 0.32, 0.44), r(GRID_KDE, 0.2, 0.1, 0.3),
                          r(RANDOM, 0.05, 0.0, 0.1)])
    assert verdict(table, period="next period's") == (
        "At 5% of streets the plan's risk finds 41% of next period's incidents [35-47]; the best baseline, "
        "last period's counts, finds 38% [32-44].")
    table.loc[0, "hit_rate"] = 0.30
    assert verdict(table).endswith("below the baseline's interval here.")


def test_the_backtest_reports_rolling_splits_the_model_and_words_for_the_reader(downtown_run: Backtest) -> None:
    rolling = downtown_run.rolling
    assert len(downtown_run.rolling_splits) >= 3
    assert {"pooled"} < set(rolling["split"])
    for split in downtown_run.rolling_splits:
        rows = rolling[rolling["split"] == split["split"]]
        assert set(rows["method"]) == {PLAN_RISK, COUNTS, GRID_KDE, RANDOM}
        assert np.allclose(sorted(set(rows["coverage"])), [0.01, 0.02, 0.05, 0.10, 0.20])
        assert split["split"] >= SPLIT  # rolling origins start at the split asked for
    pooled = rolling[(rolling["split"] == "pooled") & (rolling["method"] == PLAN_RISK)]
    assert set(pooled["test_incidents"]) == {sum(s["test_incidents"] for s in downtown_run.rolling_splits)}
    summary = downtown_run.summary()
    assert summary["risk_model_chosen_by_cv"] and summary["risk_model"]["name"]
    assert downtown_run.params.own_share == downtown_run.selection.model.own_share
    assert downtown_run.verdict().startswith("At 5% of streets the plan's risk finds")
    # the plan's risk now finds at least what last period's counts find at 1 %, or within their interval
    plan, counts = row(downtown_run.table, PLAN_RISK, 0.01), row(downtown_run.table, COUNTS, 0.01)
    assert plan.pai >= counts.pai_low


def test_small_sets_say_they_are_too_small_to_judge_and_name_their_scenario(downtown_run: Backtest) -> None:
    import dataclasses

    table = downtown_run.table.copy()
    tiny = table[table["method"] == HOT_SET].copy()
    tiny["method"], tiny["length_share"] = COVERED_SET, 0.001
    result = dataclasses.replace(downtown_run, table=pd.concat([table, tiny], ignore_index=True),
                                 set_labels={COVERED_SET: "scenario morning: 2 officers, posts"})
    _, rows = result.display_sets()
    covered = next(r for r in rows if r[0].startswith(COVERED_SET))
    assert "scenario morning: 2 officers, posts" in covered[0] and "too small to judge" in covered[0]
    hot = next(r for r in rows if r[0].startswith(HOT_SET))
    assert "too small" not in hot[0]

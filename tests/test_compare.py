"""Comparing coverage scenarios: plans shared, the table, the chart, the side-by-side map, the command."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from passages._io import MANIFEST
from passages.areas import load_areas
from passages.cli import app
from passages.compare import (
    TABLE_COLUMNS,
    ScenarioRun,
    coverage_curves,
    metrics_table,
    run_scenarios,
    side_by_side_html,
    table_csv,
    write_comparison,
)
from passages.scenarios import read_scenarios

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "scenarios" / "officer-coverage.toml"
runner = CliRunner()


@pytest.fixture(scope="module")
def runs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[ScenarioRun]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("passages.settings.processed_dir", tmp_path_factory.mktemp("processed"))
        return run_scenarios(load_areas()["south-la"], read_scenarios(EXAMPLE), data_dir=shared_data)


def test_the_example_file_compares_at_least_four_scenarios_of_every_mode() -> None:
    scenarios = read_scenarios(EXAMPLE)
    assert len(scenarios) >= 4
    assert {s.coverage.mode for s in scenarios} == {"posts", "footbeats", "both"}
    assert len({s.coverage.officers for s in scenarios}) >= 2
    assert len({s.params.windows for s in scenarios}) >= 2


def test_scenarios_with_equal_plan_parameters_share_one_plan(runs: list[ScenarioRun]) -> None:
    for a, b in itertools.combinations(runs, 2):
        assert (a.plan is b.plan) == (a.scenario.params == b.scenario.params)
        if a.plan is b.plan and a.scenario.coverage.cover_radius_m == b.scenario.coverage.cover_radius_m:
            assert a.model is b.model
    assert len({id(r.plan) for r in runs}) == len({r.scenario.params for r in runs}) < len(runs)


def test_the_table_has_a_row_per_scenario_and_the_posts_gap(runs: list[ScenarioRun]) -> None:
    table = metrics_table(runs)
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert list(table["scenario"]) == [r.scenario.name for r in runs]
    posts = table[table["mode"] == "posts"]
    assert len(posts) and (posts["posts_gap"] <= 0.02).all() and (posts["posts_gap"] >= -1e-6).all()
    assert table.loc[table["mode"] != "posts", "posts_gap"].isna().all()
    rows = list(csv.DictReader(io.StringIO(table_csv(table).decode("utf-8"))))
    assert len(rows) == len(runs) and set(rows[0]) == set(TABLE_COLUMNS)
    # more officers in the same mode and window never watch less
    four = table.set_index("scenario")
    assert four.loc["posts-4-morning", "exposure_share"] >= four.loc["posts-2-morning", "exposure_share"]
    assert four.loc["footbeats-4-morning", "exposure_share"] >= four.loc["footbeats-2-morning", "exposure_share"]


def test_the_chart_curves_rise_with_officers_and_meet_the_table(runs: list[ScenarioRun]) -> None:
    curves = coverage_curves(runs, max_officers=6)
    # posts-2 and posts-4 of the morning differ only in officers: one curve
    assert "posts-2-morning, posts-4-morning" in curves
    table = metrics_table(runs).set_index("scenario")
    for label, shares in curves.items():
        assert len(shares) == 6 and (shares[1:] >= shares[:-1] - 1e-12).all()
        for name in label.split(", "):
            officers = int(table.loc[name, "officers"])
            assert shares[officers - 1] == pytest.approx(table.loc[name, "exposure_share"])


def test_the_side_by_side_page_is_self_contained_with_both_maps(runs: list[ScenarioRun]) -> None:
    first, second = runs[0], runs[2]
    page = side_by_side_html(first, second, tiles=False)
    assert page.count("<iframe") == 2 and page.count("srcdoc=") == 2
    assert first.scenario.name in page and second.scenario.name in page
    assert "<script src=" not in page and "&lt;script src=" not in page  # Leaflet is inline
    assert "OpenStreetMap contributors" in page
    assert "Footbeat loops" in page and "Posts and stops" in page


def test_outputs_are_byte_identical_across_runs(runs: list[ScenarioRun], tmp_path: Path) -> None:
    one = write_comparison(runs, tmp_path / "one", name="x", tiles=False)
    two = write_comparison(runs, tmp_path / "two", name="x", tiles=False)
    assert set(one) == {"table", "chart", "maps"}
    for kind in one:
        assert one[kind].read_bytes() == two[kind].read_bytes(), kind
    assert one["chart"].read_bytes().startswith(b"\x89PNG")


# -- the command line -----------------------------------------------------------------------


def test_compare_command_writes_the_table_the_chart_and_the_maps(shared_data: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["compare", str(EXAMPLE), "--area", "south-central", "--offline",
                                 "--data-dir", str(shared_data), "--maps", "posts-4-morning,footbeats-4-morning"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "maps" / "south-central" / "compare"
    written = sorted(p.name for p in folder.iterdir() if p.name != MANIFEST)
    assert written == ["officer-coverage-coverage.png", "officer-coverage-posts-4-morning-vs-footbeats-4-morning.html",
                       "officer-coverage.csv"]
    for scenario in read_scenarios(EXAMPLE):
        assert scenario.name in result.stdout
    assert "exposure" in result.stdout


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--maps", "posts-4-morning,nothing"], "--maps"),
        (["--maps", "posts-4-morning"], "--maps"),
        (["--area", "atlantis"], "--area"),
    ],
)
def test_bad_options_stop_with_one_line_and_write_nothing(shared_data: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch, args: list[str],
                                                          field: str) -> None:
    monkeypatch.chdir(tmp_path)
    base = ["compare", str(EXAMPLE), "--offline", "--data-dir", str(shared_data), "--out", str(tmp_path / "out")]
    if "--area" not in args:
        base += ["--area", "south-la"]
    result = runner.invoke(app, base + args)
    assert result.exit_code == 2
    assert field in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_bad_scenario_file_names_the_key_and_the_file(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[scenarios.none]\nofficers = 0\n\n[scenarios.two]\nofficers = 2\n", encoding="utf-8")
    result = runner.invoke(app, ["compare", str(path), "--area", "south-la", "--offline",
                                 "--data-dir", str(shared_data), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert str(path) in result.stderr.replace("\n", "") and "'officers'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_compare_shows_each_scenarios_backtest_beside_its_metrics(shared_data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from passages.cli import app

    scenarios = tmp_path / "two.toml"
    scenarios.write_text('[scenarios.posts-2]\nofficers = 2\nmode = "posts"\n'
                         '[scenarios.loops-2]\nofficers = 2\nmode = "footbeats"\n')
    result = CliRunner().invoke(app, ["compare", str(scenarios), "--area", "downtown", "--offline", "--data-dir",
                                      str(shared_data), "--out", str(tmp_path / "out"), "--backtest", "2020-07-01",
                                      "--no-tiles"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "out" / "two.csv")
    assert list(table["scenario"]) == ["posts-2", "loops-2"]
    for column in ("exposure_share", "test_incidents", "covered segments PAI", "covered segments hit rate low",
                   "hot segments PAI", "Safe Passage network PAI"):
        assert column in table.columns
    assert (table["test_incidents"] > 100).all()  # downtown's dated incidents after mid-2020
    assert (table["covered segments hit rate low"] <= table["covered segments hit rate"]).all()
    assert "Backtests split at 2020-07-01" in result.stdout

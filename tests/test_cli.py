"""The command line: areas, plan, demo, and one clear line on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from passages.areas import load_areas
from passages.cli import app

runner = CliRunner()

CSP = ("jordan-downs", "nickerson-gardens", "imperial-courts", "ramona-gardens", "avalon-gardens",
       "pueblo-del-rio", "san-fernando-gardens", "harvard-park")
SAMPLES = ("south-la", "south-central", "downtown")


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run every command in an empty folder, so maps/ and data/ land there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("passages.settings.processed_dir", Path("data/processed"))  # the default, under tmp_path
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_areas_lists_the_eight_sites_and_the_samples() -> None:
    result = runner.invoke(app, ["areas"])
    assert result.exit_code == 0
    for slug in CSP + SAMPLES:
        assert slug in result.stdout
    assert len(load_areas()) == 11


def test_plan_prints_the_figures_and_writes_the_map(shared_data: Path, in_tmp: Path) -> None:
    result = runner.invoke(app, ["plan", "--area", "south-central", "--offline", "--data-dir", str(shared_data)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for words in ("nodes", "edges", "km of street", "school", "transit", "park", "rows read", "used",
                  "outside study area", "routed", "km of recommended Safe Passage"):
        assert words in out
    map_path = in_tmp / "maps" / "south-central" / "plan.html"
    summary = json.loads((in_tmp / "maps" / "south-central" / "plan-summary.json").read_text())
    assert map_path.is_file() and map_path.stat().st_size < 2_000_000
    assert summary["routes"]["routed"] > 0 and summary["passage_km"] > 0
    assert summary["incidents"]["rows_read"] == summary["incidents"]["used"] + sum(
        summary["incidents"]["dropped"].values())
    # the processed network is cached, so the second run does not rebuild it
    cache = in_tmp / "data" / "processed" / "networks"
    assert list(cache.glob("south-central-*.manifest.json"))
    assert not list(cache.glob("*.pickle"))  # data only: nothing in the cache is ever unpickled


def test_plan_with_a_scenario_file_writes_one_map_per_scenario(shared_data: Path, in_tmp: Path) -> None:
    scenarios = Path(__file__).resolve().parent.parent / "scenarios" / "school-walks.toml"
    result = runner.invoke(app, ["plan", "--area", "south-la", "--offline", "--data-dir", str(shared_data),
                                 "--scenario", str(scenarios), "--no-tiles"])
    assert result.exit_code == 0, result.output
    names = {p.name for p in (in_tmp / "maps" / "south-la").glob("*.html")}
    assert names == {"morning.html", "afternoon.html", "afternoon-cautious.html", "home-walks.html"}
    home = json.loads((in_tmp / "maps" / "south-la" / "home-walks-summary.json").read_text(encoding="utf-8"))
    morning = json.loads((in_tmp / "maps" / "south-la" / "morning-summary.json").read_text(encoding="utf-8"))
    assert home["demand"]["model"] == "homes" and morning["demand"]["model"] == "site"
    assert home["demand"]["origins"] > morning["demand"]["origins"] == 1


def test_demo_plans_the_three_sample_areas(shared_data: Path, in_tmp: Path) -> None:
    result = runner.invoke(app, ["demo", "--data-dir", str(shared_data)])
    assert result.exit_code == 0, result.output
    for slug in SAMPLES:
        assert (in_tmp / "maps" / slug / "plan.html").is_file()
        assert f"maps/{slug}/plan.html" in result.stdout


def test_demo_reads_the_data_folder_from_the_environment(shared_data: Path, in_tmp: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSAGES_DATA", str(in_tmp / "nowhere"))
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 2
    assert "nowhere" in result.stderr and "--data-dir" in result.stderr


def bad_incidents(tmp: Path, kind: str) -> Path:
    path = tmp / f"{kind}.csv"
    if kind == "wrong-columns":
        path.write_text("latitude,longitude,when\n34.0,-118.25,2020-01-01\n")
    elif kind == "empty":
        path.write_text("")
    return path


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--area", "atlantis"], "unknown area 'atlantis'"),
        (["--area", "jordan-downs", "--offline"], "--offline"),
        (["--area", "south-la", "--network", "missing.osm"], "missing.osm"),
        (["--area", "south-la", "--incidents", "missing.csv"], "missing.csv"),
        (["--area", "south-la", "--incidents", "<wrong-columns>"], "wrong-columns.csv"),
        (["--area", "south-la", "--incidents", "<empty>"], "empty.csv"),
    ],
)
def test_bad_input_ends_with_one_line_and_no_output(shared_data: Path, in_tmp: Path, args: list[str],
                                                     expected: str) -> None:
    args = [str(bad_incidents(in_tmp, a[1:-1])) if a.startswith("<") else a for a in args]
    result = runner.invoke(app, ["plan", *args, "--data-dir", str(shared_data)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert expected in lines[0]
    assert files_under(in_tmp / "maps") == []


def test_a_bad_scenario_file_names_the_key(shared_data: Path, in_tmp: Path) -> None:
    scenario = in_tmp / "bad.toml"
    scenario.write_text("[scenarios.a]\nofficers = 0\n")
    result = runner.invoke(app, ["plan", "--area", "south-la", "--offline", "--data-dir", str(shared_data),
                                 "--scenario", str(scenario)])
    assert result.exit_code == 2
    assert "'officers'" in result.stderr and "bad.toml" in result.stderr
    assert files_under(in_tmp / "maps") == []


def test_a_schools_file_replaces_the_areas_own(shared_data: Path, in_tmp: Path) -> None:
    schools = in_tmp / "my-schools.geojson"
    schools.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"name": "Test Elementary", "enrollment": 420},
        "geometry": {"type": "Point", "coordinates": [-118.2745, 33.9290]}}]}))
    result = runner.invoke(app, ["plan", "--area", "south-la", "--offline", "--data-dir", str(shared_data),
                                 "--schools", str(schools)])
    assert result.exit_code == 0, result.output
    summary = json.loads((in_tmp / "maps" / "south-la" / "plan-summary.json").read_text())
    assert summary["places"]["school"]["found"] == 1
    assert summary["routes"]["by_purpose"]["home-school"] == 1
    assert any("my-schools.geojson" in s for s in summary["sources"])


def test_the_same_plan_writes_the_same_bytes(shared_data: Path, in_tmp: Path) -> None:
    outputs = []
    for run in ("first", "second"):  # the second run reads the cached network
        result = runner.invoke(app, ["plan", "--area", "south-la", "--offline", "--data-dir", str(shared_data),
                                     "--out", str(in_tmp / run)])
        assert result.exit_code == 0, result.output
        outputs.append([(in_tmp / run / name).read_bytes() for name in ("plan.html", "plan-summary.json")])
    assert outputs[0] == outputs[1]

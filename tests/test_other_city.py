"""The other-city example (issue 13): Chatham, Chicago, planned from the City's own exports through the CLI only.

Runs ``passages plan`` and ``passages export`` with ``--mapping examples/chicago/mapping.toml`` on the shared
data, as the README shows, and checks the written map, summary and exports against figures derived from the
input files themselves.
"""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import SHARED_DATA
from typer.testing import CliRunner

from passages.areas import areas_from_geojson
from passages.cli import app
from passages.incidents import load_incidents

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "chicago"
CHICAGO = SHARED_DATA / "chicago"
NETWORK = SHARED_DATA / "osm" / "chicago_chatham_overpass" / "4576e9edde4351d413c839bb3ad2bfb293737567.json"
CRIMES = CHICAGO / "crime" / "gun_crimes_2016.csv"
SCHOOLS = CHICAGO / "schools" / "Chicago Public Schools - School Locations SY1617.geojson"
STOPS = CHICAGO / "transit" / "stops.csv"
PARKS = CHICAGO / "parks_osm" / "028eb4f16bfe8b8873939aaa400c6680502a4aa2.json"
INPUTS = (NETWORK, CRIMES, SCHOOLS, STOPS, PARKS)

pytestmark = pytest.mark.skipif(
    not all(path.is_file() for path in INPUTS),
    reason=f"the Chicago files of the shared data are not under {SHARED_DATA} (osm/chicago_chatham_overpass, "
           "chicago/crime, chicago/schools, chicago/transit, chicago/parks_osm; set PASSAGES_DATA to the "
           "shared/data folder to run these tests)",
)

runner = CliRunner()
AREA = areas_from_geojson(EXAMPLE / "areas.geojson")["chatham"]


def options(mapping: Path = EXAMPLE / "mapping.toml") -> list[str]:
    return ["--areas-file", str(EXAMPLE / "areas.geojson"), "--area", "chatham", "--offline",
            "--network", str(NETWORK), "--incidents", str(CRIMES), "--schools", str(SCHOOLS),
            "--transit", str(STOPS), "--parks", str(PARKS), "--mapping", str(mapping)]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("passages.settings.processed_dir", Path("data/processed"))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


@pytest.fixture(scope="module")
def crimes() -> pd.DataFrame:
    return pd.read_csv(CRIMES, dtype=str, keep_default_na=False)


def inside(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return shapely.contains_xy(AREA.study_polygon, lon, lat)


def test_the_example_area_lies_on_the_network_extent() -> None:
    # the Overpass piece spans 41.72157..41.75107 N, -87.64461..-87.60469 E (SOURCES.md section 6)
    nodes = [e for e in json.loads(NETWORK.read_text())["elements"] if e.get("type") == "node"]
    lats = np.array([n["lat"] for n in nodes])
    lons = np.array([n["lon"] for n in nodes])
    west, south, east, north = AREA.study_polygon.bounds
    assert lons.min() < west and east < lons.max() and lats.min() < south and north < lats.max()


def test_the_chicago_example_plans_through_the_cli(in_tmp: Path, crimes: pd.DataFrame) -> None:
    result = runner.invoke(app, ["plan", *options(), "--out", "maps/chatham", "--no-tiles"])
    assert result.exit_code == 0, result.output
    folder = in_tmp / "maps" / "chatham"
    summary = json.loads((folder / "plan-summary.json").read_text())
    page = (folder / "plan.html").read_text()

    # incidents: every row read, the rows without coordinates and those outside the circle dropped as such
    lat = pd.to_numeric(crimes["Latitude"], errors="coerce").to_numpy()
    lon = pd.to_numeric(crimes["Longitude"], errors="coerce").to_numpy()
    located = np.isfinite(lat) & np.isfinite(lon) & ~((lat == 0) & (lon == 0))
    in_area = located & inside(np.nan_to_num(lon), np.nan_to_num(lat))
    figures = summary["incidents"]
    assert figures["rows_read"] == len(crimes)
    assert figures["dropped"]["missing coordinates (0,0)"] == int((~located).sum())
    assert figures["dropped"]["outside study area"] == int((located & ~in_area).sum())
    assert 0 < figures["used"] <= int(in_area.sum())
    assert figures["rows_read"] == figures["used"] + sum(figures["dropped"].values())
    assert "unparseable date" not in figures["dropped"] and "unparseable time" not in figures["dropped"]
    assert not any("crime types not in" in note for note in figures["notes"])  # every Primary Type is mapped

    # places: every CPS school inside the circle, the rail stations inside it (GTFS stations win over stops)
    features = json.loads(SCHOOLS.read_text())["features"]
    school_lon = np.array([float(f["properties"]["long"]) for f in features])
    school_lat = np.array([float(f["properties"]["lat"]) for f in features])
    assert summary["places"]["school"]["found"] == int(inside(school_lon, school_lat).sum()) > 0
    stops = pd.read_csv(STOPS, dtype={"stop_name": str})
    stations = stops[(stops["location_type"] == 1)
                     & inside(stops["stop_lon"].to_numpy(), stops["stop_lat"].to_numpy())]
    assert summary["places"]["transit"]["found"] == stations["stop_name"].nunique() > 0
    assert summary["places"]["park"]["found"] > 0

    # routes: every usable school reached from the site, passages on the streets of the area
    routes = summary["routes"]
    assert routes["routed"] == routes["pairs"] - sum(routes["skipped"].values()) > 0
    assert routes["by_purpose"].get("home-school", 0) == summary["places"]["school"]["usable"]
    assert 0 < summary["passage_km"] <= summary["network"]["street_km"]
    assert any(source.startswith("Mapping: ") for source in summary["sources"])

    # the map: the area's name, the file credited, not LAPD
    assert "Chatham" in page and "gun_crimes_2016.csv" in page and "LAPD" not in page
    assert "Chatham" in result.stdout and "rows read" in result.stdout


def test_the_incidents_get_the_categories_the_mapping_gives_their_crime_types(crimes: pd.DataFrame) -> None:
    table = tomllib.loads((EXAMPLE / "mapping.toml").read_text())["incidents"]["categories"]
    points = load_incidents(CRIMES, area=AREA, windows=[], weekdays=[], mapping=EXAMPLE / "mapping.toml").points
    kind_of = dict(zip(crimes["ID"], crimes["Primary Type"], strict=True))
    expected = [table.get(kind_of[ident], table["default"]) for ident in points["source_id"]]
    assert len(points) > 0 and points["category"].tolist() == expected
    assert set(points["category"]) == {table[kind_of[i]] for i in points["source_id"]}


def test_the_chicago_example_exports_through_the_cli(in_tmp: Path) -> None:
    result = runner.invoke(app, ["export", *options(), "--out", "exports"])
    assert result.exit_code == 0, result.output
    folder = in_tmp / "exports"
    assert (folder / "plan.gpkg").stat().st_size > 0
    places = json.loads((folder / "plan-places.geojson").read_text())["features"]
    routes = json.loads((folder / "plan-routes.geojson").read_text())["features"]
    passages = json.loads((folder / "plan-passages.geojson").read_text())["features"]
    kinds = {f["properties"]["kind"] for f in places}
    assert {"school", "transit", "park"} <= kinds
    assert len(routes) > 0 and len(passages) > 0
    assert all(f["properties"]["demand"] > 0 for f in passages)
    with (folder / "plan-routes.csv").open(newline="", encoding="utf-8") as handle:
        sheet = list(csv.DictReader(handle))
    assert {row["pair_id"] for row in sheet} == {f["properties"]["pair_id"] for f in routes}
    # every step of the route sheet is on a street of the area, and each walk adds up
    assert all(float(row["length_m"]) > 0 for row in sheet)


def test_a_broken_mapping_stops_the_cli_with_one_line(in_tmp: Path) -> None:
    broken = in_tmp / "broken.toml"
    broken.write_text('[incidents]\nlat = "Latitude"\nlon = Longitude\n')
    result = runner.invoke(app, ["plan", *options(broken)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "broken.toml" in lines[0] and "line 3" in lines[0]
    wrong = in_tmp / "wrong.toml"
    wrong.write_text((EXAMPLE / "mapping.toml").read_text().replace('name = "short_name"', 'name = "name"'))
    result = runner.invoke(app, ["plan", *options(wrong)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "[schools] name" in lines[0] and "short_name" in lines[0]
    assert not (in_tmp / "maps").exists() or not list((in_tmp / "maps").rglob("*.html"))


def test_the_example_scenarios_count_the_whole_day_and_walk_from_the_homes(in_tmp: Path,
                                                                           crimes: pd.DataFrame) -> None:
    scenarios = EXAMPLE / "scenarios.toml"
    result = runner.invoke(app, ["plan", *options(), "--scenario", str(scenarios), "--out", "maps/chatham",
                                 "--no-tiles"])
    assert result.exit_code == 0, result.output
    names = set(tomllib.loads(scenarios.read_text(encoding="utf-8"))["scenarios"])
    assert {p.stem for p in (in_tmp / "maps" / "chatham").glob("*.html")} == names
    lat = pd.to_numeric(crimes["Latitude"], errors="coerce").to_numpy(dtype=float)
    lon = pd.to_numeric(crimes["Longitude"], errors="coerce").to_numpy(dtype=float)
    located = np.isfinite(lat) & np.isfinite(lon)
    in_area = int(inside(lon[located], lat[located]).sum())
    for name in names:
        summary = json.loads((in_tmp / "maps" / "chatham" / f"{name}-summary.json").read_text(encoding="utf-8"))
        # every crime of the area counts: whole day, whole week, no other filter
        assert summary["incidents"]["used"] == in_area
        assert summary["demand"]["model"] == "both" and summary["demand"]["home_blocks_within_walk"] > 0
        assert summary["routes"]["by_purpose"]["home-school"] > summary["places"]["school"]["usable"]

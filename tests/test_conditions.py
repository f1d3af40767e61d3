"""Street conditions: reading 311 files, snapping requests to passage segments, the work list and its files."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString
from typer.testing import CliRunner

from passages._errors import InputError
from passages._io import output_set
from passages.areas import Area
from passages.cli import app
from passages.conditions import (
    CONDITIONS,
    DEFAULT_FILE,
    classify,
    read_conditions,
    severities,
    work_list,
    write_conditions,
)
from passages.streetindex import StreetIndex

CRS = "EPSG:32611"
# the grid's south-west corner, in UTM zone 11 metres (near downtown Los Angeles)
X0, Y0 = 385_000.0, 3_765_000.0
SPACING = 200.0
TO_WGS = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)

runner = CliRunner()


# --------------------------------------------------------------------------- request types


@pytest.mark.parametrize(("request_type", "key"), [
    ("Single Streetlight Issue", "streetlight"), ("Multiple Streetlight Issue", "streetlight"),
    ("Multiple Streetlights", "streetlight"), ("Graffiti Removal", "graffiti"), ("Graffiti", "graffiti"),
    ("Illegal Dumping Pickup", "dumping"), ("Bulky Items", "bulky"), ("Metal/Household Appliances", "bulky"),
    ("Metal/Appliances", "bulky"), ("Electronic Waste", "bulky"), ("Dead Animal Removal", "animal"),
    ("Animal Remains", "animal"), ("damaged sidewalk", "sidewalk"), ("Pothole - Small Asphalt Repair", "pavement"),
    ("Homeless Encampment", ""), ("Report Water Waste", ""), ("Feedback", ""), ("Other", ""), ("", ""),
])
def test_request_types_map_to_physical_conditions_or_none(request_type: str, key: str) -> None:
    assert classify(request_type) == key


def test_each_condition_goes_to_its_department() -> None:
    assert "Street Lighting" in CONDITIONS["streetlight"].department
    assert "Community Beautification" in CONDITIONS["graffiti"].department
    for key in ("dumping", "bulky", "animal"):
        assert "Sanitation" in CONDITIONS[key].department
    for key in ("sidewalk", "pavement"):
        assert "StreetsLA" in CONDITIONS[key].department


def test_streetlights_weigh_most_when_the_plan_walks_in_the_afternoon() -> None:
    afternoon = severities(["07:00-08:30", "14:00-16:00"])
    morning = severities(["07:00-08:30"])
    assert afternoon["streetlight"] > max(w for k, w in afternoon.items() if k != "streetlight")
    assert morning["streetlight"] < afternoon["streetlight"]
    assert {k: w for k, w in morning.items() if k != "streetlight"} == {
        k: w for k, w in afternoon.items() if k != "streetlight"}


# --------------------------------------------------------------------------- reading


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_myla311_headers_match_whatever_their_case_and_closed_requests_are_told(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export.csv", ["SR Number", "Request_Type", "STATUS", "closed_date", "LATITUDE",
                                               "Longitude", "Created Date"], [
        ["1-1", "Single Streetlight Issue", "Open", "", 34.0, -118.25, "2020-01-01"],
        ["1-2", "Graffiti Removal", "Closed", "2020-01-03", 34.0, -118.25, "2020-01-02"],
        ["1-3", "Bulky Items", "Cancelled", "", 34.0, -118.25, ""],
        ["1-4", "Illegal Dumping Pickup", "", "2020-02-01", 34.0, -118.25, ""],
        ["1-5", "Illegal Dumping Pickup", "Pending", "", 34.0, -118.25, ""],
    ])
    read = read_conditions([path])
    status = dict(zip(read.requests["id"], read.requests["status"], strict=True))
    assert status == {"1-1": "open", "1-2": "closed", "1-3": "closed", "1-4": "closed", "1-5": "open"}
    assert read.requests.set_index("id").loc["1-1", "created"] == "2020-01-01"
    assert read.notes == []  # the file tells every status: nothing to say


def test_bad_coordinates_are_counted_and_reported_once(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "plain.csv", ["type", "lat", "lon"], [
        ["graffiti", 34.0, -118.25], ["graffiti", "", -118.25], ["graffiti", "north", "west"],
        ["graffiti", 95.0, -118.25], ["graffiti", 0, 0], ["graffiti", 34.01, -118.24],
    ])
    read = read_conditions([path])
    assert (read.rows, read.bad_coordinates, len(read.requests)) == (6, 4, 2)
    assert sum("without usable coordinates" in note for note in read.notes) == 1
    # a plain file without status: every request taken as open, and the run says so
    assert set(read.requests["status"]) == {"unknown"}
    assert any("cannot tell open from closed" in note for note in read.notes)


def test_geojson_and_a_list_of_open_requests_are_read(tmp_path: Path) -> None:
    geojson = tmp_path / "concerns.geojson"
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-118.25, 34.0]},
         "properties": {"Type": "streetlight out", "Status": "open", "ID": "a"}},
        {"type": "Feature", "geometry": None, "properties": {"Type": "graffiti", "ID": "b"}},
    ]}))
    read = read_conditions([geojson])
    assert list(read.requests["id"]) == ["a"] and read.bad_coordinates == 1
    assert read.requests.loc[0, "condition"] == "streetlight"
    assert (read.requests.loc[0, "lat"], read.requests.loc[0, "lon"]) == (34.0, -118.25)

    listing = tmp_path / "open_requests.json"
    listing.write_text(json.dumps([{"srnumber": "1-9", "requesttype": "Graffiti Removal", "latitude": 34.0,
                                    "longitude": -118.25}]))
    read = read_conditions([listing])
    assert list(read.requests["status"]) == ["open"]
    assert any("lists open requests" in note for note in read.notes)


def test_a_derived_table_takes_the_status_from_the_files_it_names(tmp_path: Path) -> None:
    (tmp_path / "conditions" / "derived").mkdir(parents=True)
    write_csv(tmp_path / "conditions" / "export.csv", ["SRNumber", "RequestType", "Status", "Latitude", "Longitude"],
              [["1-1", "Graffiti Removal", "Closed", 34.0, -118.25],
               ["1-2", "Graffiti Removal", "Open", 34.0, -118.25]])
    derived = write_csv(tmp_path / "conditions" / "derived" / "points.csv",
                        ["srnumber", "request_type", "latitude", "longitude", "all_source_files"],
                        [["1-1", "Graffiti Removal", 34.0, -118.25, "conditions/export.csv"],
                         ["1-2", "Graffiti Removal", 34.0, -118.25, "conditions/export.csv"],
                         ["1-3", "Graffiti Removal", 34.0, -118.25, "conditions/gone.csv"]])
    read = read_conditions([derived])
    assert dict(zip(read.requests["id"], read.requests["status"], strict=True)) == {
        "1-1": "closed", "1-2": "open", "1-3": "unknown"}
    assert any("not found" in note and "gone.csv" in note for note in read.notes)


@pytest.mark.parametrize(("name", "text"), [
    ("schools.csv", "name,address\nA School,1 Main St\n"),
    ("points.csv", "type,x_coordinate,y_coordinate\ngraffiti,1,2\n"),
    ("notes.md", "# meeting notes\nthe lights on 5th, are out\n"),
    ("layer.geojson", '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "x"}, '
                      '"geometry": {"type": "Point", "coordinates": [-118.2, 34.0]}}]}'),
])
def test_a_file_that_is_not_a_conditions_file_gets_one_clear_error(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        read_conditions([path])
    error = caught.value
    assert error.path == path and "not a conditions file" in str(error)
    assert error.field is not None and error.field.split(", ")[0] in ("type", "lat", "lon")
    assert error.fix is not None and "type, lat, lon" in error.fix


def _header(word: str) -> st.SearchStrategy[str]:
    """Spellings of a header that match it: any case, with underscores or spaces between its letters."""
    return st.lists(st.sampled_from(["", "_", " "]), min_size=len(word), max_size=len(word)).flatmap(
        lambda seps: st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
            lambda upper: "".join((c.upper() if u else c) + s for c, u, s in zip(word, upper, seps, strict=True))
            .strip()))


_GOOD = st.tuples(st.floats(-89.9, 89.9), st.floats(-179.9, 179.9)).filter(lambda p: p != (0.0, 0.0))
_BAD = st.sampled_from([("", "-118.2"), ("34.0", ""), ("abc", "-118.2"), ("91", "-118.2"), ("34", "181"),
                        ("0", "0"), ("nan", "-118.2"), ("inf", "1")])


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.one_of(_GOOD.map(lambda p: (True, repr(p[0]), repr(p[1]))),
                               _BAD.map(lambda p: (False, *p))), max_size=25),
       type_header=_header("requesttype"), lat_header=_header("latitude"), lon_header=_header("longitude"))
def test_reader_keeps_every_usable_row_and_counts_the_others(tmp_path_factory: pytest.TempPathFactory,
                                                             rows: list[tuple[bool, str, str]], type_header: str,
                                                             lat_header: str, lon_header: str) -> None:
    path = tmp_path_factory.mktemp("prop") / "requests.csv"
    write_csv(path, [type_header, lat_header, lon_header], [["Graffiti Removal", lat, lon] for _, lat, lon in rows])
    read = read_conditions([path])
    good = [(float(lat), float(lon)) for ok, lat, lon in rows if ok]
    assert read.rows == len(rows) and read.bad_coordinates == len(rows) - len(good)
    assert list(zip(read.requests["lat"], read.requests["lon"], strict=True)) == good
    assert set(read.requests["condition"]) <= {"graffiti"}


# --------------------------------------------------------------------------- the work list on a grid


def grid(n: int = 4, names: dict[int, str] | None = None) -> nx.MultiDiGraph:
    """An n x n street grid (UTM metres), both directions; street ``i`` named ``names[i]`` or ``"Street i"``."""
    graph = nx.MultiDiGraph(crs=CRS)
    for i in range(n):
        for j in range(n):
            graph.add_node(i * n + j, x=X0 + j * SPACING, y=Y0 + i * SPACING)
    number = 0
    for i in range(n):
        for j in range(n):
            here = i * n + j
            for there in ([here + 1] if j < n - 1 else []) + ([here + n] if i < n - 1 else []):
                name = (names or {}).get(number, f"Street {number}")
                number += 1
                for u, v in ((here, there), (there, here)):
                    a, b = graph.nodes[u], graph.nodes[v]
                    graph.add_edge(u, v, length=SPACING, name=name, highway="residential",
                                   geometry=LineString([(a["x"], a["y"]), (b["x"], b["y"])]))
    return graph


def fake_plan(graph: nx.MultiDiGraph, demand: dict[int, float], risk: dict[int, float] | None = None,
              windows: tuple[str, ...] = ("07:00-08:30", "14:00-16:00")) -> Any:
    """What the work list reads of a plan: index, walkers and risk per segment, windows, area."""
    index = StreetIndex(graph)
    walkers = np.zeros(index.n_segments)
    for segment, value in demand.items():
        walkers[segment] = value
    risk_per_100m = np.zeros(index.n_segments)
    for segment, value in (risk or {}).items():
        risk_per_100m[segment] = value
    lon, lat = TO_WGS.transform(X0 + 300.0, Y0 + 300.0)
    area = Area("grid", "Grid", "custom", float(lat), float(lon), radius_m=1000.0)
    return SimpleNamespace(index=index, route_set=SimpleNamespace(segment_demand=walkers),
                           risk=SimpleNamespace(risk_per_100m=risk_per_100m),
                           params=SimpleNamespace(windows=windows), area=area)


def near(plan: Any, segment: int, *, side_m: float = 8.0, along: float = 0.5) -> tuple[float, float]:
    """Return (lat, lon) of a point ``side_m`` metres beside a segment, ``along`` of the way."""
    line = plan.index.segment_geometry[segment]
    point = shapely.line_interpolate_point(line, along, normalized=True)
    (x0, y0), (x1, y1) = line.coords[0], line.coords[-1]
    nx_, ny_ = -(y1 - y0) / SPACING, (x1 - x0) / SPACING  # unit normal
    lon, lat = TO_WGS.transform(shapely.get_x(point) + side_m * nx_, shapely.get_y(point) + side_m * ny_)
    return float(lat), float(lon)


def requests_file(tmp_path: Path, rows: list[tuple[str, str, str, tuple[float, float]]]) -> Path:
    """A conditions CSV: (id, type, status, (lat, lon)) per row."""
    return write_csv(tmp_path / "requests.csv", ["SRNumber", "RequestType", "Status", "Latitude", "Longitude"],
                     [[rid, kind, status, lat, lon] for rid, kind, status, (lat, lon) in rows])


@pytest.fixture
def grid_case(tmp_path: Path) -> tuple[Any, Path]:
    plan = fake_plan(grid(), demand={0: 50.0, 1: 80.0, 2: 300.0, 3: 10.0}, risk={0: 1.0, 1: 2.0})
    rows = [
        ("L1", "Single Streetlight Issue", "Open", near(plan, 0)),
        ("L2", "Multiple Streetlight Issue", "Open", near(plan, 0, along=0.3)),
        ("G1", "Graffiti Removal", "Open", near(plan, 1)),
        ("L3", "Single Streetlight Issue", "Closed", near(plan, 1)),    # closed: dropped
        ("H1", "Homeless Encampment", "Open", near(plan, 0)),           # not a street condition
        ("D1", "Illegal Dumping Pickup", "Open", near(plan, 10)),       # not a passage
        ("D2", "Illegal Dumping Pickup", "Open", near(plan, 2, side_m=45.0)),  # too far from the street
        ("B1", "Bulky Items", "Open", near(plan, 3)),
        ("B2", "Bulky Items", "Open", near(plan, 2)),
    ]
    return plan, requests_file(tmp_path, rows)


def test_the_work_list_puts_each_open_condition_on_its_passage_segment_worst_first(grid_case: tuple[Any, Path]) -> None:
    plan, path = grid_case
    work = work_list(plan, read_conditions([path]), max_snap_m=30.0)
    table = work.table
    assert list(table["segment"]) == [0, 1, 2, 3]  # 2 streetlights (6), graffiti (1), then bulky 0.5 by walkers
    assert list(table["rank"]) == [1, 2, 3, 4]
    first = table.iloc[0]
    assert first["conditions"] == "streetlight out 2" and first["request_ids"] == "L1 L2"
    assert first["departments"] == CONDITIONS["streetlight"].department and first["score"] == 6.0
    assert table.iloc[1]["request_ids"] == "G1" and "Beautification" in table.iloc[1]["departments"]
    assert table.iloc[2]["request_ids"] == "B2" and table.iloc[3]["request_ids"] == "B1"  # more walkers first
    counts = work.counts
    assert (counts["rows"], counts["open"], counts["closed"], counts["not_street"]) == (9, 8, 1, 1)
    assert (counts["physical"], counts["on_a_street"], counts["on_a_passage"]) == (7, 6, 5)
    assert work.not_street == {"Homeless Encampment": 1}
    assert set(work.requests["id"]) == {"L1", "L2", "G1", "B1", "B2"}
    assert (work.requests["distance_m"] <= 30.0).all()


def test_with_morning_walks_only_a_sidewalk_ranks_with_a_streetlight(tmp_path: Path) -> None:
    plan = fake_plan(grid(), demand={0: 10.0, 1: 20.0}, windows=("07:00-08:30",))
    path = requests_file(tmp_path, [("L1", "Single Streetlight Issue", "Open", near(plan, 0)),
                                    ("S1", "Sidewalk Repair", "Open", near(plan, 1))])
    table = work_list(plan, read_conditions([path])).table
    assert list(table["score"]) == [2.0, 2.0] and list(table["request_ids"]) == ["S1", "L1"]  # then walkers


def test_a_file_far_from_the_area_lists_nothing_and_says_so(tmp_path: Path) -> None:
    plan = fake_plan(grid(), demand={0: 10.0})
    path = write_csv(tmp_path / "sf.csv", ["type", "lat", "lon"], [["graffiti", 37.77, -122.42]])
    work = work_list(plan, read_conditions([path]))
    assert work.table.empty and work.counts["in_area"] == 0
    assert any("may not cover" in note for note in work.notes)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_the_csv_never_starts_a_formula_and_the_pdf_is_one_page(tmp_path: Path) -> None:
    plan = fake_plan(grid(names={0: "=HYPERLINK(\"http://x\")"}), demand={0: 10.0, 1: 5.0})
    path = requests_file(tmp_path, [("=cmd|' /C calc'!A0", "Graffiti Removal", "Open", near(plan, 0)),
                                    ("+1-2", "Single Streetlight Issue", "Open", near(plan, 1))])
    work = work_list(plan, read_conditions([path]))
    with output_set(tmp_path / "out") as out:
        written = write_conditions(plan, work, out)
    assert {p.name for p in written.values()} == {"grid-conditions.csv", "grid-conditions.pdf"}
    cells = [cell for row in csv.reader(io.StringIO(written["csv"].read_text(encoding="utf-8"))) for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@") and not _is_number(cell)]
    assert "'+1-2" in cells
    assert "'=HYPERLINK(\"http://x\")" in " ".join(cells)
    assert len(re.findall(rb"/Type\s*/Page(?![s\w])", written["pdf"].read_bytes())) == 1


# --------------------------------------------------------------------------- the command on real data


def _source_statuses(shared_data: Path, ids: set[str]) -> dict[str, str]:
    """Return the Status the dated MyLA311 files give the requests of ``ids`` (as written)."""
    found: dict[str, str] = {}
    for path in sorted((shared_data / "conditions" / "la311_hackforla").glob("*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame.columns = [c.lower() for c in frame.columns]
        for rid, status in zip(frame["srnumber"], frame["status"], strict=True):
            if rid in ids:
                found.setdefault(rid, status)
    return found


def test_the_command_writes_the_work_list_of_a_sample_area_from_the_real_311_file(
        shared_data: Path, sample_plans: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    result = runner.invoke(app, ["conditions", "--area", "south-central", "--offline", "--data-dir",
                                 str(shared_data), "--out", "out", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    csv_path, pdf_path = Path(report["written"]["csv"]), Path(report["written"]["pdf"])
    assert csv_path.name == "south-central-conditions.csv" and pdf_path.name == "south-central-conditions.pdf"
    assert len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf_path.read_bytes())) == 1
    listed = pd.read_csv(csv_path, dtype={"request_ids": str})
    counts = report["conditions"]["counts"]
    assert len(listed) == counts["segments"] > 0
    assert listed["requests"].sum() == counts["on_a_passage"] == sum(
        row["on_a_passage"] for row in report["conditions"]["by_condition"])
    assert list(listed["rank"]) == list(range(1, len(listed) + 1))
    assert (listed["score"].diff().dropna() <= 0).all()  # worst first

    source = pd.read_csv(shared_data / DEFAULT_FILE, dtype=str, keep_default_na=False).set_index("srnumber")
    plan = sample_plans["south-central"]
    to_plan = pyproj.Transformer.from_crs("EPSG:4326", plan.index.crs, always_xy=True)
    demand = np.asarray(plan.route_set.segment_demand)
    ids = set()
    for row in listed.itertuples():
        segment = int(row.segment)
        assert demand[segment] > 0  # a passage segment of the plan
        assert (int(row.u), int(row.v)) == (int(plan.index.node_ids[plan.index.segment_u[segment]]),
                                            int(plan.index.node_ids[plan.index.segment_v[segment]]))
        for rid in str(row.request_ids).split():
            ids.add(rid)
            request = source.loc[rid]  # every listed request is in the file
            assert classify(request["request_type"]) != ""
            x, y = to_plan.transform(float(request["longitude"]), float(request["latitude"]))
            assert shapely.distance(plan.index.segment_geometry[segment], shapely.Point(x, y)) <= 30.0 + 1e-6
    assert len(ids) == counts["on_a_passage"]  # no request listed twice
    # open: none closed in the dated export it came from (the undated ones come from the list of open requests)
    statuses = _source_statuses(shared_data, ids)
    assert not {rid for rid, status in statuses.items() if status.lower() in ("closed", "cancelled", "referred out")}


def test_the_command_prints_a_table_that_fits_80_columns(shared_data: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    result = runner.invoke(app, ["conditions", "--area", "downtown", "--offline", "--data-dir", str(shared_data),
                                 "--out", "out"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if not line.startswith(("csv ", "pdf "))]  # paths whole
    assert max(len(line) for line in lines) <= 80
    for words in ("Street conditions", "streetlight out", "on a Safe Passage", "worst first",
                  "downtown-conditions.csv", "downtown-conditions.pdf"):
        assert words in " ".join(result.stdout.split())  # words wrapped at the width read as one line
    assert (tmp_path / "out" / "downtown-conditions.pdf").is_file()


def test_the_command_refuses_a_file_that_is_not_a_conditions_file(shared_data: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["conditions", "--area", "downtown", "--offline", "--data-dir", str(shared_data),
                                 "--conditions", str(shared_data / "SOURCES.md"), "--out", "out"])
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "SOURCES.md" in message and "not a conditions file" in message and "type, lat, lon" in message
    assert not (tmp_path / "out").exists()  # stopped before anything was written


def test_a_listed_segment_is_placed_by_its_cross_streets() -> None:
    from passages.conditions import street_label

    graph = nx.MultiDiGraph(crs=CRS)
    spots = {"a": (0, 0), "b": (100, 0), "c": (200, 0), "b_n": (100, 100), "c_n": (200, 100)}
    for number, (name, (x, y)) in enumerate(spots.items()):
        graph.add_node(number, x=X0 + x, y=Y0 + y, label=name)
    ids = {name: number for number, name in enumerate(spots)}
    for u, v, street in (("a", "b", "Main Street"), ("b", "c", "Main Street"), ("b", "b_n", "5th Street"),
                         ("c", "c_n", "6th Street")):
        for s, t in ((ids[u], ids[v]), (ids[v], ids[u])):
            a, b = graph.nodes[s], graph.nodes[t]
            graph.add_edge(s, t, length=100.0, name=street, highway="residential",
                           geometry=LineString([(a["x"], a["y"]), (b["x"], b["y"])]))
    plan = fake_plan(graph, demand={})
    labels = {street_label(plan, segment) for segment in range(plan.index.n_segments)}
    assert {"Main Street at 5th Street", "Main Street, 5th Street to 6th Street"} <= labels
    short = {street_label(plan, segment, short=True) for segment in range(plan.index.n_segments)}
    assert "Main St, 5th St to 6th St" in short

